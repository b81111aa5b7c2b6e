// GET /metrics on a real server: valid Prometheus text (read by a strict parser), and figures that
// follow what happens: entries, chat and departures move the commands, members and rooms figures;
// a refused command counts under its refusal; a realtime socket counts and receives frames; a reader
// too slow is cut off (4408) and counted; the rooms figures are set right by a census when the store
// changed behind the server's back; CONVENE_METRICS=off serves none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { parsePrometheus, valueOf, type Family } from '../helpers/prometheus.ts';
import { RealtimeClient } from '../../client/realtime.ts';
import { AgoraApiError } from '../../client/agora.ts';
import { MeetingService } from '../../src/service/meeting.ts';
import { LocalBus } from '../../src/bus/local.ts';

async function scrape(s: TestServer): Promise<Map<string, Family>> {
  const res = await fetch(`${s.url}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  return parsePrometheus(await res.text());
}

/** Scrapes until `check` passes (events reach the figures just after the answers), or fails with its last error. */
async function eventually(s: TestServer, check: (m: Map<string, Family>) => void, timeoutMs = 3000): Promise<Map<string, Family>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await scrape(s);
    try {
      check(m);
      return m;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

const commands = (m: Map<string, Family>, type: string, outcome: string) => valueOf(m, 'convene_commands_total', { type, outcome }) ?? 0;
const timed = (m: Map<string, Family>, type: string, outcome: string) =>
  valueOf(m, 'convene_command_duration_seconds_count', { type, outcome }) ?? 0;

test('the parser is strict: malformed exposition text is refused', () => {
  const ok = '# HELP a_total x\n# TYPE a_total counter\na_total{k="v\\"q"} 1\n\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n';
  assert.equal(valueOf(parsePrometheus(ok), 'a_total', { k: 'v"q' }), 1);
  assert.equal(valueOf(parsePrometheus(ok), 'h_count'), 2);
  for (const bad of [
    'a_total{k="v} 1\n', // unterminated label
    'a_total 1', // no final line feed
    'a-total 1\n', // bad name
    'a_total one\n', // bad value
    '# TYPE a counter\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n', // a family's lines apart
    '# TYPE a counter\na 1\na 2\n', // repeated series
    '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', // not cumulative
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 2\n', // +Inf is not _count
    '# TYPE a counter\na -1\n', // a negative counter
    '# TYPE a flux\n', // unknown type
  ]) {
    assert.throws(() => parsePrometheus(bad), Error, JSON.stringify(bad));
  }
});

test('entries, chat, a refusal, a socket and departures move the figures', { timeout: 30_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());

  const before = await scrape(s);
  assert.equal(valueOf(before, 'convene_rooms_running'), 0);
  assert.equal(valueOf(before, 'convene_rooms_active'), 0);
  assert.equal(valueOf(before, 'convene_members_present'), 0);
  assert.equal(valueOf(before, 'convene_realtime_sockets'), 0);
  assert.equal(commands(before, 'enter', 'ok'), 0);
  // The process's own figures are there too, once.
  assert.equal(before.get('process_cpu_user_seconds_total')?.type, 'counter');
  assert.ok(before.has('nodejs_heap_size_used_bytes'));

  const host = s.client();
  await host.enter({ roomName: 'M', roomUuid: 'metrics', userName: 'Host', userUuid: 'host' });
  const guest = s.client();
  await guest.enter({ roomName: 'M', roomUuid: 'metrics', userName: 'Guest', userUuid: 'guest' });
  await eventually(s, (m) => {
    assert.equal(valueOf(m, 'convene_rooms_running'), 1);
    assert.equal(valueOf(m, 'convene_members_present'), 2);
    assert.equal(commands(m, 'enter', 'ok'), 2);
    assert.equal(timed(m, 'enter', 'ok'), 2, 'each entry is timed');
  });

  // A socket: counted while open; its snapshot is a catch-up frame, the chat after it a live one.
  const rt = new RealtimeClient({ baseUrl: s.url, token: host.userToken, reconnect: false });
  t.after(() => rt.close());
  const snapshot = rt.waitFor((m) => m.type === 'snapshot');
  await rt.connect();
  await snapshot;
  const connected = await eventually(s, (m) => {
    assert.equal(valueOf(m, 'convene_realtime_sockets'), 1);
    assert.ok(valueOf(m, 'convene_realtime_frames_sent_total', { kind: 'catchup' })! >= 1);
  });
  const liveBefore = valueOf(connected, 'convene_realtime_frames_sent_total', { kind: 'live' })!;
  const chatSeen = rt.waitFor((m) => m.type === 'channel' && m.cmd === 1);
  await guest.chat('hello');
  await chatSeen;
  await eventually(s, (m) => {
    assert.equal(commands(m, 'chat', 'ok'), 1);
    assert.ok(valueOf(m, 'convene_realtime_frames_sent_total', { kind: 'live' })! > liveBefore, 'the chat went out live');
  });

  // A participant may not end the meeting: refused by the rules, counted under the refusal's code.
  await assert.rejects(guest.changeRoom({ state: 0 }), (err: unknown) => err instanceof AgoraApiError && err.code === 403);
  await eventually(s, (m) => {
    assert.equal(commands(m, 'changeRoom', 'forbidden'), 1);
    assert.equal(timed(m, 'changeRoom', 'forbidden'), 1);
    assert.equal(commands(m, 'changeRoom', 'ok'), 0);
  });

  await guest.exit();
  await eventually(s, (m) => {
    assert.equal(valueOf(m, 'convene_members_present'), 1);
    assert.equal(valueOf(m, 'convene_rooms_running'), 1);
    assert.equal(valueOf(m, 'convene_rooms_active'), 1);
    assert.equal(commands(m, 'leave', 'ok'), 1);
  });

  // The host ends the meeting: nothing runs any more; its socket is closed by the server.
  await host.changeRoom({ state: 0 });
  await eventually(s, (m) => {
    assert.equal(valueOf(m, 'convene_rooms_running'), 0);
    assert.equal(valueOf(m, 'convene_members_present'), 0);
    assert.equal(commands(m, 'changeRoom', 'ok'), 1);
    assert.equal(valueOf(m, 'convene_realtime_sockets'), 0);
  });
});

test('a reader too slow is closed with 4408 and counted', { timeout: 60_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_WS_MAX_BUFFER: '65536', CONVENE_RATE_CHAT: '0' });
  t.after(() => s.close());
  const host = s.client();
  await host.enter({ roomName: 'S', roomUuid: 'slow', userName: 'Host', userUuid: 'host' });
  const slow = s.client();
  await slow.enter({ roomName: 'S', roomUuid: 'slow', userName: 'Slow', userUuid: 'slow' });

  // A hand-made upgrade on a raw socket that is never read after the handshake.
  const sock = net.connect(Number(new URL(s.url).port), '127.0.0.1');
  t.after(() => sock.destroy());
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  sock.write(
    `GET /v1/realtime?token=${encodeURIComponent(slow.userToken)} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await new Promise<void>((resolve) => sock.once('data', () => resolve()));
  sock.pause();
  await eventually(s, (m) => assert.equal(valueOf(m, 'convene_realtime_sockets'), 1));
  assert.equal(valueOf(await scrape(s), 'convene_realtime_slow_consumer_closes_total'), 0);

  const text = 'x'.repeat(3990);
  let i = 0;
  // Kernel socket buffers absorb a few MB first; keep sending until the server gives up on it.
  while (s.gateway.size === 1 && i < 6000) {
    await Promise.all(Array.from({ length: 20 }, () => host.chat(`${i++} ${text}`)));
  }
  assert.equal(s.gateway.size, 0, `the slow socket was closed after ${i} chats`);
  const m = await eventually(s, (m) => assert.equal(valueOf(m, 'convene_realtime_slow_consumer_closes_total'), 1));
  assert.equal(valueOf(m, 'convene_realtime_sockets'), 0);
  assert.equal(commands(m, 'chat', 'ok'), i);
  // Before the server stops: a peer that never reads would hold its close for ws's 30 s.
  sock.destroy();
});

