// The CLI as an operator's tool: the real `convene` binary (node bin/convene.js) beside real
// servers — one on SQLite, then two cluster nodes sharing Redis — managing apps and keys, and
// watching and changing meetings that members entered through the client API: the members' sockets
// and HTTP calls see what the CLI did, and `rooms tail` prints every event once, in order, live,
// resuming without gaps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { callAgora, MeetingClient, type ClientOptions, type Credentials } from '../../client/agora.ts';
import { RealtimeClient, type RealtimeMessage } from '../../client/realtime.ts';
import { raw } from '../helpers/qiniu.ts';
import { runConvene, spawnServer, type Finished, type ServerProcess } from '../helpers/process.ts';
import { cleanupPrefix, clusterEnv, redisSkip, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `convene ARGS` through the package's bin, as `npx convene` runs it. */
const convene = (args: string[], env: Record<string, string>) => runConvene(args, env, { via: 'bin' });

function ok(r: Finished, what: string): string {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function refused(r: Finished, code: number, message: RegExp, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, message, what);
}

/** A running `convene rooms tail …`: its stdout lines as they come, and its end. */
class Tail {
  readonly lines: string[] = [];
  stderr = '';
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: Record<string, string>) {
    this.child = spawn(process.execPath, ['bin/convene.js', 'rooms', 'tail', ...args], {
      cwd: root,
      env: { ...process.env, CONVENE_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: this.child.stdout! }).on('line', (l) => this.lines.push(l));
    this.child.stderr!.on('data', (d) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.once('close', (code, signal) => resolve({ code, signal })));
  }

  async until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`tail: ${what}\nstdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`);
      await sleep(25);
    }
  }

  /** Once it says what it follows (stderr), so that events after this are sure to be live. */
  started(): Promise<void> {
    return this.until(() => /following \S+ \(roomId \S+\) after seq \d+/.test(this.stderr), 'it never started');
  }

  /** The seqs of the human-readable lines, `#17  <time>  <what>`. */
  get seqs(): number[] {
    return this.lines.map((l) => Number(/^#(\d+)  \d{4}-\d\d-\d\dT[\d:.]+Z  \S/.exec(l)?.[1] ?? NaN));
  }

  async interrupt(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill('SIGINT');
    return this.exited;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

type Channel = Extract<RealtimeMessage, { type: 'channel' }>;
const isCmd = (cmd: number) => (m: RealtimeMessage): m is Channel => m.type === 'channel' && m.cmd === cmd;

function assertContiguous(seqs: number[], from: number, to: number, what: string): void {
  assert.deepEqual(seqs, Array.from({ length: to - from + 1 }, (_, i) => from + i), `${what}: each seq once, in order, none missing`);
}

test('every command answers --help with its usage; mistakes exit 2; nothing touches the data directory', async (t) => {
  const parent = mkdtempSync(join(tmpdir(), 'convene-cli-ops-help-'));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const env = { CONVENE_DATA_DIR: join(parent, 'data') };
  const commands = [
    ['serve'], ['apps', 'ls'], ['apps', 'show'], ['apps', 'create'], ['apps', 'rm'], ['keys', 'ls'], ['keys', 'create'], ['keys', 'rm'],
    ['rooms', 'ls'], ['rooms', 'show'], ['rooms', 'kick'], ['rooms', 'close'], ['rooms', 'lock'], ['rooms', 'unlock'], ['rooms', 'tail'],
    ['webhooks', 'ls'], ['webhooks', 'add'], ['webhooks', 'rm'], ['webhooks', 'dead'], ['webhooks', 'resend'], ['nodes', 'ls'], ['nodes', 'drain'],
  ];
  const main = ok(await convene(['--help'], env), '--help');
  for (const words of commands) assert.match(main, new RegExp(`^  ${words.join(' ')}\\b`, 'm'), `--help lists ${words.join(' ')}`);
  assert.match(main, /Exit codes: 0 done; 1 not done .*; 2 usage/s);

  // Four at a time: each is a node process loading tsx, on a machine with two cores.
  // `help GROUP COMMAND` is the same code path for every command: one per group is enough.
  const groups = ['apps', 'keys', 'rooms', 'webhooks', 'nodes'];
  const helpForms = groups.map((g) => ['help', ...commands.find((w) => w[0] === g)!]);
  const mistakes: [string[], RegExp][] = [
    [['rooms'], /^convene: rooms: which command\?\nusage: convene rooms <command>/],
    [['rooms', 'frobnicate'], /^convene: unknown command: rooms frobnicate\nusage: convene rooms/],
    [['widgets', 'ls'], /^convene: unknown command: widgets ls\nusage: convene \[command\]/],
    [['rooms', 'kick', 'app', 'room'], /^convene: rooms kick: missing USER_UUID\nusage: convene rooms kick APP_ID ROOM USER_UUID \[BAN_SECONDS\]\n/],
    [['rooms', 'show', 'app', 'room', 'extra'], /^convene: rooms show: unexpected argument "extra"\n/],
    [['rooms', 'ls', '--jsn'], /^convene: rooms ls: unknown option --jsn\n/],
    [['rooms', 'tail', 'app', 'room', '--since'], /^convene: rooms tail: --since needs a value: --since SEQ\n/],
    [['keys', 'ls', '--json=yes'], /^convene: keys ls: --json takes no value\n/],
    [['help', 'rooms', 'dance'], /^convene: no command rooms dance\n/],
  ];
  const helps = [...commands.map((w) => [...w, '--help']), ...helpForms, ['rooms', 'kick', '-h']];
  const groupHelps = groups.map((g) => [g, '--help']);
  const queue = [...helps, ...groupHelps, ...mistakes.map(([args]) => args)];
  const answers = new Map<string[], Finished>();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let args = queue.shift(); args; args = queue.shift()) answers.set(args, await convene(args, env));
    }),
  );
  const asked = helps.map((args) => [args, answers.get(args)!] as const);
  for (const [args, r] of asked) {
    const words = args.filter((a) => a !== 'help' && !a.startsWith('-'));
    const out = ok(r, args.join(' '));
    assert.match(out, new RegExp(`^usage: convene ${words.join(' ')}\\b`), `${args.join(' ')} prints its usage`);
    assert.match(out, /^Options:\n(.*\n)*  --help /m, `${args.join(' ')} lists its options`);
  }
  const tailHelp = asked.find(([a]) => a.join(' ') === 'rooms tail --help')![1].stdout;
  assert.match(tailHelp, /^usage: convene rooms tail APP_ID ROOM \[--since SEQ\] \[--from SEQ\] \[--json\]$/m);
  for (const [i, group] of groups.entries()) {
    const out = ok(answers.get(groupHelps[i]!)!, `${group} --help`);
    assert.match(out, new RegExp(`^usage: convene ${group} <command>`));
    for (const words of commands.filter((w) => w[0] === group)) assert.match(out, new RegExp(`^  ${words.join(' ')}\\b`, 'm'));
  }

  for (const [args, message] of mistakes) {
    const r = answers.get(args)!;
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
    assert.match(r.stderr, message, args.join(' '));
  }
  // The environment: no database where it is looked for, or a setting out of range.
  const noDb = await convene(['rooms', 'ls'], env);
  refused(noDb, 2, /^convene: no database at .*convene\.db: start the server once \(npm start\), or set CONVENE_DATA_DIR/, 'no database');
  const badConfig = await convene(['keys', 'ls'], { ...env, CONVENE_EVENT_RETENTION: 'lots' });
  refused(badConfig, 2, /^invalid configuration:\n  CONVENE_EVENT_RETENTION="lots": must be an integer/, 'invalid configuration');
  assert.equal(existsSync(env.CONVENE_DATA_DIR), false, 'neither help nor a mistake opened a database');
});

