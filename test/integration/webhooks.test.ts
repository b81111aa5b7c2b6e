// Webhooks end to end on one server (SQLite): a real receiver that fails, goes down while the real
// server process is killed and restarted on the same data directory, and comes back: every event
// arrives, per room in seq order, each once by id, signed as the standardwebhooks package checks.
// Then: a dead endpoint's backlog does not slow room commands or another endpoint, and ends in the
// dead letters; the admin API's envelope and checks; private addresses refused when asked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeetingClient, type ClientOptions } from '../../client/agora.ts';
import { raw } from '../helpers/qiniu.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { startTestServer } from '../helpers/server.ts';
import { percentile } from '../helpers/load.ts';
import { byRoom, verify, WebhookReceiver } from '../helpers/webhooks.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Small delays, so that retries and dead letters take milliseconds. */
const FAST = {
  CONVENE_PRESENCE_EXPIRY: 'off',
  CONVENE_RATE_CHAT: '0',
  CONVENE_WEBHOOK_BACKOFF_MS: '20',
  CONVENE_WEBHOOK_BACKOFF_MAX_MS: '200',
  CONVENE_WEBHOOK_TIMEOUT_MS: '2000',
  CONVENE_WEBHOOK_MAX_ATTEMPTS: '1000',
};

test('a receiver that fails, then is down while Convene restarts, gets every event once by id, in order per room, verified', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'convene-webhooks-'));
  const receiver = new WebhookReceiver({ failFirst: 3 });
  let server: ServerProcess | null = null;
  t.after(async () => {
    await server?.kill();
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await receiver.start();
  const env = { CONVENE_DATA_DIR: dir, ...FAST };
  server = await spawnServer(env);
  const appId = server.printed('App ID')!;
  const keys = { ak: server.printed('Access Key')!, sk: server.printed('Secret Key')! };
  const opts: ClientOptions = { baseUrl: server.url, appId, customerId: server.printed('Customer ID')!, customerSecret: server.printed('Customer Secret')! };
  const admin = (method: string, path: string, body?: unknown) =>
    raw(server!.port, { method, path, body: body === undefined ? undefined : JSON.stringify(body), keys });

  // Two endpoints: one through the admin API (every type, a whsec_ key made for it), one through
  // UpdateApp's eventCb* fields with a raw secret (the default types: no chat).
  const added = await admin('POST', `/v3/apps/${appId}/webhooks`, { url: receiver.url('/hook'), events: ['*'] });
  assert.equal(added.status, 200, added.body);
  const secret = added.json.secret as string;
  assert.match(secret, /^whsec_/);
  const cbSecret = 'qiniu-callback-secret';
  const updated = await admin('POST', `/v3/apps/${appId}`, { eventCbUrl: receiver.url('/cb'), eventCbSecret: cbSecret, eventCbVersion: '1' });
  assert.equal(updated.status, 200, updated.body);
  assert.equal(updated.json.eventCbUrl, receiver.url('/cb'));
  assert.ok(!JSON.stringify(updated.json).includes(cbSecret), 'UpdateApp never echoes the secret');
  const listed = await admin('GET', `/v3/apps/${appId}/webhooks`);
  assert.deepEqual(listed.json.webhooks.map((w: { id: string }) => w.id).sort(), ['eventcb', added.json.id].sort());
  assert.ok(!listed.body.includes(secret) && !listed.body.includes(cbSecret), 'lists never show secrets');

  const member = () => new MeetingClient({ ...opts });
  const [ann, bob, cat, dan, eve] = ['ann', 'bob', 'cat', 'dan', 'eve'].map(member) as MeetingClient[];
  const enter = (c: MeetingClient, room: string, user: string) => c.enter({ roomName: room, roomUuid: room, userName: user, userUuid: user });

  // While the receiver fails its first three deliveries and accepts the rest.
  await enter(ann!, 'alpha', 'ann');
  await enter(bob!, 'alpha', 'bob');
  await ann!.chat('hello');
  await bob!.screen(bob!.userId, 1);
  await bob!.board(bob!.userId, 1);
  await ann!.transferHost(bob!.userId);
  await bob!.screen(bob!.userId, 0);
  await enter(cat!, 'beta', 'cat');
  await enter(dan!, 'beta', 'dan');
  await cat!.exit(dan!.userId);
  await receiver.until(() => receiver.accepted('/hook').length >= 5, 'the first deliveries');

  // The receiver goes down; events go on; the server is killed with deliveries pending.
  await receiver.stop();
  await ann!.chat('anyone?');
  await ann!.chat('still here');
  await enter(eve!, 'beta', 'eve');
  await sleep(200);
  await server.kill('SIGKILL');

  // Restarted on the same data directory, it has the backlog; more events; then the receiver is back.
  server = await spawnServer(env);
  for (const c of [ann, bob, cat, dan, eve]) c!.opts.baseUrl = server.url;
  await cat!.chat('after the restart');
  await bob!.changeRoom({ state: 0 });
  await sleep(300);
  await receiver.start();

  const expected = {
    alpha: [
      ['room.started', null], ['member.joined', 'ann'], ['member.joined', 'bob'], ['chat.sent', 'ann'], ['screen.started', 'bob'],
      ['board.started', 'bob'], ['host.changed', 'bob'], ['screen.stopped', 'bob'], ['chat.sent', 'ann'], ['chat.sent', 'ann'],
      ['board.stopped', 'bob'], ['member.left', 'ann'], ['member.left', 'bob'], ['room.ended', null],
    ],
    beta: [['room.started', null], ['member.joined', 'cat'], ['member.joined', 'dan'], ['member.left', 'dan'], ['member.joined', 'eve'], ['chat.sent', 'cat']],
  };
  const noChat = (list: (string | null)[][]) => list.filter(([type]) => type !== 'chat.sent');
  const total = expected.alpha.length + expected.beta.length;
  const cbTotal = noChat(expected.alpha).length + noChat(expected.beta).length;
  await receiver.until(() => receiver.accepted('/hook').length >= total && receiver.accepted('/cb').length >= cbTotal, 'every event');
  await sleep(300);

  for (const [path, key, want] of [
    ['/hook', secret, expected],
    ['/cb', Buffer.from(cbSecret), { alpha: noChat(expected.alpha), beta: noChat(expected.beta) }],
  ] as const) {
    const accepted = receiver.accepted(path);
    assert.equal(accepted.length, want.alpha.length + want.beta.length, `${path}: each event once by id`);
    const rooms = byRoom(accepted);
    for (const room of ['alpha', 'beta'] as const) {
      assert.deepEqual(rooms.get(room)?.said, want[room], `${path} ${room}: every event, in order`);
      assert.equal(rooms.get(room)?.ordered, true, `${path} ${room}: in (seq, idx) order: ${rooms.get(room)?.keys}`);
    }
    for (const d of receiver.deliveries.filter((x) => x.path === path)) {
      verify(d, key);
      assert.equal(d.id, d.json.id, 'webhook-id is the event id');
    }
    // A receiver with the wrong key refuses it.
    assert.throws(() => verify(accepted[0]!, typeof key === 'string' ? 'whsec_' + Buffer.alloc(32, 7).toString('base64') : Buffer.from('wrong')), /No matching signature/);
  }
  // Each member left with its reason (rooms are delivered independently: no order between them).
  const left = receiver.accepted('/hook').filter((d) => d.json.type === 'member.left').map((d) => `${d.json.data.member!.userUuid} ${d.json.data.reason}`);
  assert.deepEqual(left.sort(), ['ann end', 'bob end', 'dan kick']);
  // The three refused deliveries came again with their ids.
  const refusedIds = receiver.deliveries.filter((d) => d.status === 500).map((d) => d.id);
  assert.equal(refusedIds.length, 3);
  for (const id of refusedIds) assert.ok(receiver.accepted('/hook').some((d) => d.id === id) || receiver.accepted('/cb').some((d) => d.id === id), `${id} retried`);
  assert.equal(receiver.maxConcurrentPerLane, 1, 'one delivery at a time per room and endpoint');
  t.diagnostic(`${receiver.deliveries.length} deliveries for ${total + cbTotal} events (retries and repeats after the kill included)`);
});