test('a census sets the rooms figures right when the store changed without the bus', { timeout: 30_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const a = s.client();
  await a.enter({ roomName: 'C', roomUuid: 'census', userName: 'A', userUuid: 'a' });
  await eventually(s, (m) => assert.equal(valueOf(m, 'convene_rooms_running'), 1));

  // As the CLI does: another writer on the same store, whose events never reach this server's bus.
  const other = new MeetingService({ store: s.store, bus: new LocalBus() });
  await other.close(a.roomId);
  assert.equal(valueOf(await scrape(s), 'convene_rooms_running'), 1, 'the server was not told');
  await s.metrics!.meetings!.census();
  const m = await scrape(s);
  assert.equal(valueOf(m, 'convene_rooms_running'), 0);
  assert.equal(valueOf(m, 'convene_members_present'), 0);

  // And the other way: a meeting the server has not heard of is found by the census.
  const b = new MeetingService({ store: s.store, bus: new LocalBus() });
  const app = (await s.apps.get(s.creds.appId))!;
  for (const user of ['x', 'y', 'z']) {
    await b.enter(app, { roomUuid: 'elsewhere', roomName: 'E', password: '', userUuid: user, audio: false, video: false });
  }
  await s.metrics!.meetings!.census();
  const after = await scrape(s);
  assert.equal(valueOf(after, 'convene_rooms_running'), 1);
  assert.equal(valueOf(after, 'convene_members_present'), 3);
  assert.equal(commands(after, 'enter', 'ok'), 1, "only this server's own commands are counted");
});