test('on SQLite beside a running server: apps and keys, rooms ls/show, kick, close, and a tail that resumes without gaps', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'convene-cli-ops-'));
  const tails: Tail[] = [];
  const sockets: RealtimeClient[] = [];
  let server: ServerProcess | null = null;
  t.after(async () => {
    for (const tail of tails) tail.kill();
    await Promise.all(sockets.map((s) => s.close()));
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  // A short log (100 events kept per room) so that a trimmed log can be shown; chat unlimited.
  const env = { CONVENE_DATA_DIR: dir, CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_EVENT_RETENTION: '100', CONVENE_RATE_CHAT: '0' };
  server = await spawnServer(env);
  const srv = server;
  const appId = srv.printed('App ID')!;
  const opts: ClientOptions = { baseUrl: srv.url, appId, customerId: srv.printed('Customer ID')!, customerSecret: srv.printed('Customer Secret')! };

  await t.test('apps: create, ls, show, rm (refused while it runs a meeting, --force ends it)', async () => {
    const made = JSON.parse(ok(await convene(['apps', 'create', 'Ops', 'Team', '--json'], env), 'apps create')) as Credentials & { title: string };
    assert.match(made.appId, /^[0-9a-f]{32}$/);
    assert.equal(made.title, 'Ops Team');
    const listed = JSON.parse(ok(await convene(['apps', 'ls', '--json'], env), 'apps ls --json')) as any[];
    const mine = listed.find((a) => a.appId === made.appId);
    assert.deepEqual(
      { customerId: mine.customerId, customerSecret: mine.customerSecret, title: mine.title, default: mine.default },
      { customerId: made.customerId, customerSecret: made.customerSecret, title: 'Ops Team', default: false },
      'apps ls --json shows the credentials it was created with',
    );
    assert.equal(listed.find((a) => a.appId === appId)?.default, true, 'the server\'s default app is marked');

    // An Agora project's own App ID and certificate (what the Agora Meeting apps need).
    const own = { appId: 'ab'.repeat(16), certificate: 'cd'.repeat(16) };
    const agora = JSON.parse(ok(await convene(['apps', 'create', 'Agora', '--app-id', own.appId, '--certificate', own.certificate], env), 'apps create --app-id')) as any;
    assert.deepEqual([agora.appId, agora.appCertificate], [own.appId, own.certificate]);
    assert.equal((await convene(['apps', 'create', '--app-id', own.appId], env)).code, 1, 'the App ID is taken');
    assert.equal((await convene(['apps', 'create', '--app-id', 'xyz'], env)).code, 2, 'not 32 hex');
    assert.equal((await convene(['apps', 'create', '--certificate', own.certificate], env)).code, 2, 'a certificate needs its App ID');
    const idOnly = JSON.parse(ok(await convene(['apps', 'create', '--app-id', 'ef'.repeat(16)], env), 'apps create --app-id only')) as any;
    assert.equal(idOnly.appCertificate, null, 'an App-ID-only project');

    const member = new MeetingClient({ baseUrl: srv.url, ...made });
    await member.enter({ roomName: 'Ops', roomUuid: 'ops', userName: 'Oz', userUuid: 'oz' });
    const shown = JSON.parse(ok(await convene(['apps', 'show', made.appId, '--json'], env), 'apps show')) as any;
    assert.equal(shown.runningMeetings, 1);
    assert.equal(shown.customerSecret, made.customerSecret);
    assert.match(ok(await convene(['apps', 'show', made.appId], env), 'apps show (text)'), /^Running meetings  1$/m);

    const kept = await convene(['apps', 'rm', made.appId], env);
    refused(kept, 1, new RegExp(`^convene: app ${made.appId} runs 1 meeting: end it first .*--force`), 'apps rm of an app with a meeting');
    assert.equal((await callAgora(member.opts, 'GET', `/${member.roomId}`, undefined, member.userToken)).code, 0, 'the refused rm changed nothing');

    assert.match(ok(await convene(['apps', 'rm', made.appId, '--force'], env), 'apps rm --force'), new RegExp(`^removed app ${made.appId}; ended 1 meeting$`, 'm'));
    const after = await callAgora(member.opts, 'GET', `/${member.roomId}`, undefined, member.userToken);
    assert.notEqual(after.code, 0, 'the member of a removed app is out');
    const entry = await callAgora(member.opts, 'POST', '/entry', { roomName: 'Ops', roomUuid: 'ops', userName: 'Oz', userUuid: 'oz' });
    assert.equal(entry.code, 404, `its credentials no longer work: ${JSON.stringify(entry)}`);
    refused(await convene(['apps', 'show', made.appId], env), 1, /^convene: no app /, 'apps show of a removed app');
    refused(await convene(['apps', 'rm', made.appId], env), 1, /^convene: no app /, 'apps rm again');
  });

  await t.test('keys: create shows the secret once; ls never; a removed key is refused', async () => {
    const key = JSON.parse(ok(await convene(['keys', 'create'], env), 'keys create')) as { accessKey: string; secretKey: string };
    assert.ok(key.secretKey.length >= 30);
    const signed = () => raw(srv.port, { method: 'GET', path: '/v3/apps', keys: { ak: key.accessKey, sk: key.secretKey } });
    assert.equal((await signed()).status, 200);
    const [json, text] = await Promise.all([convene(['keys', 'ls', '--json'], env), convene(['keys', 'ls'], env)]);
    const listed = JSON.parse(ok(json, 'keys ls --json')) as { accessKey: string; createdAt: string; operator: boolean }[];
    assert.equal(listed.find((k) => k.accessKey === key.accessKey)?.operator, false, 'not an operator key unless asked');
    assert.ok(listed.every((k) => Object.keys(k).sort().join() === 'accessKey,createdAt,operator'), 'no secret field');
    for (const out of [json.stdout, text.stdout]) assert.ok(!out.includes(key.secretKey), 'the secret is never listed');
    assert.match(ok(text, 'keys ls'), new RegExp(`^${key.accessKey.replace(/[-]/g, '\\-')}  created \\d{4}-`, 'm'));
    // Generated keys may start with a dash: still an argument, not an option.
    assert.equal(ok(await convene(['keys', 'rm', key.accessKey], env), 'keys rm').trim(), `removed ${key.accessKey}`);
    assert.equal((await signed()).status, 401);
    refused(await convene(['keys', 'rm', key.accessKey], env), 1, /^convene: no access key /, 'keys rm again');
    refused(await convene(['keys', 'rm', '-leading-dash'], env), 1, /^convene: no access key -leading-dash/, 'a dash-led key that is not there');
  });

  const ann = new MeetingClient(opts);
  await ann.enter({ roomName: 'Standup', roomUuid: 'standup', userName: 'Ann', userUuid: 'ann' });
  const bob = new MeetingClient(opts);
  await bob.enter({ roomName: 'Standup', roomUuid: 'standup', userName: 'Bob', userUuid: 'bob' });
  const roomId = ann.roomId;

  await t.test('rooms ls and rooms show list the members who entered over HTTP', async () => {
    const rooms = JSON.parse(ok(await convene(['rooms', 'ls', '--json'], env), 'rooms ls --json')) as any[];
    assert.deepEqual(rooms.map((r) => [r.roomId, r.roomUuid, r.online]), [[roomId, 'standup', 2]]);
    assert.match(ok(await convene(['rooms', 'ls', appId], env), 'rooms ls'), new RegExp(`^${roomId}  standup  online 2  since \\d{4}-\\S+$`, 'm'));
    assert.equal(rooms[0].active, true);
    // An empty meeting runs on (until the empty-room time) but is not active, as Qiniu's ListActiveRoom says.
    const cat = new MeetingClient(opts);
    await cat.enter({ roomName: 'Empty', roomUuid: 'emptied', userName: 'Cat', userUuid: 'cat' });
    await cat.exit();
    const listed = ok(await convene(['rooms', 'ls', appId], env), 'rooms ls');
    assert.match(listed, new RegExp(`^${cat.roomId}  emptied  online 0  since \\S+  \\(empty: not active\\)$`, 'm'));
    const json = JSON.parse(ok(await convene(['rooms', 'ls', '--json'], env), 'rooms ls --json')) as any[];
    assert.equal(json.find((r) => r.roomUuid === 'emptied').active, false);
    const shownJson = await convene(['rooms', 'show', appId, 'standup', '--json'], env);
    const shown = JSON.parse(ok(shownJson, 'rooms show --json')) as any;
    assert.equal(shown.roomId, roomId);
    assert.equal(shown.ended, false);
    assert.deepEqual(shown.members.map((m: any) => [m.userUuid, m.userName, m.role]), [['ann', 'Ann', 'host'], ['bob', 'Bob', 'participant']]);
    assert.ok(!/"session"|"password"/.test(shownJson.stdout), 'no session secret, no password');
    const byId = JSON.parse(ok(await convene(['rooms', 'show', appId, roomId, '--json'], env), 'rooms show by roomId')) as any;
    assert.equal(byId.roomUuid, 'standup');
    const text = ok(await convene(['rooms', 'show', appId, 'standup'], env), 'rooms show');
    assert.match(text, /^Members     2 in the room$/m);
    assert.match(text, /^  ann  host  "Ann"  audio /m);
    assert.match(text, /^  bob  participant  "Bob"  /m);
  });

  await t.test('not there: exit 1 with a message', async () => {
    const results = await Promise.all([
      convene(['rooms', 'show', appId, 'nope'], env),
      convene(['rooms', 'kick', appId, 'standup', 'nobody'], env),
      convene(['rooms', 'close', appId, 'nope'], env),
      convene(['rooms', 'ls', 'f'.repeat(32)], env),
      convene(['rooms', 'tail', appId, 'nope'], env),
    ]);
    refused(results[0]!, 1, /^convene: no running meeting nope in app /, 'rooms show');
    refused(results[1]!, 1, /^convene: no member nobody in room standup/, 'rooms kick');
    refused(results[2]!, 1, /^convene: no running meeting nope /, 'rooms close');
    refused(results[3]!, 1, /^convene: no app f{32} \(see apps ls\)/, 'rooms ls');
    refused(results[4]!, 1, /^convene: no running meeting nope /, 'rooms tail');
    const badBan = await convene(['rooms', 'kick', appId, 'standup', 'bob', 'soon'], env);
    refused(badBan, 2, /^convene: rooms kick: BAN_SECONDS must be a whole number from 0 to 2592000, not "soon"\nusage: /, 'a bad ban');
    const badSince = await convene(['rooms', 'tail', appId, 'standup', '--since', '999'], env);
    refused(badSince, 2, /^convene: rooms tail: --since must be a whole number from 0 to \d+, not "999"/, 'a seq past the log');
    refused(await convene(['rooms', 'tail', appId, 'standup', '--since', '1', '--from', '1'], env), 2, /give --since or --from, not both/, 'both');
  });

  const bobSocket = new RealtimeClient({ baseUrl: srv.url, token: bob.userToken, reconnect: false });
  sockets.push(bobSocket);
  await bobSocket.connect();

  await t.test('rooms tail prints events live, in seq order; resumed with --since it misses none; kick and close reach the members', async () => {
    const start = (JSON.parse(ok(await convene(['rooms', 'show', appId, 'standup', '--json'], env), 'show')) as { seq: number }).seq;
    const first = new Tail([appId, 'standup'], env);
    tails.push(first);
    await first.started();
    await ann.chat('one');
    await ann.chat('two');
    await first.until(() => first.lines.length >= 2, 'two chats');
    assert.match(first.lines[0]!, /^#\d+  \S+  chat     ann \("Ann"\): "one"$/);
    assert.match(first.lines[1]!, /^#\d+  \S+  chat     ann \("Ann"\): "two"$/);
    assert.deepEqual(first.seqs, [start + 1, start + 2], 'live, from after the last event');
    assert.deepEqual(await first.interrupt(), { code: 0, signal: null }, 'Ctrl-C ends it with 0');
    const lastSeen = first.seqs.at(-1)!;

    // While nobody tails: more happens, through the API and the CLI.
    await ann.chat('three');
    ok(await convene(['rooms', 'lock', appId, 'standup'], env), 'lock');
    ok(await convene(['rooms', 'unlock', appId, roomId], env), 'unlock by roomId');

    const second = new Tail([appId, 'standup', '--since', String(lastSeen)], env);
    tails.push(second);
    await second.until(() => second.lines.length >= 3, 'the missed events');
    assert.match(second.lines[0]!, /chat     ann \("Ann"\): "three"$/);
    assert.match(second.lines[1]!, /room     mute-all audio off, chat off; locked$/);
    assert.match(second.lines[2]!, /room     mute-all audio off, chat off; open$/);

    // Kick: bob's socket is told and closed, his HTTP session is over; the tail shows it.
    const kicked = bobSocket.waitFor(isCmd(8), 10_000);
    assert.equal(ok(await convene(['rooms', 'kick', appId, 'standup', 'bob'], env), 'kick').trim(), 'removed bob from standup');
    assert.equal(((await kicked).data as { userId: string }).userId, bob.userId);
    await second.until(() => second.lines.some((l) => /kick     bob \("Bob"\) removed by the server$/.test(l)), 'the kick');
    const bobAfter = await callAgora(opts, 'GET', `/${roomId}`, undefined, bob.userToken);
    assert.equal(bobAfter.code, 401, JSON.stringify(bobAfter));
    for (let i = 0; i < 100 && bobSocket.closeCode === null; i++) await sleep(50);
    assert.equal(bobSocket.closeCode, 4409, 'his socket is closed: no longer in the room');
    refused(await convene(['rooms', 'kick', appId, 'standup', 'bob'], env), 1, /^convene: no member bob in room standup/, 'kick again');

    // Close: ann's next call says the meeting ended; the tail prints the end and stops by itself.
    assert.match(ok(await convene(['rooms', 'close', appId, 'standup'], env), 'close'), new RegExp(`^ended standup \\(roomId ${roomId}\\)$`, 'm'));
    const annAfter = await callAgora(opts, 'GET', `/${roomId}`, undefined, ann.userToken);
    assert.equal(annAfter.code, 401, JSON.stringify(annAfter));
    assert.match(annAfter.msg, /ended/);
    assert.deepEqual(await Promise.race([second.exited, sleep(10_000).then(() => 'still running')]), { code: 0, signal: null }, 'the tail ends with the meeting');
    assert.match(second.lines.at(-1)!, /room     the meeting has ended$/);
    const end = (JSON.parse(ok(await convene(['rooms', 'show', appId, roomId, '--json'], env), 'show ended')) as { seq: number; ended: boolean });
    assert.equal(end.ended, true);
    assertContiguous([...first.seqs, ...second.seqs], start + 1, end.seq, 'the two tails together');
    refused(await convene(['rooms', 'close', appId, roomId], env), 1, /^convene: the meeting has ended\n$/, 'close again');
    refused(await convene(['rooms', 'close', appId, 'standup'], env), 1, /^convene: no running meeting standup /, 'close by key: none running');

    // JSON lines of the whole log of the ended meeting, from the start; it ends by itself.
    const all = await convene(['rooms', 'tail', appId, roomId, '--from', '1', '--json'], env);
    const logged = ok(all, 'tail --json').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; at: string; event: { type: string } });
    assertContiguous(logged.map((e) => e.seq), 1, end.seq, 'tail --from 1 --json');
    assert.deepEqual(logged.slice(0, 2).map((e) => e.event.type), ['membersChanged', 'membersChanged']);
    assert.deepEqual(logged.at(-1)!.event, { type: 'roomChanged', muteAllChat: 0, muteAllAudio: 0, ended: true, locked: false });
    assert.match(logged[0]!.at, /^\d{4}-\d\d-\d\dT/);
  });

  await t.test('a tail from before what the log keeps says which events are lost, then goes on', async () => {
    const cat = new MeetingClient(opts);
    await cat.enter({ roomName: 'Busy', roomUuid: 'busy', userName: 'Cat', userUuid: 'cat' });
    // The store keeps at least the last 100 events (trimming in steps): 300 chats push the first out.
    for (let i = 0; i < 300; i++) await cat.chat(`m${i}`);
    ok(await convene(['rooms', 'close', appId, 'busy'], env), 'close busy');
    const r = await convene(['rooms', 'tail', appId, cat.roomId, '--since', '1', '--json'], env);
    const lines = ok(r, 'tail of a trimmed log').trim().split('\n').map((l) => JSON.parse(l));
    const gap = (lines[0] as { gap: { from: number; to: number } }).gap;
    assert.equal(gap?.from, 2, `the first line says what is lost: ${JSON.stringify(lines[0])}`);
    assert.ok(gap.to >= 2 && gap.to <= 302 - 100, `lost 2..${gap.to}, and at least the last 100 kept`);
    // 302 events: entry, 300 chats, end.
    assertContiguous(lines.slice(1).map((l: { seq: number }) => l.seq), gap.to + 1, 302, 'after the gap');
    assert.match(r.stderr, new RegExp(`the log no longer reaches back to seq 2: events 2 to ${gap.to} are lost`));
  });
});

