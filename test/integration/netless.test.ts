// The Netless whiteboard provider (CONVENE_BOARD_PROVIDER=netless) against a stand-in of Netless' REST
// API built from its documentation (helpers/netless-standin.ts): the board of a meeting is a room the
// stand-in created with a valid admin SDK token; every member's boardToken is a writer room token for
// it that verifies; the room is banned when the meeting ends (host end, last member gone); a Netless
// failure at creation is a clear, retryable error with no meeting started; a failed ban is retried.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { qiniu, realtimeClose } from '../helpers/qiniu.ts';
import { startNetlessStandIn, verifyNetlessToken, type NetlessStandIn } from '../helpers/netless-standin.ts';
import { callAgora, type MeetingClient } from '../../client/agora.ts';
import { RealtimeClient, type RealtimeMessage } from '../../client/realtime.ts';
import { loadConfig, ConfigError } from '../../src/config.ts';
import { roomToken, sdkToken, NetlessRole } from '../../src/board/netless/tokens.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, what: string, ms = 8_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const TOKEN_TTL = 3600;
let netless: NetlessStandIn;
let s: TestServer;

function netlessEnv(n: NetlessStandIn, more: Record<string, string> = {}): Record<string, string> {
  return {
    CONVENE_BOARD_PROVIDER: 'netless',
    CONVENE_NETLESS_URL: n.url,
    CONVENE_NETLESS_AK: n.ak,
    CONVENE_NETLESS_SK: n.sk,
    CONVENE_NETLESS_TIMEOUT_MS: '400',
    CONVENE_NETLESS_RETRY_MS: '20',
    CONVENE_TOKEN_TTL: String(TOKEN_TTL),
    CONVENE_EMPTY_ROOM_TTL: '1',
    CONVENE_PRESENCE_EXPIRY: 'off',
    ...more,
  };
}

before(async () => {
  netless = await startNetlessStandIn();
  s = await startTestServer(netlessEnv(netless));
});
after(async () => {
  await s.close();
  await netless.close();
});

const key = (p: string) => `${p}-${randomUUID().slice(0, 8)}`;

async function member(roomUuid: string, name: string): Promise<MeetingClient> {
  const c = s.client();
  await c.enter({ roomUuid, roomName: roomUuid, userName: name, userUuid: `${name}-${roomUuid}` });
  return c;
}

/** A boardToken as Netless' room service checks it when the member's SDK joins the board. */
function assertJoins(boardId: string, boardToken: string, who: string): void {
  const joined = netless.checkJoin(boardId, boardToken);
  assert.ok(joined.ok, `${who}'s boardToken joins the board: ${joined.ok ? '' : joined.why}`);
  assert.equal(joined.claims.role, '1', `${who}'s token is a writer token`);
  assert.equal(joined.claims.uuid, boardId);
  assert.ok(joined.claims.expireAt! > Date.now() + (TOKEN_TTL - 60) * 1000 && joined.claims.expireAt! <= Date.now() + TOKEN_TTL * 1000, 'expires after CONVENE_TOKEN_TTL');
}