test('webhook delivery reports through its own small API', async (t) => {
  const s = await startTestServer();
  t.after(() => s.close());
  const webhooks = s.metrics!.webhooks;
  webhooks.setQueueDepth(3);
  webhooks.attempted('delivered', 0.2);
  webhooks.attempted('failed', 7);
  webhooks.attempted('failed', 0.004);
  let m = await scrape(s);
  assert.equal(valueOf(m, 'convene_webhook_queue_depth'), 3);
  assert.equal(valueOf(m, 'convene_webhook_deliveries_total', { outcome: 'delivered' }), 1);
  assert.equal(valueOf(m, 'convene_webhook_deliveries_total', { outcome: 'failed' }), 2);
  assert.equal(valueOf(m, 'convene_webhook_deliveries_total', { outcome: 'abandoned' }), 0);
  assert.equal(valueOf(m, 'convene_webhook_delivery_duration_seconds_bucket', { outcome: 'failed', le: '0.01' }), 1);
  assert.equal(valueOf(m, 'convene_webhook_delivery_duration_seconds_bucket', { outcome: 'failed', le: '+Inf' }), 2);
  // Read at each scrape instead; a read that fails keeps the last figure and the scrape answers.
  let depth: number | Error = 5;
  webhooks.queueDepthFrom(async () => {
    if (depth instanceof Error) throw depth;
    return depth;
  });
  assert.equal(valueOf(await scrape(s), 'convene_webhook_queue_depth'), 5);
  depth = new Error('store unreachable');
  m = await scrape(s);
  assert.equal(valueOf(m, 'convene_webhook_queue_depth'), 5);
});

test('CONVENE_METRICS=off: no /metrics, nothing kept', async (t) => {
  const s = await startTestServer({ CONVENE_METRICS: 'off' });
  t.after(() => s.close());
  assert.equal(s.metrics, null);
  const res = await fetch(`${s.url}/metrics`);
  assert.equal(res.status, 404);
  assert.deepEqual(await res.json(), { error: 'not found' });
});

test('an empty meeting is running but not active, the same in the metrics, the CLI and the server API', { timeout: 60_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const ann = s.client();
  await ann.enter({ roomName: 'E', roomUuid: 'empty-one', userName: 'Ann', userUuid: 'ann' });
  const bob = s.client();
  await bob.enter({ roomName: 'F', roomUuid: 'full-one', userName: 'Bob', userUuid: 'bob' });
  await ann.exit();
  await eventually(s, (m) => {
    assert.equal(valueOf(m, 'convene_rooms_running'), 2, 'both meetings run');
    assert.equal(valueOf(m, 'convene_rooms_active'), 1, 'one has someone in it');
  });
  const active = await s.meeting.listRooms({ appId: s.creds.appId, activeOnly: true, prefix: '', offset: 0, limit: 10 });
  assert.deepEqual(active.rooms.map((r) => r.roomUuid), ['full-one'], "the server API's ListActiveRoom reads the same");
  await ann.enter({ roomName: 'E', roomUuid: 'empty-one', userName: 'Ann', userUuid: 'ann' });
  await eventually(s, (m) => assert.equal(valueOf(m, 'convene_rooms_active'), 2));
});