test('a dead endpoint slows neither room commands nor another endpoint, and its backlog ends in the dead letters', { timeout: 90_000 }, async (t) => {
  const s = await startTestServer({
    ...FAST,
    CONVENE_WEBHOOK_TIMEOUT_MS: '150',
    CONVENE_WEBHOOK_MAX_ATTEMPTS: '2',
    CONVENE_WEBHOOK_BACKOFF_MS: '5',
    CONVENE_WEBHOOK_BACKOFF_MAX_MS: '10',
    CONVENE_WEBHOOK_CONCURRENCY: '16',
  });
  const dead = new WebhookReceiver({ blackHole: true });
  const healthy = new WebhookReceiver();
  t.after(async () => {
    await s.close();
    await dead.stop();
    await healthy.stop();
  });
  await dead.start();
  await healthy.start();
  const port = Number(new URL(s.url).port);
  const keys = { ak: s.bootstrapped.accessKey, sk: s.bootstrapped.secretKey };
  const appId = s.creds.appId;
  const ROOMS = 10;
  const COMMANDS = 200;
  const members: MeetingClient[] = [];
  for (let i = 0; i < ROOMS; i++) {
    const c = s.client();
    await c.enter({ roomName: `r${i}`, roomUuid: `r${i}`, userName: `u${i}`, userUuid: `u${i}` });
    members.push(c);
  }
  /** p99 of COMMANDS chat messages, round robin over the rooms. */
  const p99 = async () => {
    const ms: number[] = [];
    for (let i = 0; i < COMMANDS; i++) {
      const start = performance.now();
      await members[i % ROOMS]!.chat(`m${i}`);
      ms.push(performance.now() - start);
    }
    return percentile(ms.sort((a, b) => a - b), 99);
  };
  const without = await p99();

  for (const url of [dead.url('/dead'), healthy.url('/ok')]) {
    const r = await raw(port, { method: 'POST', path: `/v3/apps/${appId}/webhooks`, body: JSON.stringify({ url, events: ['chat.sent'] }), keys });
    assert.equal(r.status, 200, r.body);
  }
  const deadId = (await raw(port, { method: 'GET', path: `/v3/apps/${appId}/webhooks`, keys })).json.webhooks.find((w: { url: string }) => w.url.endsWith('/dead')).id;
  const withDead = await p99();
  const lastCommand = Date.now();
  t.diagnostic(`chat p99 over ${COMMANDS} commands: ${without.toFixed(1)} ms without webhooks, ${withDead.toFixed(1)} ms with a dead endpoint's backlog (and a healthy one)`);
  assert.ok(withDead < Math.max(250, 10 * without), `a dead endpoint must not hold commands up: p99 ${withDead.toFixed(1)} ms`);

  // The healthy endpoint gets everything soon, while the dead one is still timing out.
  await healthy.until(() => healthy.accepted('/ok').length === COMMANDS, 'the healthy endpoint gets every chat', 10_000);
  const healthyDone = Date.now() - lastCommand;
  const pending = async () => (await raw(port, { method: 'GET', path: `/v3/apps/${appId}/webhooks/dead?limit=1000`, keys })).json.dead.length as number;
  const deadSoFar = await pending();
  t.diagnostic(`healthy endpoint complete ${healthyDone} ms after the last command; dead letters then: ${deadSoFar} of ${COMMANDS}`);
  assert.ok(deadSoFar < COMMANDS, 'the healthy endpoint did not wait for the dead one');
  // Delivered as the commands came, not behind the dead endpoint's attempts (150 ms each).
  assert.ok(healthyDone < 1_000, `the healthy endpoint lagged ${healthyDone} ms behind the last command`);
  for (const [room, r] of byRoom(healthy.accepted('/ok'))) assert.equal(r.ordered, true, `${room} in order`);

  // Each event: two attempts of 150 ms, then dead.
  const deadline = Date.now() + 60_000;
  while ((await pending()) < COMMANDS) {
    assert.ok(Date.now() < deadline, `dead letters: ${await pending()} of ${COMMANDS}`);
    await sleep(200);
  }
  const letters = (await raw(port, { method: 'GET', path: `/v3/apps/${appId}/webhooks/dead?limit=1000&endpoint=${deadId}`, keys })).json.dead;
  assert.equal(letters.length, COMMANDS);
  assert.ok(letters.every((l: { attempts: number; lastError: string; type: string }) => l.attempts === 2 && /no answer within 150 ms/.test(l.lastError) && l.type === 'chat.sent'));
  assert.equal(new Set(letters.map((l: { id: string }) => l.id)).size, COMMANDS);
  assert.equal(healthy.deliveries.length, COMMANDS, 'the healthy endpoint got each once');
});

