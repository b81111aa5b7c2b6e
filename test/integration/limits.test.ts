// Rate limits and caps: each one hit, answered in its API's envelope with when to retry; the
// per-member limits on by default, the per-address and per-app ones off until configured; counted
// across a cluster when nodes share Redis.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { qiniu, raw, realtimeClose } from '../helpers/qiniu.ts';
import { cleanupPrefix, redisSkip, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { callAgora, type ClientOptions } from '../../client/agora.ts';

const entry = (room: string, user: string) => ({ roomName: room, roomUuid: room, userName: user, userUuid: user });

async function member(opts: ClientOptions, room: string, user: string) {
  const r = await callAgora<{ roomId: string; userToken: string }>(opts, 'POST', '/entry', entry(room, user));
  assert.equal(r.code, 0, JSON.stringify(r));
  return r.data!;
}

/** A raw Agora call, for the headers. */
async function agoraRaw(s: TestServer, path: string, body: unknown, token?: string) {
  const res = await fetch(`${s.url}/apps/${s.creds.appId}/v1/room${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${s.creds.customerId}:${s.creds.customerSecret}`).toString('base64')}`,
      ...(token ? { token } : {}),
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), json: (await res.json()) as { code: number; msg: string } };
}

test('chat and invite/apply limits per member are on by default; a script meets them, a person does not', async (t) => {
  const s = await startTestServer({ CONVENE_RATE_CHAT: '5', CONVENE_RATE_REQUESTS: '3', CONVENE_RATE_WINDOW: '2', CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const host = await member(s.opts, 'r', 'host');
  const ann = await member(s.opts, 'r', 'ann');
  for (let i = 0; i < 5; i++) assert.equal((await agoraRaw(s, `/${host.roomId}/chat`, { message: `m${i}` }, host.userToken)).json.code, 0);
  const over = await agoraRaw(s, `/${host.roomId}/chat`, { message: 'one too many' }, host.userToken);
  assert.equal(over.status, 200);
  assert.equal(over.json.code, 1011);
  assert.match(over.json.msg, /too many chat messages from this member: at most 5 per 2 s; retry in [12] s/);
  assert.ok(Number(over.retryAfter) >= 1 && Number(over.retryAfter) <= 2, `Retry-After ${over.retryAfter}`);
  assert.equal((await agoraRaw(s, `/${host.roomId}/chat`, { message: 'ann may' }, ann.userToken)).json.code, 0, 'another member is not limited');
  await new Promise((r) => setTimeout(r, Number(over.retryAfter) * 1000 + 50));
  assert.equal((await agoraRaw(s, `/${host.roomId}/chat`, { message: 'again' }, host.userToken)).json.code, 0, 'after the window');

  const annId = (await callAgora<any>(s.opts, 'GET', `/${host.roomId}`, undefined, ann.userToken)).data.user.userId;
  const codes: number[] = [];
  for (let i = 0; i < 4; i++) codes.push((await agoraRaw(s, `/${host.roomId}/user/${annId}/host/invite`, { type: 1, action: 1 }, host.userToken)).json.code);
  assert.deepEqual(codes, [0, 0, 0, 1011], 'invites per member');
  // The defaults are above any person's pace.
  const d = await startTestServer();
  t.after(() => d.close());
  const h = await member(d.opts, 'r', 'h');
  for (let i = 0; i < 20; i++) assert.equal((await agoraRaw(d, `/${h.roomId}/chat`, { message: `m${i}` }, h.userToken)).json.code, 0);
});

test('entries per address and per app, and the server API per address and per key, when configured', async (t) => {
  const s = await startTestServer({ CONVENE_RATE_ENTRIES_PER_IP: '3', CONVENE_RATE_QINIU_PER_KEY: '3', CONVENE_RATE_QINIU_PER_IP: '5', CONVENE_RATE_WINDOW: '60' });
  t.after(() => s.close());
  const codes: number[] = [];
  for (let i = 0; i < 4; i++) codes.push((await agoraRaw(s, '/entry', entry('r', `u${i}`))).json.code);
  assert.deepEqual(codes, [0, 0, 0, 1011]);
  // A RoomToken entry on the realtime channel is an entry too: refused over the limit, try again later.
  const cred = new qiniu.Credentials(s.bootstrapped.accessKey, s.bootstrapped.secretKey);
  const overWs = qiniu.room.getRoomToken({ appId: s.bootstrapped.appId, roomName: 'r', userId: 'ws', expireAt: Math.floor(Date.now() / 1000) + 600, permission: 'user' }, cred);
  const closed = await realtimeClose(s.url, overWs);
  assert.equal(closed.code, 1013, closed.reason);
  assert.match(closed.reason, /too many entries from this address/);
  const port = Number(new URL(s.url).port);
  const keys = { ak: s.bootstrapped.accessKey, sk: s.bootstrapped.secretKey };
  const list = () => raw(port, { method: 'GET', path: `/v3/apps/${s.bootstrapped.appId}/rooms`, keys });
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await list()).status);
  assert.deepEqual(statuses, [200, 200, 200, 429], 'per key');
  const refused = await list();
  assert.equal(refused.json.error, 'too many requests');
  assert.match(refused.json.reason, /server-API calls with this access key: at most 3 per 60 s/);
  assert.ok(Number(refused.headers['retry-after']) > 0);
  // Forged calls count against the address before their signature is even checked.
  const forged = await raw(port, { method: 'GET', path: `/v3/apps/${s.bootstrapped.appId}/rooms`, auth: 'Qiniu nobody:forged' });
  assert.equal(forged.status, 429, 'over the per-address limit');

  const app = await startTestServer({ CONVENE_RATE_ENTRIES_PER_APP: '2' });
  t.after(() => app.close());
  const perApp: number[] = [];
  for (let i = 0; i < 3; i++) perApp.push((await agoraRaw(app, '/entry', entry(`room${i}`, `u${i}`))).json.code);
  assert.deepEqual(perApp, [0, 0, 1011]);
});

test('room and app caps: members per room, meetings per app', async (t) => {
  const s = await startTestServer({ CONVENE_MAX_ROOM_MEMBERS: '3', CONVENE_MAX_ROOMS_PER_APP: '2' });
  t.after(() => s.close());
  for (const u of ['a', 'b', 'c']) await member(s.opts, 'one', u);
  const full = await agoraRaw(s, '/entry', entry('one', 'd'));
  assert.equal(full.json.code, 1003);
  assert.match(full.json.msg, /the room is full \(3 members\)/);
  await member(s.opts, 'two', 'a');
  const third = await agoraRaw(s, '/entry', entry('three', 'a'));
  assert.equal(third.json.code, 1010);
  assert.match(third.json.msg, /already runs 2 meetings/);
  const port = Number(new URL(s.url).port);
  const cred = new qiniu.Credentials(s.bootstrapped.accessKey, s.bootstrapped.secretKey);
  const token = qiniu.room.getRoomToken({ appId: s.bootstrapped.appId, roomName: 'three', userId: 'zed', expireAt: Math.floor(Date.now() / 1000) + 600, permission: 'user' }, cred);
  const auth = await raw(port, { method: 'GET', path: `/v3/apps/${s.bootstrapped.appId}/rooms/three/auth?user=zed&token=${encodeURIComponent(token)}`, auth: null, contentType: null });
  assert.equal(auth.status, 403, auth.body);
  assert.equal(auth.json.error, 'too many rooms');
  // The same RoomToken on the realtime channel: its own close code, not "invalid token".
  const ws = await realtimeClose(s.url, token);
  assert.deepEqual(ws, { code: 4430, reason: 'this app runs the most meetings allowed: end one first' });
  const fullToken = qiniu.room.getRoomToken({ appId: s.bootstrapped.appId, roomName: 'one', userId: 'zed', expireAt: Math.floor(Date.now() / 1000) + 600, permission: 'user' }, cred);
  assert.equal((await realtimeClose(s.url, fullToken)).code, 4413, 'a full room');
});

const skip = await redisSkip();

test('two nodes on one Redis share the limits and the caps', { skip }, async (t) => {
  const prefix = uniquePrefix();
  const redis = new Redis(SHARED_REDIS_URL);
  after(async () => {
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
  });
  const env = {
    REDIS_URL: SHARED_REDIS_URL,
    CONVENE_REDIS_PREFIX: prefix,
    CONVENE_RATE_CHAT: '5',
    CONVENE_RATE_WINDOW: '60',
    CONVENE_RATE_QINIU_PER_KEY: '4',
    CONVENE_MAX_ROOM_MEMBERS: '3',
    CONVENE_MAX_ROOMS_PER_APP: '2',
  };
  const a = await startTestServer(env);
  t.after(() => a.close());
  const b = await startTestServer(env);
  t.after(() => b.close());
  assert.equal(a.creds.appId, b.creds.appId, 'one app for the cluster');
  const host = await member(a.opts, 'r', 'host');
  const codes: number[] = [];
  for (let i = 0; i < 6; i++) codes.push((await agoraRaw(i % 2 ? b : a, `/${host.roomId}/chat`, { message: `m${i}` }, host.userToken)).json.code);
  assert.deepEqual(codes, [0, 0, 0, 0, 0, 1011], 'the sixth, on either node, is over');
  const keys = { ak: a.bootstrapped.accessKey, sk: a.bootstrapped.secretKey };
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await raw(Number(new URL((i % 2 ? b : a).url).port), { method: 'GET', path: `/v3/apps/${a.bootstrapped.appId}/rooms`, keys })).status);
  assert.deepEqual(statuses, [200, 200, 200, 200, 429]);

  // The caps hold for the cluster: the room's members and the app's meetings are counted in Redis.
  await member(b.opts, 'r', 'ann');
  await member(a.opts, 'r', 'bob');
  assert.equal((await agoraRaw(b, '/entry', entry('r', 'cat'))).json.code, 1003, 'the fourth member, on the other node');
  await member(b.opts, 'second', 'ann');
  assert.equal((await agoraRaw(a, '/entry', entry('third', 'ann'))).json.code, 1010, 'the third meeting, on the other node');
});

test('two nodes on one Redis share the entry limits per address and per app, the invite limit and the server-API limit per address', { skip }, async (t) => {
  const prefix = uniquePrefix();
  const redis = new Redis(SHARED_REDIS_URL);
  after(async () => {
    await cleanupPrefix(redis, prefix);
    await cleanupPrefix(redis, `${prefix}app:`);
    redis.disconnect();
  });
  const env = { REDIS_URL: SHARED_REDIS_URL, CONVENE_REDIS_PREFIX: prefix, CONVENE_RATE_WINDOW: '60', CONVENE_RATE_ENTRIES_PER_IP: '4', CONVENE_RATE_REQUESTS: '2', CONVENE_RATE_QINIU_PER_IP: '3' };
  const a = await startTestServer(env);
  t.after(() => a.close());
  const b = await startTestServer(env);
  t.after(() => b.close());
  const host = await member(a.opts, 'r', 'host');
  const ann = await member(b.opts, 'r', 'ann');
  const entries = [(await agoraRaw(a, '/entry', entry('r', 'u1'))).json.code, (await agoraRaw(b, '/entry', entry('r', 'u2'))).json.code];
  const fifth = await agoraRaw(a, '/entry', entry('r', 'u3'));
  assert.deepEqual([...entries, fifth.json.code], [0, 0, 1011], 'the fifth entry from this address, counted over both nodes');
  assert.match(fifth.json.msg, /too many entries from this address: at most 4 per 60 s/);

  const annId = (await callAgora<any>(b.opts, 'GET', `/${host.roomId}`, undefined, ann.userToken)).data.user.userId;
  const invites: number[] = [];
  for (const node of [a, b, a]) invites.push((await agoraRaw(node, `/${host.roomId}/user/${annId}/host/invite`, { type: 1, action: 1 }, host.userToken)).json.code);
  assert.deepEqual(invites, [0, 0, 1011], 'the third invitation, on either node');

  const statuses: number[] = [];
  for (const node of [a, b, a, b]) statuses.push((await raw(Number(new URL(node.url).port), { method: 'GET', path: `/v3/apps/${a.bootstrapped.appId}/rooms`, auth: 'Qiniu nobody:forged' })).status);
  assert.deepEqual(statuses, [401, 401, 401, 429], 'the fourth server-API call from this address, forged or not');

  const perApp = { REDIS_URL: SHARED_REDIS_URL, CONVENE_REDIS_PREFIX: `${prefix}app:`, CONVENE_RATE_ENTRIES_PER_APP: '2', CONVENE_RATE_WINDOW: '60' };
  const c = await startTestServer(perApp);
  t.after(() => c.close());
  const d = await startTestServer(perApp);
  t.after(() => d.close());
  const codes = [(await agoraRaw(c, '/entry', entry('x', 'p'))).json.code, (await agoraRaw(d, '/entry', entry('y', 'q'))).json.code, (await agoraRaw(c, '/entry', entry('z', 'r'))).json.code];
  assert.deepEqual(codes, [0, 0, 1011], 'the third entry into this app, on either node');
});

test('two nodes on one Redis share the cap on one member’s realtime sockets', { skip }, async (t) => {
  const prefix = uniquePrefix();
  const redis = new Redis(SHARED_REDIS_URL);
  after(async () => {
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
  });
  const env = { REDIS_URL: SHARED_REDIS_URL, CONVENE_REDIS_PREFIX: prefix, CONVENE_MAX_SOCKETS_PER_MEMBER: '3', CONVENE_PRESENCE_EXPIRY: 'off' };
  const a = await startTestServer(env);
  t.after(() => a.close());
  const b = await startTestServer(env);
  t.after(() => b.close());
  const ann = await member(a.opts, 'r', 'ann');
  const { WebSocket } = await import('ws');
  const open: InstanceType<typeof WebSocket>[] = [];
  t.after(() => open.forEach((ws) => ws.terminate()));
  /** Open a socket on `node`; resolves with its first message, or with its close code. */
  const connect = (node: TestServer, token: string) =>
    new Promise<{ code: number } | { message: string }>((resolve) => {
      const ws = new WebSocket(`${node.url.replace(/^http/, 'ws')}/v1/realtime?token=${encodeURIComponent(token)}`);
      open.push(ws);
      ws.on('error', () => {});
      ws.once('message', (m) => resolve({ message: String(m) }));
      ws.once('close', (code) => resolve({ code }));
    });
  // Two on A, one on B: three in all, each recorded in Redis before the next opens.
  const outcomes: string[] = [];
  for (const node of [a, b, a]) {
    const r = await connect(node, ann.userToken);
    outcomes.push('code' in r ? `closed ${r.code}` : 'open');
    // The directory records a socket just after it is accepted: wait until it counts.
    for (let i = 0; i < 50 && (await redis.keys(`${prefix}presence:sockets:*`)).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(outcomes, ['open', 'open', 'open']);
  // The fourth, on B (which holds only one of them): over the member's cap across the cluster.
  assert.deepEqual(await connect(b, ann.userToken), { code: 4429 });
  assert.deepEqual(await connect(a, ann.userToken), { code: 4429 });
  // Another member is not affected.
  const bob = await member(b.opts, 'r', 'bob');
  assert.ok('message' in (await connect(b, bob.userToken)));
});
