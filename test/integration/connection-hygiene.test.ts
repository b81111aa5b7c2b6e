// Connection hygiene: a request not complete in time is cut off; a caller without credentials is
// refused before its body is read; one address cannot hold more than its share of connections, nor
// one member more than its share of sockets; a reader too slow for its messages learns why (4408).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import http from 'node:http';
import { agoraCaller, frameReader, rawUpgrade, type Frame } from '../helpers/load.ts';
import { RealtimeClient } from '../../client/realtime.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw connection: what it received, and when the server closed it. */
function rawConnection(port: number) {
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  let received = '';
  let closedAt: number | null = null;
  sock.on('data', (d) => (received += d.toString('latin1')));
  const closed = new Promise<void>((resolve) =>
    sock.on('close', () => {
      closedAt = performance.now();
      resolve();
    }),
  );
  const connected = new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  return {
    sock,
    connected,
    closed,
    received: () => received,
    closedAt: () => closedAt,
    /** The first answer's status line and JSON body. */
    answer() {
      const [head, body = ''] = received.split('\r\n\r\n');
      return { status: Number(head!.split(' ')[1]), head: head!, json: body ? JSON.parse(body) : null };
    },
  };
}

/** Write `text` one byte every `everyMs` until the connection closes or the text runs out. */
async function trickle(sock: net.Socket, text: string, everyMs: number): Promise<number> {
  let sent = 0;
  for (const ch of text) {
    if (sock.destroyed || !sock.writable) break;
    sock.write(ch);
    sent++;
    await sleep(everyMs);
  }
  return sent;
}

function basic(s: TestServer): string {
  return `Basic ${Buffer.from(`${s.creds.customerId}:${s.creds.customerSecret}`).toString('base64')}`;
}