test('the board of a meeting is a Netless room made with an admin SDK token; every member gets a writer token for it', async () => {
  const roomUuid = key('netless');
  const before = netless.created.length;
  const callsBefore = netless.calls.length;
  const host = await member(roomUuid, 'host');
  const created = netless.created.slice(before);
  assert.equal(created.length, 1, 'the first entry created one Netless room');
  const board = created[0]!;
  const createCall = netless.calls.slice(callsBefore).find((c) => c.method === 'POST')!;
  assert.equal(createCall.status, 201);
  assert.ok(createCall.claims, 'the creation carried an SDK token the stand-in verified');
  assert.equal(createCall.claims.kind, 'sdk');
  assert.equal(createCall.claims.role, '0', 'an admin SDK token');
  assert.equal(createCall.claims.ak, netless.ak);
  assert.ok(createCall.claims.expireAt! > Date.now(), 'a token with an expiry');
  assert.equal(createCall.region, 'cn-hz', 'the default region, the one the v1 SDKs use');
  assert.deepEqual(createCall.body, { isRecord: false, limit: 0 });

  const others = [await member(roomUuid, 'ann'), await member(roomUuid, 'bob')];
  assert.equal(netless.created.length, before + 1, 'members joining a running meeting make no room');

  for (const [who, c] of [['host', host], ['ann', others[0]!], ['bob', others[1]!]] as const) {
    const info = await c.info();
    assert.equal(info.room.boardId, board.uuid, `${who}: room info names the Netless room`);
    assertJoins(board.uuid, info.room.boardToken, `${who} (room info)`);
    const e13 = await c.boardToken();
    assert.equal(e13.boardId, board.uuid, `${who}: E13 names the Netless room`);
    assertJoins(board.uuid, e13.boardToken, `${who} (E13)`);
  }
  // The verifier is not a rubber stamp: another room, a changed signature, another SK all fail.
  const { boardToken } = await host.boardToken();
  const other = netless.created.find((r) => r.uuid !== board.uuid);
  if (other) assert.equal(netless.checkJoin(other.uuid, boardToken).ok, false);
  const raw = Buffer.from(boardToken.slice('NETLESSROOM_'.length), 'base64url').toString();
  const tampered = 'NETLESSROOM_' + Buffer.from(raw.replace(/role=1/, 'role=0')).toString('base64url');
  assert.deepEqual(netless.checkJoin(board.uuid, tampered), { ok: false, why: 'signature mismatch' });
  assert.equal(verifyNetlessToken(boardToken, 'room', { ak: netless.ak, sk: `${netless.sk}x` }).ok, false);

  // The socket's snapshot names the same board; board sharing is pushed as cmd 5 as before.
  const frames: RealtimeMessage[] = [];
  const rt = new RealtimeClient({ baseUrl: s.url, token: others[0]!.userToken, reconnect: false });
  rt.on((m) => frames.push(m));
  await rt.connect();
  await until(() => frames.some((f) => f.type === 'snapshot'), 'the snapshot');
  const snap = frames.find((f) => f.type === 'snapshot') as unknown as { data: { room: { boardId: string; boardToken: string } } };
  assert.equal(snap.data.room.boardId, board.uuid, 'the socket snapshot names the Netless room');
  assertJoins(board.uuid, snap.data.room.boardToken, 'ann (socket)');
  await host.board(host.userId, 1);
  await until(() => frames.some((f) => 'cmd' in f && f.cmd === 5), 'cmd 5');
  const cmd5 = frames.find((f) => 'cmd' in f && f.cmd === 5) as unknown as { data: { shareBoard: number; createBoardUserId: string } };
  assert.equal(cmd5.data.shareBoard, 1);
  assert.equal(cmd5.data.createBoardUserId, host.userId);
  await rt.close();

  // With Netless, the built-in board is not on the socket.
  const boardSocket = new RealtimeClient({ baseUrl: s.url, token: others[1]!.userToken, reconnect: false, board: true, boardToken });
  await boardSocket.connect().catch(() => {});
  await until(() => boardSocket.closeCode !== null, 'the board=1 socket to be refused');
  assert.equal(boardSocket.closeCode, 4400);

  // The host ends the meeting: its room is banned, and nobody can join it any more.
  assert.equal(netless.rooms.get(board.uuid)!.isBan, false);
  await host.changeRoom({ state: 0 });
  await until(() => netless.banned.includes(board.uuid), 'the room to be banned');
  const ban = netless.calls.find((c) => c.method === 'PATCH' && c.path === `/v5/rooms/${board.uuid}` && c.status === 200)!;
  assert.equal(ban.claims!.role, '0', 'banned with an admin SDK token');
  assert.deepEqual(ban.body, { isBan: true });
  assert.deepEqual(netless.checkJoin(board.uuid, boardToken), { ok: false, why: 'room is banned' });
});

