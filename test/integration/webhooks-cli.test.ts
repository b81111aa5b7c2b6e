// `convene webhooks …` through the real binary (node bin/convene.js) beside a real server on
// SQLite: help and mistakes (exit 2), endpoints added, listed (never their secrets) and removed,
// dead letters listed and resent to a receiver that came up meanwhile, things not there (exit 1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { MeetingClient } from '../../client/agora.ts';
import { runConvene, spawnServer, type Finished, type ServerProcess } from '../helpers/process.ts';
import { byRoom, verify, WebhookReceiver } from '../helpers/webhooks.ts';

const convene = (args: string[], env: Record<string, string>) => runConvene(args, env, { via: 'bin' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ok(r: Finished, what: string): string {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function refused(r: Finished, code: number, message: RegExp, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  assert.equal(r.stdout, '', `${what}: nothing on stdout`);
  assert.match(r.stderr, message, what);
}

test('webhooks ls|add|rm|dead|resend with the real binary: secrets shown once, dead letters resent, exit codes 0/1/2', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'convene-webhooks-cli-'));
  const receiver = new WebhookReceiver();
  let server: ServerProcess | null = null;
  t.after(async () => {
    await server?.kill();
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const env = {
    CONVENE_DATA_DIR: dir,
    CONVENE_PRESENCE_EXPIRY: 'off',
    CONVENE_WEBHOOK_MAX_ATTEMPTS: '2',
    CONVENE_WEBHOOK_BACKOFF_MS: '10',
    CONVENE_WEBHOOK_BACKOFF_MAX_MS: '20',
  };

  // Help, for the group and each command; mistakes are usage errors and touch nothing.
  const group = ok(await convene(['webhooks', '--help'], env), 'webhooks --help');
  for (const verb of ['ls', 'add', 'rm', 'dead', 'resend']) assert.match(group, new RegExp(`^  webhooks ${verb}\\b`, 'm'));
  assert.match(ok(await convene(['--help'], env), '--help'), /^  webhooks add APP_ID URL\s/m);
  const helps = await Promise.all(['ls', 'add', 'rm', 'dead', 'resend'].map((verb) => convene(['webhooks', verb, '--help'], env)));
  helps.forEach((r, i) => assert.match(ok(r, `webhooks ${i} --help`), /^usage: convene webhooks \w+ APP_ID/));
  refused(await convene(['webhooks', 'add', 'app'], env), 2, /^convene: webhooks add: missing URL\n/, 'add without URL');

  server = await spawnServer(env);
  const appId = server.printed('App ID')!;
  const opts = { baseUrl: server.url, appId, customerId: server.printed('Customer ID')!, customerSecret: server.printed('Customer Secret')! };

  refused(await convene(['webhooks', 'dead', appId, '--limit', 'lots'], env), 2, /--limit must be a whole number/, 'bad --limit');
  refused(await convene(['webhooks', 'add', appId, 'ftp://example.com/'], env), 2, /^convene: webhooks add: url must be http:\/\/ or https:\/\/, not ftp:/, 'a bad URL');
  refused(await convene(['webhooks', 'add', appId, 'http://127.0.0.1:9/', '--events', 'member.danced'], env), 2, /unknown event type "member\.danced"/, 'a bad type');
  refused(await convene(['webhooks', 'add', appId, 'http://127.0.0.1:9/', '--secret', 'whsec_x'], env), 2, /a whsec_ secret/, 'a bad secret');
  refused(await convene(['webhooks', 'add', 'nosuchapp', 'http://127.0.0.1:9/'], env), 1, /^convene: no app nosuchapp \(see apps ls\)/, 'no such app');
  refused(
    await convene(['webhooks', 'add', appId, 'http://10.0.0.1/'], { ...env, CONVENE_WEBHOOK_ALLOW_PRIVATE: '0' }),
    2,
    /not a public address/,
    'a private address when they are refused',
  );
  assert.equal(JSON.parse(ok(await convene(['webhooks', 'ls', appId, '--json'], env), 'ls')).length, 0, 'the refused adds added nothing');

  // An endpoint whose connections are cut at once: its deliveries fail and are dead-lettered. The
  // port is held meanwhile (a port merely left free could be taken by another test's server).
  const cutter = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => cutter.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => cutter.close(() => resolve())));
  const port = (cutter.address() as AddressInfo).port;
  const made = JSON.parse(ok(await convene(['webhooks', 'add', appId, `http://127.0.0.1:${port}/hook`, '--events', '*'], env), 'add')) as {
    id: string;
    url: string;
    events: string[];
    secret: string;
  };
  assert.match(made.id, /^wh_/);
  assert.deepEqual(made.events, ['*']);
  assert.match(made.secret, /^whsec_/);
  const listed = ok(await convene(['webhooks', 'ls', appId, '--json'], env), 'ls --json');
  assert.deepEqual(JSON.parse(listed).map((e: { id: string; url: string }) => [e.id, e.url]), [[made.id, made.url]]);
  assert.ok(!listed.includes(made.secret), 'ls never prints the secret');
  assert.match(ok(await convene(['webhooks', 'ls', appId], env), 'ls'), new RegExp(`^${made.id}  ${made.url}  \\*$`, 'm'));

  const ann = new MeetingClient(opts);
  await ann.enter({ roomName: 'Ops', roomUuid: 'ops', userName: 'Ann', userUuid: 'ann' });
  await ann.chat('is anyone listening?');
  let dead: { id: string; endpointId: string; type: string; roomUuid: string; seq: number; attempts: number; lastError: string }[] = [];
  const deadline = Date.now() + 15_000;
  while (dead.length < 3) {
    assert.ok(Date.now() < deadline, `dead letters: ${JSON.stringify(dead)}`);
    await sleep(100);
    dead = JSON.parse(ok(await convene(['webhooks', 'dead', appId, '--json'], env), 'dead --json'));
  }
  assert.deepEqual(dead.map((d) => d.type), ['room.started', 'member.joined', 'chat.sent']);
  assert.ok(dead.every((d) => d.attempts === 2 && d.lastError === 'ECONNRESET' && d.endpointId === made.id && d.roomUuid === 'ops'), JSON.stringify(dead));
  const text = ok(await convene(['webhooks', 'dead', appId, '--endpoint', made.id], env), 'dead');
  assert.equal(text.trim().split('\n').length, 3);
  assert.match(text, /^evt_\S+  wh_\S+  chat\.sent  ops#\d+  2 attempts  died \S+Z  ECONNRESET$/m);

  refused(await convene(['webhooks', 'resend', appId], env), 2, /give the EVENT_IDs to resend, or --all/, 'resend of nothing');
  refused(await convene(['webhooks', 'resend', appId, 'evt_nope_1_0'], env), 1, /^convene: no dead letter evt_nope_1_0/, 'resend of an unknown id');
  refused(await convene(['webhooks', 'dead', appId, '--endpoint', 'wh_nope'], env), 1, /no webhook endpoint wh_nope/, 'an unknown endpoint');

  // The receiver comes up on that port; one is resent by id, then the rest: delivered in seq order, verified.
  await new Promise<void>((resolve) => cutter.close(() => resolve()));
  await receiver.start(port);
  assert.equal(ok(await convene(['webhooks', 'resend', appId, dead[0]!.id], env), 'resend one').trim(), 'resent 1');
  await receiver.until(() => receiver.accepted().length === 1, 'the one resent');
  assert.equal(ok(await convene(['webhooks', 'resend', appId, '--all'], env), 'resend --all').trim(), 'resent 2');
  await receiver.until(() => receiver.accepted().length === 3, 'the other two');
  const room = byRoom(receiver.accepted()).get('ops')!;
  assert.deepEqual(room.said, [['room.started', null], ['member.joined', 'ann'], ['chat.sent', 'ann']]);
  assert.equal(room.ordered, true);
  for (const d of receiver.deliveries) verify(d, made.secret);
  assert.deepEqual(receiver.accepted().map((d) => d.id), dead.map((d) => d.id), 'with their first ids');
  assert.deepEqual(JSON.parse(ok(await convene(['webhooks', 'dead', appId, '--json'], env), 'dead after resend')), []);

  // Live again: a new event goes straight through; then the endpoint is removed.
  await ann.chat('there you are');
  await receiver.until(() => receiver.accepted().length === 4, 'a live event');
  assert.equal(ok(await convene(['webhooks', 'rm', appId, made.id], env), 'rm').trim(), `removed ${made.id}`);
  refused(await convene(['webhooks', 'rm', appId, made.id], env), 1, /no webhook endpoint/, 'rm again');
  await ann.chat('gone');
  await sleep(500);
  assert.equal(receiver.accepted().length, 4, 'nothing more after rm');
});