test('a body not complete within CONVENE_REQUEST_TIMEOUT is cut off with 408, in the API’s envelope', { timeout: 30_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_REQUEST_TIMEOUT: '2' });
  t.after(() => s.close());
  const port = Number(new URL(s.url).port);
  const body = JSON.stringify({ roomName: 'r', roomUuid: 'r', userName: 'u', userUuid: 'u' }).padEnd(1000, ' ');

  // An entry reads its body before authenticating (a RoomToken may be in it): only the timeout stops a trickle.
  const agora = rawConnection(port);
  await agora.connected;
  const t0 = performance.now();
  agora.sock.write(`POST /apps/${s.creds.appId}/v1/room/entry HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
  const sent = trickle(agora.sock, body, 100);
  // The head alone, never finished: cut off by the same deadline.
  const head = rawConnection(port);
  await head.connected;
  const h0 = performance.now();
  void trickle(head.sock, `GET /v3/apps HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}`, 100);
  await Promise.all([agora.closed, head.closed]);

  const cutAfter = agora.closedAt()! - t0;
  t.diagnostic(`slow body cut off after ${cutAfter.toFixed(0)} ms (${await sent} of ${body.length} bytes sent); slow head after ${(head.closedAt()! - h0).toFixed(0)} ms`);
  // The deadline is checked every 250 ms (an eighth of it): cut off between 2 and 2.25 s, plus scheduling.
  assert.ok(cutAfter >= 1900 && cutAfter < 2600, `cut off after ${cutAfter.toFixed(0)} ms`);
  assert.ok(head.closedAt()! - h0 < 2600, 'a slow head is cut off too');
  // Answered in the envelope of the API it was for: Agora's {code,msg,data}, Qiniu's {error}.
  const a = agora.answer();
  assert.equal(a.status, 200);
  assert.deepEqual(a.json, { code: 400, msg: 'invalid argument: the request was not complete in time', data: null });
  const q = head.answer();
  assert.equal(q.status, 408);
  assert.match(q.json.error, /not complete in time/);
  // The server is fine.
  assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
});

test('a room call without valid credentials is refused as soon as its head is in, before its body', { timeout: 30_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_REQUEST_TIMEOUT: '30' });
  t.after(() => s.close());
  const port = Number(new URL(s.url).port);
  const host = s.client();
  await host.enter({ roomName: 'E', roomUuid: 'e', userName: 'Host', userUuid: 'host' });
  const chat = `/apps/${s.creds.appId}/v1/room/${host.roomId}/chat`;
  const cases: { name: string; head: string; code: number }[] = [
    { name: 'no Basic credentials', head: `POST ${chat} HTTP/1.1\r\nHost: x\r\ntoken: ${host.userToken}\r\n`, code: 1001 },
    { name: 'wrong Basic credentials', head: `POST ${chat} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${Buffer.from('a:b').toString('base64')}\r\ntoken: ${host.userToken}\r\n`, code: 1001 },
    { name: 'no member token', head: `POST ${chat} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic(s)}\r\n`, code: 401 },
    { name: 'a forged member token', head: `POST ${chat} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic(s)}\r\ntoken: ${host.roomId}.x.y\r\n`, code: 401 },
    { name: 'an unknown app', head: `POST /apps/${'0'.repeat(32)}/v1/room/${host.roomId}/chat HTTP/1.1\r\nHost: x\r\n`, code: 404 },
  ];
  for (const c of cases) {
    const conn = rawConnection(port);
    await conn.connected;
    const t0 = performance.now();
    conn.sock.write(`${c.head}Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n{"mess`);
    await conn.closed;
    const ms = performance.now() - t0;
    const a = conn.answer();
    assert.equal(a.json?.code, c.code, `${c.name}: ${conn.received().slice(0, 300)}`);
    assert.match(a.head, /connection: close/i, `${c.name}: the connection closes`);
    assert.ok(ms < 1000, `${c.name}: answered after ${ms.toFixed(0)} ms`);
  }
  // Qiniu: the signature covers the body, but an Authorization that could never verify is refused first.
  for (const [name, auth] of [
    ['no Authorization', ''],
    ['another scheme', 'Authorization: Bearer x\r\n'],
    ['an unknown access key', 'Authorization: Qiniu nobody:c2lnbg==\r\n'],
  ] as const) {
    const conn = rawConnection(port);
    await conn.connected;
    conn.sock.write(`POST /v3/apps HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n{"hu`);
    const closedInTime = await Promise.race([conn.closed.then(() => true), sleep(1000).then(() => false)]);
    const a = conn.answer();
    assert.equal(a.status, 401, `${name}: ${conn.received().slice(0, 300)}`);
    assert.equal(a.json.error, 'bad token');
    assert.ok(closedInTime, `${name}: the connection closes`);
  }
  // With valid credentials the body is awaited and the call goes through as before.
  const ok = await fetch(`${s.url}${chat}`, {
    method: 'POST',
    headers: { authorization: basic(s), token: host.userToken, 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'hello', type: 1 }),
  });
  assert.deepEqual(await ok.json(), { code: 0, msg: 'Success', data: true });
});

test('one member’s realtime sockets stop at CONVENE_MAX_SOCKETS_PER_MEMBER (4429); others are not affected', { timeout: 30_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_MAX_SOCKETS_PER_MEMBER: '3', CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const a = s.client();
  await a.enter({ roomName: 'C', roomUuid: 'c', userName: 'A', userUuid: 'a' });
  const b = s.client();
  await b.enter({ roomName: 'C', roomUuid: 'c', userName: 'B', userUuid: 'b' });
  const open = async (token: string) => {
    const rt = new RealtimeClient({ baseUrl: s.url, token });
    const snap = rt.waitFor((m) => m.type === 'snapshot', 5_000);
    await rt.connect();
    t.after(() => rt.close());
    return { rt, snap };
  };
  const mine = [];
  for (let i = 0; i < 3; i++) mine.push(await open(a.userToken));
  await Promise.all(mine.map((m) => m.snap));
  // The fourth: refused with 4429, and the client does not retry it.
  const fourth = new RealtimeClient({ baseUrl: s.url, token: a.userToken });
  const closed = new Promise<[number, string]>((resolve) => fourth.onClose((code, reason) => resolve([code, reason])));
  await fourth.connect();
  t.after(() => fourth.close());
  const [code, reason] = await closed;
  assert.equal(code, 4429);
  assert.match(reason, /too many realtime sockets for this member/);
  await sleep(500);
  assert.equal(fourth.closeCode, 4429, 'not retried');
  assert.equal(s.gateway.size, 3);
  // Another member connects as usual; and once one of A's closes, A may open another.
  await (await open(b.userToken)).snap;
  await mine[0]!.rt.close();
  await sleep(100);
  await (await open(a.userToken)).snap;
  assert.equal(s.gateway.size, 4);
});