test('entries racing to start a meeting: one meeting, one board; the other rooms made are banned again', async () => {
  const roomUuid = key('race');
  const before = netless.created.length;
  const clients = await Promise.all(Array.from({ length: 6 }, (_, i) => member(roomUuid, `m${i}`)));
  const infos = await Promise.all(clients.map((c) => c.info()));
  const roomIds = new Set(infos.map((i) => i.room.roomId));
  const boardIds = new Set(infos.map((i) => i.room.boardId));
  assert.equal(roomIds.size, 1, 'one meeting');
  assert.equal(boardIds.size, 1, 'one board');
  const boardId = [...boardIds][0]!;
  const made = netless.created.slice(before).map((r) => r.uuid);
  assert.ok(made.includes(boardId), 'the board is a room the stand-in made');
  const spare = made.filter((u) => u !== boardId);
  await until(() => spare.every((u) => netless.banned.includes(u)), `the ${spare.length} spare room(s) to be banned`);
  assert.equal(netless.rooms.get(boardId)!.isBan, false, "the meeting's own board stays open");
  for (const c of clients) assertJoins(boardId, (await c.boardToken()).boardToken, c.userId);
});

test('the last member leaving ends the meeting (empty-room timeout): its room is banned', async () => {
  const roomUuid = key('leave');
  const a = await member(roomUuid, 'a');
  const b = await member(roomUuid, 'b');
  const { boardId } = await a.boardToken();
  await a.exit();
  await sleep(300);
  assert.equal(netless.rooms.get(boardId)!.isBan, false, 'still open while a member is in');
  await b.exit();
  await until(() => netless.banned.includes(boardId), 'the room to be banned after the meeting ends', 10_000);
  assert.equal((await s.meeting.room(a.roomId))!.ended, true, 'the meeting ended');
});

