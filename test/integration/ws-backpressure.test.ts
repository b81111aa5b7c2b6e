// A member that never reads is cut off at the buffer limit; memory stays bounded and the others
// keep receiving on time. It can resume afterwards from the log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { startTestServer } from '../helpers/server.ts';
import { RealtimeClient } from '../../client/realtime.ts';

test('a non-reading member is closed at the limit; the others are not delayed', { timeout: 60_000 }, async (t) => {
  // Chat is this test's load generator: the per-member chat limit is off.
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_WS_MAX_BUFFER: '65536', CONVENE_RATE_CHAT: '0' });
  t.after(() => s.close());
  const host = s.client();
  await host.enter({ roomName: 'B', roomUuid: 'b', userName: 'Host', userUuid: 'host' });
  const slow = s.client();
  await slow.enter({ roomName: 'B', roomUuid: 'b', userName: 'Slow', userUuid: 'slow' });
  const fast = s.client();
  await fast.enter({ roomName: 'B', roomUuid: 'b', userName: 'Fast', userUuid: 'fast' });

  // The slow member: a hand-made WebSocket upgrade on a raw socket that is never read again.
  const port = Number(new URL(s.url).port);
  const sock = net.connect(port, '127.0.0.1');
  t.after(() => sock.destroy());
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  sock.write(
    `GET /v1/realtime?token=${encodeURIComponent(slow.userToken)} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await new Promise<void>((resolve) => sock.once('data', () => resolve()));
  sock.pause();
  let slowClosed = false;
  sock.on('close', () => (slowClosed = true));

  const rt = new RealtimeClient({ baseUrl: s.url, token: fast.userToken, reconnect: false });
  const latencies: number[] = [];
  const received = new Set<number>();
  rt.on((m) => {
    if (m.type === 'channel' && m.cmd === 1) {
      latencies.push(Date.now() - m.timestamp);
      received.add(m.seq);
    }
  });
  await rt.connect();
  t.after(() => rt.close());
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(s.gateway.size, 2);

  const rssBefore = process.memoryUsage().rss;
  const text = 'x'.repeat(3990);
  const sent: number[] = [];
  const firstSeq = (await s.meeting.room(host.roomId))!.seq;
  let i = 0;
  // Kernel socket buffers absorb a few MB first; keep sending until the server gives up on it.
  while (s.gateway.size === 2 && i < 6000) {
    await Promise.all(Array.from({ length: 20 }, () => host.chat(`${i++} ${text}`)));
  }
  assert.equal(s.gateway.size, 1, `the slow socket was closed after ${i} chats`);
  const lastSeq = (await s.meeting.room(host.roomId))!.seq;
  for (let q = firstSeq + 1; q <= lastSeq; q++) sent.push(q);
  const deadline = Date.now() + 5000;
  while (received.size < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(received.size, sent.length, 'the reading member got every message');
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
  // Held up behind the slow member's backlog, a reader would wait seconds (or forever); the bound
  // leaves room for a loaded machine (546 ms seen once in a full suite run beside the Redis Cluster
  // tests), which is not what this asserts against. The latency itself is bench/fanout's to measure.
  assert.ok(p99 < 1000, `p99 delivery latency ${p99} ms`);
  const growth = process.memoryUsage().rss - rssBefore;
  assert.ok(growth < 200 * 1024 * 1024, `memory grew by ${Math.round(growth / 1048576)} MB`);

  // The slow member resumes and gets everything it missed from the log.
  sock.destroy();
  const back = new RealtimeClient({ baseUrl: s.url, token: slow.userToken, since: firstSeq, reconnect: false });
  const got: number[] = [];
  back.on((m) => m.type === 'channel' && m.cmd === 1 && got.push(m.seq));
  await back.connect();
  t.after(() => back.close());
  const until = Date.now() + 10_000;
  while (got.length < sent.length && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.equal(got.length, sent.length, `resumed ${got.length} of ${sent.length}`);
  assert.deepEqual(got, sent);
  void slowClosed;
});