test('connections per address stop at CONVENE_MAX_CONNECTIONS_PER_IP, refused in each API’s envelope', { timeout: 30_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_MAX_CONNECTIONS_PER_IP: '4' });
  t.after(() => s.close());
  const port = Number(new URL(s.url).port);
  // Entered on a connection that closes after the answer (fetch would keep its own open and counted).
  const call = agoraCaller(s.url, s.creds, new http.Agent({ keepAlive: false }));
  const entered = await call('POST', '/entry', { roomName: 'I', roomUuid: 'i', userName: 'Host', userUuid: 'host' });
  const host = { roomId: entered.data.roomId as string, userToken: entered.data.userToken as string };
  await sleep(100);
  // Hold four connections (idle keep-alive connections count as much as busy ones).
  const held: ReturnType<typeof rawConnection>[] = [];
  for (let i = 0; i < 4; i++) {
    const c = rawConnection(port);
    await c.connected;
    held.push(c);
  }
  t.after(() => held.forEach((c) => c.sock.destroy()));
  await sleep(50);
  const ask = async (request: string) => {
    const c = rawConnection(port);
    await c.connected;
    c.sock.write(request);
    await Promise.race([c.closed, sleep(6_000)]);
    return c;
  };
  const agora = (await ask(`GET /apps/${s.creds.appId}/v1/room/${host.roomId} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic(s)}\r\ntoken: ${host.userToken}\r\n\r\n`)).answer();
  assert.equal(agora.status, 200);
  assert.equal(agora.json.code, 1011);
  assert.match(agora.json.msg, /too many connections from this address \(at most 4 open at once\)/);
  assert.match(agora.head, /connection: close/i);
  assert.match(agora.head, /retry-after: 1/i);
  const qiniu = (await ask(`GET /v3/apps HTTP/1.1\r\nHost: x\r\n\r\n`)).answer();
  assert.equal(qiniu.status, 429);
  assert.equal(qiniu.json.error, 'too many requests');
  const plain = (await ask(`GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`)).answer();
  assert.equal(plain.status, 429);
  assert.match(plain.json.error, /too many connections/);
  // A realtime socket over the cap: refused with a close code the client retries later.
  const rt = new RealtimeClient({ baseUrl: s.url, token: host.userToken, reconnect: false });
  const closed = new Promise<number>((resolve) => rt.onClose((code) => resolve(code)));
  await rt.connect();
  assert.equal(await closed, 1013);
  assert.match(rt.closeReason, /too many connections from this address/);
  // An idle connection over the cap is cut.
  const idle = rawConnection(port);
  await idle.connected;
  await Promise.race([idle.closed, sleep(7_000)]);
  assert.notEqual(idle.closedAt(), null, 'an idle connection over the cap is closed');

  // One closes: a new connection is served again.
  held.pop()!.sock.destroy();
  await sleep(100);
  const again = (await ask(`GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).answer();
  assert.equal(again.status, 200);
});

test('behind a trusted proxy, realtime sockets are capped per forwarded client address', { timeout: 30_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_MAX_CONNECTIONS_PER_IP: '2', CONVENE_TRUST_PROXY: '127.0.0.1', CONVENE_RATE_ENTRIES_PER_IP: '1' });
  t.after(() => s.close());
  const port = Number(new URL(s.url).port);
  // The proxy's own connections are not counted: it carries many clients.
  const conns: ReturnType<typeof rawConnection>[] = [];
  for (let i = 0; i < 5; i++) {
    const c = rawConnection(port);
    await c.connected;
    conns.push(c);
  }
  t.after(() => conns.forEach((c) => c.sock.destroy()));
  const healthy = await fetch(`${s.url}/healthz`);
  assert.equal(healthy.status, 200, 'a sixth connection from the proxy is served');
  // Entries are rate-limited per forwarded address (req.ip), not per proxy.
  const enter = (ip: string, user: string) =>
    fetch(`${s.url}/apps/${s.creds.appId}/v1/room/entry`, {
      method: 'POST',
      headers: { authorization: basic(s), 'content-type': 'application/json', 'x-forwarded-for': ip },
      body: JSON.stringify({ roomName: 'P', roomUuid: 'p', userName: user, userUuid: user }),
    }).then((r) => r.json() as Promise<{ code: number; data: { userToken: string } }>);
  const u1 = await enter('10.0.0.1', 'u1');
  const u2 = await enter('10.0.0.2', 'u2');
  assert.deepEqual([u1.code, u2.code], [0, 0]);
  assert.equal((await enter('10.0.0.1', 'u3')).code, 1011, 'the second entry from 10.0.0.1 is over its rate');

  const upgrade = async (token: string, ip: string) => {
    const { sock, head, rest } = await rawUpgrade(port, `/v1/realtime?token=${encodeURIComponent(token)}`, { 'X-Forwarded-For': ip });
    t.after(() => sock.destroy());
    const frames: Frame[] = [];
    const read = frameReader((f) => frames.push(f));
    read(rest);
    sock.on('data', read);
    await sleep(200);
    return { head, frames, closeCode: () => frames.find((f) => f.opcode === 8)?.payload.readUInt16BE(0) ?? null };
  };
  const first = await upgrade(u1.data.userToken, '10.0.0.1');
  const second = await upgrade(u1.data.userToken, '10.0.0.1');
  const third = await upgrade(u1.data.userToken, '10.0.0.1');
  const other = await upgrade(u2.data.userToken, '10.0.0.2');
  assert.deepEqual([first.closeCode(), second.closeCode(), third.closeCode(), other.closeCode()], [null, null, 1013, null]);
});

test('a reader that stops reading is closed with 4408, and the close frame reaches it ahead of the backlog', { timeout: 60_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_WS_MAX_BUFFER: '262144', CONVENE_RATE_CHAT: '0' });
  t.after(() => s.close());
  const host = s.client();
  await host.enter({ roomName: 'S', roomUuid: 's', userName: 'Host', userUuid: 'host' });
  const slow = s.client();
  await slow.enter({ roomName: 'S', roomUuid: 's', userName: 'Slow', userUuid: 'slow' });
  const port = Number(new URL(s.url).port);
  const { sock, rest } = await rawUpgrade(port, `/v1/realtime?token=${encodeURIComponent(slow.userToken)}`);
  t.after(() => sock.destroy());
  sock.pause();
  await sleep(100);
  assert.equal(s.gateway.size, 1);

  // Chats until the server gives up on the socket (the kernel's buffers take a few MB first).
  const text = 'x'.repeat(3990);
  let i = 0;
  while (s.gateway.size === 1 && i < 8000) await Promise.all(Array.from({ length: 20 }, () => host.chat(`${i++} ${text}`)));
  assert.equal(s.gateway.size, 0, `closed after ${i} chats`);
  // It reads again a while later (within ws's 30 s closing timeout): everything, then the close frame.
  await sleep(3_000);
  const frames: Frame[] = [];
  let bytes = rest.length;
  const read = frameReader((f) => frames.push(f));
  read(rest);
  sock.on('data', (d: Buffer) => {
    bytes += d.length;
    read(d);
  });
  const ended = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  sock.resume();
  await Promise.race([ended, sleep(15_000)]);
  const close = frames.find((f) => f.opcode === 8);
  const texts = frames.filter((f) => f.opcode === 1).length;
  t.diagnostic(`${i} chats sent; the slow reader got ${texts} messages (${(bytes / 1048576).toFixed(1)} MB), then close ${close?.payload.readUInt16BE(0)}`);
  assert.ok(close, 'a close frame arrived (not a bare disconnect, 1006)');
  assert.equal(close.payload.readUInt16BE(0), 4408);
  assert.match(close.payload.subarray(2).toString(), /too slow/);
  assert.ok(texts < i, 'what waited unsent was dropped, not delivered');
});