test('a Netless failure at meeting creation: a clear retryable error, no meeting started; a retry succeeds', async () => {
  const faults = [
    { fault: { on: 'create' as const, status: 500 }, answered: '500' },
    { fault: { on: 'create' as const, status: 429, retryAfterS: 7 }, answered: '429' },
    { fault: { on: 'create' as const, status: 503, message: 'maintenance' }, answered: '503' },
    { fault: { on: 'create' as const, delayMs: 900 }, answered: 'did not answer' },
  ];
  for (const { fault, answered } of faults) {
    const roomUuid = key('fail');
    const before = netless.created.length;
    netless.inject(fault);
    const body = { roomUuid, roomName: roomUuid, userName: 'first', userUuid: `first-${roomUuid}` };
    const res = await fetch(`${s.url}/apps/${s.creds.appId}/v1/room/entry`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${s.creds.customerId}:${s.creds.customerSecret}`).toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200, 'the Agora envelope, as for every answer');
    const env = (await res.json()) as { code: number; msg: string; data: unknown };
    assert.equal(env.code, 503, `${answered}: code 503 (retry)`);
    assert.match(env.msg, /whiteboard could not be created/);
    assert.ok(env.msg.includes(answered), `${answered}: the message says what Netless did: ${env.msg}`);
    assert.equal(env.data, null);
    assert.equal(res.headers.get('retry-after'), 'retryAfterS' in fault ? '7' : '1');
    assert.equal(await s.meeting.runningRoom(s.creds.appId, roomUuid), null, 'no meeting was started');
    assert.equal((await s.meeting.listRooms({ appId: s.creds.appId, activeOnly: false, prefix: roomUuid, offset: 0, limit: 10 })).total, 0, 'nothing of it stored');
    if ('delayMs' in fault) {
      // Netless made the room after Convene gave up: an orphan at Netless, never a board of a meeting.
      await until(() => netless.created.length > before, 'the late room');
    } else assert.equal(netless.created.length, before, 'Netless made nothing');

    const again = await callAgora<{ roomId: string }>(s.opts, 'POST', '/entry', body);
    assert.equal(again.code, 0, `the retry succeeds: ${again.msg}`);
    const room = await s.meeting.room(again.data.roomId);
    assert.equal(room!.boardId, netless.created.at(-1)!.uuid, 'its board is the room made for the retry');
  }
});

test('a ban that fails is retried with backoff until Netless takes it (500, 429 with Retry-After, no answer)', async () => {
  const host = await member(key('ban'), 'host');
  const { boardId } = await host.boardToken();
  netless.inject({ on: 'ban', status: 500 }, { on: 'ban', status: 429, retryAfterS: 1 }, { on: 'ban', delayMs: 900 });
  const t0 = Date.now();
  await host.changeRoom({ state: 0 });
  await until(() => netless.banned.includes(boardId), 'the ban to be taken', 15_000);
  const attempts = netless.calls.filter((c) => c.method === 'PATCH' && c.path === `/v5/rooms/${boardId}`);
  assert.deepEqual(attempts.map((c) => c.status).slice(0, 2), [500, 429]);
  assert.ok(attempts.length >= 4, `attempts: ${attempts.map((c) => c.status).join(', ')}`);
  assert.ok(attempts[2]!.at - attempts[1]!.at >= 950, 'the 429 Retry-After (1 s) was honoured');
  assert.equal(attempts.at(-1)!.status, 200);
  assert.ok(Date.now() - t0 < 15_000);
});

test('wrong Netless credentials: the stand-in refuses the SDK token (401) and the entry says so, starting nothing', async () => {
  const bad = await startTestServer(netlessEnv(netless, { CONVENE_NETLESS_SK: `${netless.sk}-wrong` }));
  try {
    const before = netless.calls.length;
    const roomUuid = key('badkey');
    const env = await callAgora(bad.opts, 'POST', '/entry', { roomUuid, roomName: roomUuid, userName: 'x', userUuid: 'x' });
    assert.equal(env.code, 503);
    assert.match(env.msg, /answered 401/);
    const call = netless.calls.slice(before).find((c) => c.method === 'POST')!;
    assert.equal(call.status, 401);
    assert.equal(await bad.meeting.runningRoom(bad.creds.appId, roomUuid), null);
  } finally {
    await bad.close();
  }
});

test('the stand-in refuses what Netless refuses: no or bad token, too low a role, bad body, bad region, unknown path', async () => {
  const keys = { ak: netless.ak, sk: netless.sk };
  const call = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
    const res = await fetch(netless.url + path, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, message: ((await res.json()) as { message?: string }).message };
  };
  const admin = () => sdkToken(keys, NetlessRole.admin, 60_000);
  const created = await call('POST', '/v5/rooms', { token: admin(), region: 'us-sv' }, {});
  assert.equal(created.status, 201);
  const uuid = netless.created.at(-1)!.uuid;
  const cases: [string, Awaited<ReturnType<typeof call>>, number][] = [
    ['no token', await call('POST', '/v5/rooms', { region: 'us-sv' }, {}), 401],
    ['another SK', await call('POST', '/v5/rooms', { token: sdkToken({ ak: keys.ak, sk: 'other' }, NetlessRole.admin, 60_000), region: 'us-sv' }, {}), 401],
    ['another AK', await call('POST', '/v5/rooms', { token: sdkToken({ ak: 'other', sk: keys.sk }, NetlessRole.admin, 60_000), region: 'us-sv' }, {}), 401],
    ['expired', await call('POST', '/v5/rooms', { token: sdkToken(keys, NetlessRole.admin, 1_000, Date.now() - 5_000), region: 'us-sv' }, {}), 401],
    ['a room token', await call('PATCH', `/v5/rooms/${uuid}`, { token: roomToken(keys, uuid, NetlessRole.admin, 60_000), region: 'us-sv' }, { isBan: true }), 403],
    ['a reader creates', await call('POST', '/v5/rooms', { token: sdkToken(keys, NetlessRole.reader, 60_000), region: 'us-sv' }, {}), 403],
    ['a writer bans', await call('PATCH', `/v5/rooms/${uuid}`, { token: sdkToken(keys, NetlessRole.writer, 60_000), region: 'us-sv' }, { isBan: true }), 403],
    ['no isBan', await call('PATCH', `/v5/rooms/${uuid}`, { token: admin(), region: 'us-sv' }, { ban: true }), 400],
    ['bad limit', await call('POST', '/v5/rooms', { token: admin(), region: 'us-sv' }, { limit: -1 }), 400],
    ['no region', await call('POST', '/v5/rooms', { token: admin() }, {}), 400],
    ['another region', await call('PATCH', `/v5/rooms/${uuid}`, { token: admin(), region: 'sg' }, { isBan: true }), 404],
    ['unknown room', await call('PATCH', '/v5/rooms/nope', { token: admin(), region: 'us-sv' }, { isBan: true }), 404],
    ['unknown path', await call('POST', '/v5/room', { token: admin(), region: 'us-sv' }, {}), 404],
  ];
  for (const [what, got, status] of cases) {
    assert.equal(got.status, status, `${what}: ${got.message}`);
    assert.ok(got.message, `${what}: a message says why`);
  }
  assert.equal(netless.rooms.get(uuid)!.isBan, false, 'none of those banned the room');
  assert.equal((await call('PATCH', `/v5/rooms/${uuid}`, { token: admin(), region: 'us-sv' }, { isBan: true })).status, 200);
  assert.equal(netless.rooms.get(uuid)!.isBan, true);
});

test('configuration: netless needs AK and SK; region and URL are checked; other providers ignore CONVENE_NETLESS_*', () => {
  assert.throws(() => loadConfig({ CONVENE_BOARD_PROVIDER: 'netless' }), (e: unknown) => e instanceof ConfigError && /CONVENE_NETLESS_AK and CONVENE_NETLESS_SK/.test(e.message));
  assert.throws(
    () => loadConfig({ CONVENE_BOARD_PROVIDER: 'netless', CONVENE_NETLESS_AK: 'a', CONVENE_NETLESS_SK: 'b', CONVENE_NETLESS_REGION: 'mars' }),
    (e: unknown) => e instanceof ConfigError && /CONVENE_NETLESS_REGION="mars"/.test(e.message),
  );
  assert.throws(
    () => loadConfig({ CONVENE_BOARD_PROVIDER: 'netless', CONVENE_NETLESS_AK: 'a', CONVENE_NETLESS_SK: 'b', CONVENE_NETLESS_URL: 'ftp://x' }),
    (e: unknown) => e instanceof ConfigError && /CONVENE_NETLESS_URL/.test(e.message),
  );
  const c = loadConfig({ CONVENE_BOARD_PROVIDER: 'netless', CONVENE_NETLESS_AK: 'a', CONVENE_NETLESS_SK: 'b' });
  assert.deepEqual(c.netless, { url: 'https://api.netless.link', ak: 'a', sk: 'b', region: 'cn-hz', timeoutMs: 10_000, retryMs: 1_000 });
  assert.equal(loadConfig({ CONVENE_NETLESS_REGION: 'mars' }).netless, null, 'builtin: the Netless settings are not read');
  assert.equal(loadConfig({}).boardProvider, 'builtin');
});

test('a Netless failure when a RoomToken starts the meeting on the realtime socket: close 1013 saying so; the retry enters', async () => {
  const cred = new qiniu.Credentials(s.bootstrapped.accessKey, s.bootstrapped.secretKey);
  const roomName = key('qiniu');
  const token = qiniu.room.getRoomToken({ appId: s.bootstrapped.appId, roomName, userId: 'qiniu-user', expireAt: Math.floor(Date.now() / 1000) + 3600, permission: 'user' }, cred);
  netless.inject({ on: 'create', status: 500 });
  const closed = await realtimeClose(s.url, token);
  assert.equal(closed.code, 1013, closed.reason);
  assert.match(closed.reason, /whiteboard could not be created/);
  assert.equal(await s.meeting.runningRoom(s.bootstrapped.appId, roomName), null, 'no meeting was started');
  const rt = new RealtimeClient({ baseUrl: s.url, token, reconnect: false });
  const snap = rt.waitFor((m: RealtimeMessage) => m.type === 'snapshot');
  await rt.connect();
  const first = (await snap) as Extract<RealtimeMessage, { type: 'snapshot' }>;
  await rt.close();
  assert.equal(first.data.room.boardId, netless.created.at(-1)!.uuid, 'the retry made the board and entered');
});