const skip = await redisSkip();

test('on a cluster of two nodes sharing Redis: the same commands, against the cluster\'s store', { skip, timeout: 120_000 }, async (t) => {
  const prefix = uniquePrefix();
  const dir = mkdtempSync(join(tmpdir(), 'convene-cli-ops-cluster-'));
  const redis = new Redis(SHARED_REDIS_URL);
  const nodes: ServerProcess[] = [];
  const tails: Tail[] = [];
  const sockets: RealtimeClient[] = [];
  t.after(async () => {
    for (const tail of tails) tail.kill();
    await Promise.all(sockets.map((s) => s.close()));
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });
  const creds = { appId: randomBytes(16).toString('hex'), customerId: 'ops-customer', customerSecret: randomBytes(12).toString('hex') };
  const keys = { ak: 'ops-ak', sk: randomBytes(12).toString('hex') };
  const env = { ...clusterEnv({ url: SHARED_REDIS_URL, prefix, dir, creds, keys, graceS: 20, nodeTimeoutS: 3 }), CONVENE_PRESENCE_EXPIRY: 'off' };
  for (let i = 0; i < 2; i++) nodes.push(await spawnServer(env));
  const [A, B] = nodes as [ServerProcess, ServerProcess];
  // The CLI runs with the nodes' environment (REDIS_URL, the prefix, CONVENE_APP_ID naming the
  // default app), but a data directory of its own: it must not need one.
  const cli = { ...env, CONVENE_DATA_DIR: join(dir, 'unused') };

  // An app made by the CLI serves entries on both nodes at once.
  const app = JSON.parse(ok(await convene(['apps', 'create', 'Cluster'], cli), 'apps create')) as Credentials;
  const on = (n: ServerProcess): ClientOptions => ({ baseUrl: n.url, ...app });
  const ann = new MeetingClient(on(A));
  await ann.enter({ roomName: 'Sync', roomUuid: 'sync', userName: 'Ann', userUuid: 'ann' });
  const bob = new MeetingClient(on(B));
  await bob.enter({ roomName: 'Sync', roomUuid: 'sync', userName: 'Bob', userUuid: 'bob' });
  const roomId = ann.roomId;
  assert.equal(bob.roomId, roomId, 'one meeting across the nodes');

  const apps = JSON.parse(ok(await convene(['apps', 'ls', '--json'], cli), 'apps ls')) as { appId: string; default: boolean }[];
  assert.deepEqual(apps.map((a) => [a.appId, a.default]).sort(), [[app.appId, false], [creds.appId, true]].sort());
  const rooms = JSON.parse(ok(await convene(['rooms', 'ls', app.appId, '--json'], cli), 'rooms ls')) as any[];
  assert.deepEqual(rooms.map((r) => [r.roomUuid, r.online]), [['sync', 2]]);
  const shown = JSON.parse(ok(await convene(['rooms', 'show', app.appId, 'sync', '--json'], cli), 'rooms show')) as any;
  assert.deepEqual(shown.members.map((m: any) => [m.userUuid, m.role]), [['ann', 'host'], ['bob', 'participant']]);

  // Keys made and removed by the CLI hold on both nodes at once.
  const key = JSON.parse(ok(await convene(['keys', 'create'], cli), 'keys create')) as { accessKey: string; secretKey: string };
  const signed = (n: ServerProcess) => raw(n.port, { method: 'GET', path: `/v3/apps/${app.appId}/rooms`, keys: { ak: key.accessKey, sk: key.secretKey } });
  assert.deepEqual([(await signed(A)).status, (await signed(B)).status], [200, 200]);
  const listedKeys = await convene(['keys', 'ls', '--json'], cli);
  assert.ok(!listedKeys.stdout.includes(key.secretKey));
  assert.deepEqual((JSON.parse(ok(listedKeys, 'keys ls')) as { accessKey: string }[]).map((k) => k.accessKey).sort(), [key.accessKey, keys.ak].sort());
  ok(await convene(['keys', 'rm', key.accessKey], cli), 'keys rm');
  assert.deepEqual([(await signed(A)).status, (await signed(B)).status], [401, 401]);

  // Bob's socket is on node A; the CLI's kick reaches it from the cluster's log.
  const bobSocket = new RealtimeClient({ baseUrl: A.url, token: bob.userToken, reconnect: false });
  sockets.push(bobSocket);
  await bobSocket.connect();
  const start = (shown as { seq: number }).seq;
  const first = new Tail([app.appId, 'sync'], cli);
  tails.push(first);
  await first.started();
  await ann.chat('via A');
  assert.equal((await callAgora(on(B), 'POST', `/${roomId}/chat`, { message: 'via B', type: 1 }, bob.userToken)).code, 0);
  await first.until(() => first.lines.length >= 2, 'both chats');
  assert.match(first.lines[0]!, /chat     ann \("Ann"\): "via A"$/);
  assert.match(first.lines[1]!, /chat     bob \("Bob"\): "via B"$/);
  assert.deepEqual(await first.interrupt(), { code: 0, signal: null });

  const kicked = bobSocket.waitFor(isCmd(8), 10_000);
  ok(await convene(['rooms', 'kick', app.appId, 'sync', 'bob', '60'], cli), 'kick');
  assert.ok(((await kicked).data as { bannedUntil: number }).bannedUntil > Date.now());
  assert.equal((await callAgora(on(B), 'GET', `/${roomId}`, undefined, bob.userToken)).code, 401, 'node B: bob is out');
  assert.equal((await callAgora(on(B), 'POST', '/entry', { roomName: 'Sync', roomUuid: 'sync', userName: 'Bob', userUuid: 'bob' })).code, 1009, 'banned');

  const second = new Tail([app.appId, 'sync', '--since', String(first.seqs.at(-1))], cli);
  tails.push(second);
  await second.until(() => second.lines.length >= 2, 'the kick, missed while not tailing');
  ok(await convene(['rooms', 'close', app.appId, 'sync'], cli), 'close');
  const annAfter = await callAgora(on(A), 'GET', `/${roomId}`, undefined, ann.userToken);
  assert.equal(annAfter.code, 401, JSON.stringify(annAfter));
  assert.match(annAfter.msg, /ended/);
  assert.deepEqual(await Promise.race([second.exited, sleep(10_000).then(() => 'still running')]), { code: 0, signal: null });
  const end = (JSON.parse(ok(await convene(['rooms', 'show', app.appId, roomId, '--json'], cli), 'show')) as { seq: number }).seq;
  assertContiguous([...first.seqs, ...second.seqs], start + 1, end, 'the two tails on the cluster');
  assert.match(second.lines.at(-1)!, /the meeting has ended$/);

  // apps rm: refused while a meeting runs; --force ends it on the cluster.
  await ann.enter({ roomName: 'Sync', roomUuid: 'sync', userName: 'Ann', userUuid: 'ann' });
  refused(await convene(['apps', 'rm', app.appId], cli), 1, /runs 1 meeting/, 'apps rm with a meeting');
  ok(await convene(['apps', 'rm', app.appId, '--force'], cli), 'apps rm --force');
  assert.notEqual((await callAgora(on(B), 'GET', `/${ann.roomId}`, undefined, ann.userToken)).code, 0);
  refused(await convene(['apps', 'show', app.appId], cli), 1, /^convene: no app /, 'apps show after rm');
  assert.equal(existsSync(join(dir, 'unused')), false, 'the CLI used Redis, not a SQLite file');
});