test('the admin API: Qiniu envelope, checked input, nothing changed by a refused call', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const port = Number(new URL(s.url).port);
  const keys = { ak: s.bootstrapped.accessKey, sk: s.bootstrapped.secretKey };
  const appId = s.creds.appId;
  const call = (method: string, path: string, body?: string, contentType?: string) => raw(port, { method, path, body, keys, contentType });
  const expect = async (r: Promise<Awaited<ReturnType<typeof call>>>, status: number, error: RegExp) => {
    const res = await r;
    assert.equal(res.status, status, res.body);
    assert.match(res.json.error, error);
    assert.equal(res.reason, res.json.error);
  };
  const base = `/v3/apps/${appId}/webhooks`;
  await expect(call('POST', base, '{}'), 400, /^invalid args: url is required/);
  await expect(call('POST', base, '{"url":"ftp://x/"}'), 400, /^invalid args: url must be http:\/\/ or https:\/\//);
  await expect(call('POST', base, '{"url":"http://127.0.0.1:9/","events":["member.danced"]}'), 400, /^invalid args: events\.0 must be an event type/);
  await expect(call('POST', base, '{"url":"http://127.0.0.1:9/","secret":"whsec_short"}'), 400, /^invalid args: a whsec_ secret/);
  await expect(call('POST', base, '{"url":"http://127.0.0.1:9/","events":"all"}'), 400, /^invalid args: events must be/);
  await expect(call('POST', base, 'url=http://x', 'application/x-www-form-urlencoded'), 400, /^invalid args: this call takes a JSON body/);
  await expect(call('POST', `/v3/apps/${appId}`, '{"eventCbUrl":"not a url"}'), 400, /^invalid args: eventCbUrl must be an absolute/);
  await expect(call('POST', `/v3/apps/${appId}`, '{"eventCbUrl":"http://127.0.0.1:9/","eventCbSecret":"whsec_!!"}'), 400, /^invalid args: eventCbSecret: /);
  await expect(call('GET', '/v3/apps/nosuchapp/webhooks'), 612, /^app not found$/);
  await expect(call('DELETE', `${base}/wh_nothere`), 612, /^webhook not found$/);
  await expect(call('GET', `${base}/dead?endpoint=wh_nothere`), 612, /^webhook not found$/);
  await expect(call('GET', `${base}/dead?limit=0`), 400, /^invalid args: limit must be a number from 1 to 1000/);
  await expect(call('GET', `${base}/dead?limit=x`), 400, /^invalid args: limit must be a number from 1 to 1000/);
  await expect(call('POST', `${base}/dead/resend`, '{"ids":"all"}'), 400, /^invalid args: ids must be a list/);
  const unsigned = await raw(port, { method: 'GET', path: base, auth: null });
  assert.equal(unsigned.status, 401);
  // Nothing was changed by any of them.
  const app = await s.apps.get(appId);
  assert.equal(app?.webhooks ?? undefined, undefined);
  assert.equal(app?.eventCallback ?? undefined, undefined);

  const made = await call('POST', base, '{"url":"http://127.0.0.1:9/x"}');
  assert.equal(made.status, 200, made.body);
  assert.deepEqual(Object.keys(made.json).sort(), ['createdAt', 'events', 'id', 'secret', 'url']);
  assert.ok(!made.json.events.includes('chat.sent'), 'chat is opt-in');
  assert.deepEqual((await call('GET', `${base}/dead`)).json, { dead: [] });
  assert.deepEqual((await call('POST', `${base}/dead/resend`, '{}')).json, { resent: 0 });
  assert.deepEqual((await call('DELETE', `${base}/${made.json.id}`)).json, {});
  assert.deepEqual((await call('GET', base)).json, { webhooks: [] });
});

