// Dead peers are found by ping/pong: a socket that stops answering pings is dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { startTestServer } from '../helpers/server.ts';
import { RealtimeClient } from '../../client/realtime.ts';

test('a peer that never answers pings is dropped; a live one stays', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_WS_PING_INTERVAL: '1' });
  t.after(() => s.close());
  const a = s.client();
  await a.enter({ roomName: 'R', roomUuid: 'r', userName: 'A', userUuid: 'a' });
  const b = s.client();
  await b.enter({ roomName: 'R', roomUuid: 'r', userName: 'B', userUuid: 'b' });

  // A hand-made WebSocket that reads everything but never sends a pong (a vanished peer).
  const sock = net.connect(Number(new URL(s.url).port), '127.0.0.1');
  t.after(() => sock.destroy());
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  sock.write(
    `GET /v1/realtime?token=${encodeURIComponent(a.userToken)} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  sock.on('data', () => {});
  const live = new RealtimeClient({ baseUrl: s.url, token: b.userToken, reconnect: false });
  t.after(() => live.close());
  await live.connect();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(s.gateway.size, 2);
  const deadline = Date.now() + 5000;
  while (s.gateway.size === 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(s.gateway.size, 1, 'the silent peer was dropped');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(s.gateway.size, 1, 'the answering peer stays');
  assert.equal(live.closeCode, null);
});