test('CONVENE_WEBHOOK_ALLOW_PRIVATE=0 refuses private targets: literal ones when set, resolved ones when delivering', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'convene-webhooks-private-'));
  const receiver = new WebhookReceiver();
  await receiver.start();
  t.after(async () => {
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const db = join(dir, 'convene.db');
  // Set while private targets were allowed: a name that resolves to loopback.
  const first = await startTestServer({ CONVENE_DB: db, CONVENE_PRESENCE_EXPIRY: 'off' });
  const keys = { ak: first.bootstrapped.accessKey, sk: first.bootstrapped.secretKey };
  const appId = first.creds.appId;
  const byName = await raw(Number(new URL(first.url).port), { method: 'POST', path: `/v3/apps/${appId}/webhooks`, body: JSON.stringify({ url: `http://localhost:${receiver.port}/hook` }), keys });
  assert.equal(byName.status, 200, byName.body);
  await first.close();

  const s = await startTestServer({ CONVENE_DB: db, CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_WEBHOOK_ALLOW_PRIVATE: '0', CONVENE_WEBHOOK_MAX_ATTEMPTS: '2', CONVENE_WEBHOOK_BACKOFF_MS: '5', CONVENE_WEBHOOK_BACKOFF_MAX_MS: '10' });
  t.after(() => s.close());
  const port = Number(new URL(s.url).port);
  for (const url of [receiver.url('/x'), `http://localhost:${receiver.port}/`, `http://[::1]:${receiver.port}/`, 'http://10.0.0.1/', 'http://169.254.169.254/latest']) {
    const r = await raw(port, { method: 'POST', path: `/v3/apps/${appId}/webhooks`, body: JSON.stringify({ url }), keys });
    assert.equal(r.status, 400, `${url}: ${r.body}`);
    assert.match(r.json.error, /not a public address/);
  }
  const cb = await raw(port, { method: 'POST', path: `/v3/apps/${appId}`, body: JSON.stringify({ eventCbUrl: receiver.url('/cb') }), keys });
  assert.equal(cb.status, 400, cb.body);

  const c = s.client();
  await c.enter({ roomName: 'p', roomUuid: 'p', userName: 'ann', userUuid: 'ann' });
  const deadline = Date.now() + 10_000;
  let letters: { lastError: string }[] = [];
  while (letters.length < 2) {
    assert.ok(Date.now() < deadline, 'the deliveries are refused and dead-lettered');
    await sleep(50);
    letters = (await raw(port, { method: 'GET', path: `/v3/apps/${appId}/webhooks/dead`, keys })).json.dead;
  }
  for (const l of letters) assert.match(l.lastError, /^localhost resolves to (127\.0\.0\.1|::1), not a public address/);
  assert.equal(receiver.deliveries.length, 0, 'nothing reached the private address');
});

test('an endpoint that accepts connections but never answers cannot hold a delivery longer than the timeout', async (t) => {
  // A port that accepts and never reads: the attempt is cut off by CONVENE_WEBHOOK_TIMEOUT_MS.
  const sockets: net.Socket[] = [];
  const silent = net.createServer((sock) => void sockets.push(sock));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_WEBHOOK_TIMEOUT_MS: '200', CONVENE_WEBHOOK_MAX_ATTEMPTS: '1' });
  t.after(async () => {
    await s.close();
    for (const sock of sockets) sock.destroy();
    silent.close();
  });
  const port = Number(new URL(s.url).port);
  const keys = { ak: s.bootstrapped.accessKey, sk: s.bootstrapped.secretKey };
  const url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`;
  assert.equal((await raw(port, { method: 'POST', path: `/v3/apps/${s.creds.appId}/webhooks`, body: JSON.stringify({ url }), keys })).status, 200);
  const start = Date.now();
  await s.client().enter({ roomName: 'q', roomUuid: 'q', userName: 'ann', userUuid: 'ann' });
  let letters: { lastError: string }[] = [];
  while (letters.length < 2 && Date.now() - start < 5_000) {
    await sleep(25);
    letters = (await raw(port, { method: 'GET', path: `/v3/apps/${s.creds.appId}/webhooks/dead`, keys })).json.dead;
  }
  assert.equal(letters.length, 2);
  assert.ok(letters.every((l) => l.lastError === 'no answer within 200 ms'));
  t.diagnostic(`two events dead-lettered after one 200 ms attempt each, ${Date.now() - start} ms after the entry`);
});
