// HTTP conformance of the Agora Meeting v1 client API (spec agora-meeting-v1.md): path forms,
// envelope, field encodings, the events each mutation commits, paging, entry rules, CORS and the
// body/token quirks of the shipped Web/Android/iOS clients. Real server, real socket, SQLite :memory:.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { callAgora, roomPrefix, type ClientOptions, type EntryRequest, type MeetingClient } from '../../client/agora.ts';
import { agoraMessage } from '../../src/http/conf/views.ts';
import { recipientsOf } from '../../src/domain/events.ts';

type Form = NonNullable<ClientOptions['form']>;
const FORMS: Form[] = ['seed', 'client', 'scenario'];

let s: TestServer;
// Presence expiry off: these members are HTTP-only clients and must not time out mid-test.
before(async () => {
  s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
});
after(() => s.close());

// ---------------------------------------------------------------------------------------------
// Helpers

const basic = () => `Basic ${Buffer.from(`${s.creds.customerId}:${s.creds.customerSecret}`).toString('base64')}`;
const roomPath = (form: Form, rest: string) => roomPrefix(form, s.creds.appId) + rest;
const key = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

interface RawOptions {
  /** Authorization header; default: the app's Basic credentials; null: none. */
  auth?: string | null;
  token?: string;
  /** Serialised as JSON. */
  json?: unknown;
  /** Sent as is. */
  raw?: string;
  /** Default: application/json when there is a body; null: no Content-Type header. */
  contentType?: string | null;
  headers?: Record<string, string>;
}

/** A request with exactly the headers and body given (fetch adds no Content-Type of its own). */
async function http(method: string, path: string, o: RawOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...o.headers };
  const auth = o.auth === undefined ? basic() : o.auth;
  if (auth !== null) headers.authorization = auth;
  if (o.token !== undefined) headers.token = o.token;
  const body = o.raw !== undefined ? o.raw : o.json !== undefined ? JSON.stringify(o.json) : undefined;
  const ct = o.contentType === undefined ? (body !== undefined ? 'application/json' : null) : o.contentType;
  if (ct !== null) headers['content-type'] = ct;
  // fetch labels a string body text/plain on its own; bytes go out with no Content-Type.
  const res = await fetch(s.url + path, { method, headers, body: ct === null && body !== undefined ? Buffer.from(body) : body });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

function assertOk(a: Answer, ctx: string): unknown {
  assert.equal(a.status, 200, `${ctx}: HTTP status`);
  assert.deepEqual(Object.keys(a.body ?? {}).sort(), ['code', 'data', 'msg'], `${ctx}: envelope keys (${a.text.slice(0, 200)})`);
  assert.equal(a.body.code, 0, `${ctx}: code (${a.body.msg})`);
  assert.equal(a.body.msg, 'Success', `${ctx}: msg`);
  return a.body.data;
}

function assertCode(a: Answer, code: number, ctx: string): void {
  assert.equal(a.status, 200, `${ctx}: HTTP status is 200 even for errors`);
  assert.deepEqual(Object.keys(a.body ?? {}).sort(), ['code', 'data', 'msg'], `${ctx}: envelope keys`);
  assert.equal(a.body.code, code, `${ctx}: code (${a.body.msg})`);
  assert.equal(a.body.data, null, `${ctx}: data is null on error`);
  assert.equal(typeof a.body.msg, 'string');
  assert.ok(a.body.msg.length > 0, `${ctx}: msg is non-empty`);
}

async function join(roomUuid: string, name: string, extra: Partial<EntryRequest> = {}, form: Form = 'client'): Promise<MeetingClient> {
  const c = s.client(form);
  await c.enter({ roomName: roomUuid, roomUuid, userName: name, userUuid: `${roomUuid}-${name}`, ...extra });
  return c;
}

interface Msg {
  seq: number;
  type: 'channel' | 'peer' | 'server';
  cmd: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
  /** userIds a peer message goes to; null for the whole channel. */
  to: string[] | null;
}

async function messagesAfter(roomId: string, afterSeq: number): Promise<Msg[]> {
  const { events } = await s.store.eventsSince(roomId, afterSeq, 1000);
  events.forEach((e, i) => assert.equal(e.seq, afterSeq + 1 + i, `event seq values are consecutive after ${afterSeq}`));
  return events.map((e) => ({ seq: e.seq, ...agoraMessage(e.event), to: recipientsOf(e.event) }));
}

/** Run `fn` and return the messages it committed to the room's log (checking seq continuity). */
async function track(roomId: string, fn: () => Promise<unknown>): Promise<Msg[]> {
  const before = (await s.meeting.room(roomId))!.seq;
  await fn();
  const msgs = await messagesAfter(roomId, before);
  const room = (await s.meeting.room(roomId))!;
  assert.equal(room.seq, before + msgs.length, 'room.seq is the last committed seq');
  return msgs;
}

const tag = (m: Msg) => `${m.type === 'channel' ? 'ch' : m.type}${m.cmd}`;
const tags = (ms: Msg[]) => ms.map(tag);

const MEMBER_FIELDS = ['userId', 'userName', 'role', 'enableChat', 'enableVideo', 'enableAudio', 'grantBoard', 'grantScreen', 'uid', 'screenId'];
const ROOM_FIELDS = [
  'roomId', 'roomUuid', 'roomName', 'channelName', 'password', 'muteAllChat', 'muteAllAudio', 'state', 'startTime',
  'onlineUsers', 'hosts', 'shareBoard', 'createBoardUserId', 'shareBoardUsers', 'shareScreen', 'shareScreenUsers', 'locked',
  'boardId', 'boardToken',
];
const ME_EXTRA = ['userUuid', 'rtcToken', 'rtmToken', 'screenToken', 'state'];
const ID = /^[A-Za-z0-9_-]{22}$/;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function assertMember(m: any, ctx: string, extra: string[] = []): void {
  const expected = [...MEMBER_FIELDS, ...extra, ...(m && 'avatar' in m ? ['avatar'] : [])].sort();
  assert.deepEqual(Object.keys(m).sort(), expected, `${ctx}: member fields`);
  // The uid in decimal: iOS reads userIds with integerValue, and RTM logs in as String(uid).
  assert.equal(m.userId, String(m.uid), `${ctx}.userId is String(uid)`);
  assert.equal(typeof m.userName, 'string');
  assert.ok(m.role === 1 || m.role === 2, `${ctx}.role is 1 or 2`);
  for (const f of ['enableChat', 'enableVideo', 'enableAudio', 'grantBoard', 'grantScreen']) {
    assert.ok(m[f] === 0 || m[f] === 1, `${ctx}.${f} is the integer 0 or 1, got ${JSON.stringify(m[f])}`);
  }
  for (const f of ['uid', 'screenId']) {
    assert.ok(Number.isInteger(m[f]) && m[f] >= 1 && m[f] <= 2 ** 31 - 1, `${ctx}.${f} in 1..2^31-1`);
  }
  if ('avatar' in m) assert.ok(typeof m.avatar === 'string' && m.avatar.length > 0, `${ctx}.avatar only when non-empty`);
  if (extra.includes('state')) assert.ok(m.state === 0 || m.state === 1, `${ctx}.state is 0 or 1`);
}

// ---------------------------------------------------------------------------------------------
// §1, §4.1: every endpoint under every path form, with identical behaviour

interface Step {
  step: string;
  code: number;
  data: unknown;
  cmds: string[];
}

/** Walk every endpoint of §4.1 through one path form; the trace leaves out ids so forms compare. */
async function scenario(form: Form): Promise<Step[]> {
  const opts: ClientOptions = { ...s.opts, form };
  const roomUuid = key(`forms-${form}`);
  const trace: Step[] = [];
  let roomId = '';
  const shape = (data: unknown): unknown => {
    if (data === null || typeof data !== 'object') return data;
    if (Array.isArray(data)) return data.length;
    const d = data as Record<string, unknown>;
    if ('list' in d) return { count: d.count, total: d.total, list: (d.list as unknown[]).length, nextId: typeof d.nextId };
    return Object.keys(d).sort();
  };
  const step = async (name: string, method: 'GET' | 'POST', path: string, body?: unknown, token?: string) => {
    const before = roomId ? (await s.meeting.room(roomId))!.seq : 0;
    const env = await callAgora(opts, method, path, body, token);
    if (!roomId && env.code === 0) roomId = (env.data as { roomId: string }).roomId;
    const cmds = roomId ? tags(await messagesAfter(roomId, before)) : [];
    trace.push({ step: name, code: env.code, data: env.code === 0 ? shape(env.data) : env.msg, cmds });
    return env;
  };

  const entry = (name: string) => ({ roomName: roomUuid, roomUuid, userName: name, userUuid: `${roomUuid}-${name}` });
  const h = (await step('E1 host entry', 'POST', '/entry', entry('Host'))).data as { userToken: string };
  const p = (await step('E1 participant entry', 'POST', '/entry', entry('Pat'))).data as { userToken: string };
  const info = (await callAgora(opts, 'GET', `/${roomId}`, undefined, h.userToken)).data as {
    room: { hosts: { userId: string }[] };
    user: { userId: string };
  };
  const hostId = info.user.userId;
  const pInfo = (await callAgora(opts, 'GET', `/${roomId}`, undefined, p.userToken)).data as { user: { userId: string } };
  const patId = pInfo.user.userId;

  await step('E2 get room', 'GET', `/${roomId}`, undefined, h.userToken);
  await step('E3 change room', 'POST', `/${roomId}`, { muteAllChat: 1 }, h.userToken);
  await step('E4 user page', 'GET', `/${roomId}/user/page?role=2&count=10`, undefined, h.userToken);
  await step('E5 change user', 'POST', `/${roomId}/user/${patId}`, { enableVideo: 1 }, h.userToken);
  await step('E6 host invite', 'POST', `/${roomId}/user/${patId}/host/invite`, { type: 1, action: 1 }, h.userToken);
  await step('E7 audience apply', 'POST', `/${roomId}/user/${hostId}/audience/apply`, { type: 2, action: 1 }, p.userToken);
  await step('E8 screen on', 'POST', `/${roomId}/user/${patId}/screen`, { state: 1 }, p.userToken);
  await step('E8 screen off', 'POST', `/${roomId}/user/${patId}/screen`, { state: 0 }, p.userToken);
  await step('E16 room screen on', 'POST', `/${roomId}/screen`, { state: 1 }, p.userToken);
  await step('E16 room screen off', 'POST', `/${roomId}/screen`, { state: 0 }, p.userToken);
  await step('E9 board', 'POST', `/${roomId}/user/${patId}/board`, { state: 1 }, p.userToken);
  await step('E13 board token', 'GET', `/${roomId}/board`, undefined, h.userToken);
  await step('E14 token refresh', 'POST', `/${roomId}/token/refresh`, undefined, h.userToken);
  await step('E15 simple', 'GET', `/${roomId}/simple`);
  await step('§4.4 record start', 'POST', `/${roomId}/record/start`, {}, h.userToken);
  await step('§4.4 room exit', 'POST', `/${roomId}/exit`, {}, h.userToken);
  await step('E10 transfer host', 'POST', `/${roomId}/user/${patId}/host`, undefined, h.userToken);
  await step('E12 chat', 'POST', `/${roomId}/chat`, { message: 'hello', type: 1 }, p.userToken);
  await step('E11 kick', 'POST', `/${roomId}/user/${hostId}/exit`, undefined, p.userToken);
  await step('E11 leave', 'POST', `/${roomId}/user/${patId}/exit`, undefined, p.userToken);
  return trace;
}

test('§1/§4.1: every endpoint works under all three path forms with identical behaviour', async () => {
  const traces = new Map<Form, Step[]>();
  for (const form of FORMS) traces.set(form, await scenario(form));
  const seed = traces.get('seed')!;
  const expected: [string, number, string[]][] = [
    ['E1 host entry', 0, ['ch2']],
    ['E1 participant entry', 0, ['ch2']],
    ['E2 get room', 0, []],
    ['E3 change room', 0, ['ch3']],
    ['E4 user page', 0, []],
    ['E5 change user', 0, ['ch4', 'peer3']],
    ['E6 host invite', 0, ['peer1']],
    ['E7 audience apply', 0, ['peer2']],
    // A share that starts: the sharer's cmd 4 first (the Web client's order), then cmd 6.
    ['E8 screen on', 0, ['ch4', 'ch6']],
    ['E8 screen off', 0, ['ch6', 'ch4']],
    ['E16 room screen on', 0, ['ch4', 'ch6']],
    ['E16 room screen off', 0, ['ch6', 'ch4']],
    ['E9 board', 0, ['ch5', 'ch4']],
    ['E13 board token', 0, []],
    ['E14 token refresh', 0, []],
    ['E15 simple', 0, []],
    ['§4.4 record start', 404, []],
    ['§4.4 room exit', 404, []],
    ['E10 transfer host', 0, ['ch7']],
    ['E12 chat', 0, ['ch1']],
    ['E11 kick', 0, ['ch8', 'ch2']],
    // The leaver created the board and held the host role: board stops (ch 5), host list changes (ch 7).
    ['E11 leave', 0, ['ch2', 'ch5', 'ch7']],
  ];
  assert.deepEqual(
    seed.map((t) => [t.step, t.code, t.cmds]),
    expected,
  );
  assert.deepEqual(seed.find((t) => t.step === 'E1 host entry')!.data, ['roomId', 'userToken']);
  assert.deepEqual(seed.find((t) => t.step === 'E4 user page')!.data, { count: 1, total: 1, list: 1, nextId: 'string' });
  assert.deepEqual(seed.find((t) => t.step === 'E13 board token')!.data, ['boardId', 'boardToken']);
  assert.deepEqual(seed.find((t) => t.step === 'E14 token refresh')!.data, ['rtcToken', 'rtmToken', 'screenToken']);
  assert.deepEqual(seed.find((t) => t.step === 'E15 simple')!.data, ['channelName', 'password', 'roomId', 'roomName', 'roomUuid']);
  for (const t of seed) if (t.code === 0 && t.step !== 'E1 host entry' && t.step !== 'E1 participant entry' && t.cmds.length > 0) {
    assert.equal(t.data, true, `${t.step}: a mutation answers data: true`);
  }
  for (const t of seed.filter((x) => x.step.startsWith('§4.4'))) assert.match(String(t.data), /not supported/);
  assert.deepEqual(traces.get('client'), seed, 'client form behaves like the seed form');
  assert.deepEqual(traces.get('scenario'), seed, 'scenario form behaves like the seed form');
});

test('§1: a userToken from one path form is accepted under the others (same room)', async () => {
  const roomUuid = key('cross');
  const host = await join(roomUuid, 'Host', {}, 'seed');
  for (const form of FORMS) {
    const info = assertOk(await http('GET', roomPath(form, `/${host.roomId}`), { token: host.userToken }), form) as {
      room: { roomId: string };
      user: { userId: string };
    };
    assert.equal(info.room.roomId, host.roomId);
    assert.equal(info.user.userId, host.userId);
  }
});

// ---------------------------------------------------------------------------------------------
// §4.3 app-level endpoints

test('§4.3: multi/language and app/version under /v1 and /scenario/meeting/v1, without credentials', async () => {
  const codes = ['0', '400', '401', '403', '404', '500', '1001', '1002', '1003', '1004', '1005', '1006', '1007'];
  for (const prefix of ['/v1', '/scenario/meeting/v1']) {
    const lang = assertOk(await http('GET', `${prefix}/multi/language`, { auth: null }), `${prefix}/multi/language`) as Record<
      string,
      Record<string, string>
    >;
    assert.ok(lang['zh-cn'] && lang['en-us'], `${prefix}: zh-cn and en-us maps`);
    for (const l of ['zh-cn', 'en-us']) {
      for (const c of codes) {
        const text = lang[l]![c];
        assert.ok(typeof text === 'string' && text.length > 0, `${prefix} ${l} has a text for code ${c}`);
      }
      // Android reads Map<Integer,String>: every key must be an integer.
      for (const k of Object.keys(lang[l]!)) assert.match(k, /^\d+$/, `${l} key ${k}`);
    }
    assert.notEqual(lang['zh-cn']!['1002'], lang['en-us']!['1002'], 'the two languages differ');

    const q = 'appCode=meeting&osType=2&terminalType=1&appVersion=1.0.1';
    const v = assertOk(await http('GET', `${prefix}/app/version?${q}`, { auth: null }), `${prefix}/app/version`);
    assert.deepEqual(v, {
      appCode: 'meeting',
      osType: 2,
      terminalType: 1,
      appVersion: '1.0.1',
      latestVersion: '1.0.1',
      appPackage: '',
      upgradeDescription: '',
      forcedUpgrade: 0,
      upgradeUrl: '',
      reviewing: 0,
      remindTimes: 0,
      // The iOS app's error texts: the same maps as multi/language.
      config: { multiLanguage: lang },
    });
    // With the Basic header the clients always send, still fine.
    assertOk(await http('GET', `${prefix}/multi/language`), `${prefix}/multi/language with Basic`);
    const log = await http('GET', `${prefix}/log/params`, { auth: null });
    assertCode(log, 404, `${prefix}/log/params`);
    assert.match(log.body.msg, /not supported/);
  }
});

// ---------------------------------------------------------------------------------------------
// §2.3 envelope

test('§2.3: success and error envelopes, HTTP 200 always, data true for mutations', async () => {
  const roomUuid = key('env');
  const host = await join(roomUuid, 'Host', { password: 'pw' });
  const pat = await join(roomUuid, 'Pat', { password: 'pw' });
  const get = await http('GET', roomPath('client', `/${host.roomId}`), { token: host.userToken });
  assert.match(get.headers.get('content-type') ?? '', /application\/json/);
  assertOk(get, 'GET room');
  assert.equal(assertOk(await http('POST', roomPath('client', `/${host.roomId}`), { token: host.userToken, json: { muteAllChat: 1 } }), 'E3'), true);
  assert.equal(assertOk(await http('POST', roomPath('client', `/${host.roomId}/chat`), { token: host.userToken, json: { message: 'x', type: 1 } }), 'E12'), true);
  assertCode(await http('POST', roomPath('client', `/${host.roomId}`), { token: pat.userToken, json: { muteAllChat: 0 } }), 403, 'participant E3');
  assertCode(await http('POST', roomPath('client', `/${host.roomId}/chat`), { token: pat.userToken, json: { message: 'x', type: 1 } }), 1004, 'muted chat');
  assertCode(
    await http('POST', roomPath('client', '/entry'), { json: { roomName: roomUuid, roomUuid, userName: 'X', userUuid: 'x', password: 'no' } }),
    1002,
    'wrong password',
  );
  assertCode(await http('GET', roomPath('client', `/${host.roomId}`), { token: 'nope' }), 401, 'bad token');
  assertCode(await http('GET', roomPath('client', `/${host.roomId}`), { auth: null, token: host.userToken }), 1001, 'no Basic');
  assertCode(await http('GET', '/apps/0123456789abcdef0123456789abcdef/v1/room/x'), 404, 'unknown app');
});

// ---------------------------------------------------------------------------------------------
// §3 field names and encodings

test('§3.1-3.3: GET room has the exact Room, Member and Me fields with integer encodings', async () => {
  const roomUuid = key('fields');
  const t0 = Date.now();
  const host = await join(roomUuid, 'Host', { password: 'pw', avatar: 'https://img.example/h.png', enableAudio: 1, enableVideo: 1 });
  const t1 = Date.now();
  const pat = await join(roomUuid, 'Pat', { password: 'pw' });
  await pat.screen(pat.userId, 1);
  await host.board(host.userId, 1);
  await host.board(pat.userId, 1);

  const { room, user } = (await pat.info()) as unknown as { room: Record<string, unknown>; user: Record<string, unknown> };
  assert.deepEqual(Object.keys(room).sort(), [...ROOM_FIELDS].sort(), 'Room fields');
  assert.match(room.roomId as string, ID);
  assert.equal(room.roomUuid, roomUuid);
  assert.equal(room.roomName, roomUuid);
  assert.equal(room.channelName, room.roomId, 'channelName = roomId');
  assert.equal(room.password, 'pw');
  assert.equal(room.muteAllChat, 0);
  assert.equal(room.muteAllAudio, 0);
  assert.equal(room.state, 1);
  assert.ok(Number.isInteger(room.startTime) && (room.startTime as number) >= t0 && (room.startTime as number) <= t1, 'startTime in epoch ms');
  assert.equal(room.onlineUsers, 2);
  assert.equal(room.shareBoard, 1);
  assert.equal(room.createBoardUserId, host.userId);
  assert.equal(room.shareScreen, 1);
  assert.ok(typeof room.boardId === 'string' && room.boardId !== '');
  assert.ok(typeof room.boardToken === 'string' && room.boardToken !== '');

  const hosts = room.hosts as Record<string, unknown>[];
  assert.equal(hosts.length, 1);
  assertMember(hosts[0], 'hosts[0]');
  assert.equal(hosts[0]!.userId, host.userId);
  assert.equal(hosts[0]!.role, 1);
  assert.equal(hosts[0]!.avatar, 'https://img.example/h.png', 'avatar echoed when non-empty');
  assert.equal(hosts[0]!.enableAudio, 1);
  assert.equal(hosts[0]!.enableVideo, 1);
  const boardUsers = room.shareBoardUsers as Record<string, unknown>[];
  assert.deepEqual(boardUsers.map((m) => m.userId).sort(), [host.userId, pat.userId].sort());
  boardUsers.forEach((m, i) => assertMember(m, `shareBoardUsers[${i}]`));
  const screenUsers = room.shareScreenUsers as Record<string, unknown>[];
  assert.equal(screenUsers.length, 1);
  assertMember(screenUsers[0], 'shareScreenUsers[0]');
  assert.equal(screenUsers[0]!.userId, pat.userId);
  assert.equal(screenUsers[0]!.grantScreen, 1);

  assertMember(user, 'user (Me)', ME_EXTRA);
  assert.ok(!('avatar' in user), 'no avatar key when none was given');
  assert.equal(user.userId, pat.userId);
  assert.equal(user.userUuid, `${roomUuid}-Pat`);
  assert.equal(user.userName, 'Pat');
  assert.equal(user.role, 2);
  assert.equal(user.state, 1);
  assert.equal(user.enableChat, 1);
  assert.equal(user.enableAudio, 0, 'absent enableAudio = 0');
  assert.equal(user.enableVideo, 0, 'absent enableVideo = 0');
  assert.equal(user.grantBoard, 1);
  assert.equal(user.grantScreen, 1);
  for (const f of ['rtcToken', 'rtmToken', 'screenToken']) assert.match(user[f] as string, /^007/, `${f} is an AccessToken2`);
  // §2.5: uid and screenId are unique within the room, no screenId equals any uid.
  const hostMe = (await host.info()).user;
  const ids = [user.uid, user.screenId, hostMe.uid, hostMe.screenId];
  assert.equal(new Set(ids).size, 4, 'uids and screenIds are distinct');
});

test('§4.2 E13/E14/E15: board, token refresh and simple have exactly their fields', async () => {
  const roomUuid = key('e13');
  const host = await join(roomUuid, 'Host', { password: 'pw' });
  const { room, user } = await host.info();

  const board = assertOk(await http('GET', roomPath('client', `/${host.roomId}/board`), { token: host.userToken }), 'E13') as Record<string, string>;
  assert.deepEqual(Object.keys(board).sort(), ['boardId', 'boardToken']);
  assert.equal(board.boardId, room.boardId, 'same board as in room info');
  assert.ok(board.boardToken!.length > 0);

  const r1 = assertOk(await http('POST', roomPath('client', `/${host.roomId}/token/refresh`), { token: host.userToken }), 'E14') as Record<string, string>;
  const r2 = assertOk(await http('POST', roomPath('client', `/${host.roomId}/token/refresh`), { token: host.userToken }), 'E14 again') as Record<string, string>;
  assert.deepEqual(Object.keys(r1).sort(), ['rtcToken', 'rtmToken', 'screenToken']);
  for (const f of ['rtcToken', 'rtmToken', 'screenToken'] as const) {
    assert.match(r1[f]!, /^007/, `${f} starts with 007`);
    assert.match(r2[f]!, /^007/);
    assert.notEqual(r1[f], user[f], `${f} is freshly minted (differs from the one in GET room)`);
    assert.notEqual(r1[f], r2[f], `${f} is freshly minted on every refresh`);
  }
  assert.notEqual(r1.rtcToken, r1.screenToken, 'camera and screen tokens are for different uids');

  // No token needed for simple (spec §2.1).
  const simple = assertOk(await http('GET', roomPath('client', `/${host.roomId}/simple`)), 'E15');
  assert.deepEqual(simple, {
    roomId: room.roomId,
    roomUuid: room.roomUuid,
    roomName: room.roomName,
    channelName: room.channelName,
    password: 'pw',
  });
});

// ---------------------------------------------------------------------------------------------
// §4.2/§5: the events each mutation commits

test('E1: entry emits cmd 2 with state 1 and total; re-entry emits cmd 4', async () => {
  const roomUuid = key('e1');
  const host = await join(roomUuid, 'Host', { enableAudio: 1 });
  const first = await messagesAfter(host.roomId, 0);
  assert.deepEqual(tags(first), ['ch2']);
  assert.equal(first[0]!.seq, 1);
  assert.equal(first[0]!.data.total, 1);
  assert.equal(first[0]!.data.list.length, 1);
  assertMember(first[0]!.data.list[0], 'cmd 2 list[0]', ['state']);
  assert.equal(first[0]!.data.list[0].state, 1);
  assert.equal(first[0]!.data.list[0].userId, host.userId);
  assert.equal(first[0]!.data.list[0].role, 1);
  assert.equal(first[0]!.data.list[0].enableAudio, 1);

  let pat!: MeetingClient;
  const second = await track(host.roomId, async () => {
    pat = await join(roomUuid, 'Pat');
  });
  assert.deepEqual(tags(second), ['ch2']);
  assert.deepEqual(Object.keys(second[0]!.data).sort(), ['list', 'total']);
  assert.equal(second[0]!.data.total, 2);
  assert.equal(second[0]!.data.list[0].userId, pat.userId);
  assert.equal(second[0]!.data.list[0].role, 2);
  assert.equal(second[0]!.data.list[0].state, 1);
  assert.equal(second[0]!.to, null, 'channel message');

  const again = await track(host.roomId, () => join(roomUuid, 'Pat', { enableVideo: 1 }));
  assert.deepEqual(tags(again), ['ch4'], 're-entry emits cmd 4 instead of cmd 2');
  assertMember(again[0]!.data, 'cmd 4', ['state']);
  assert.equal(again[0]!.data.state, 1, 'cmd 4 carries state 1 (Web applies it only then)');
  assert.equal(again[0]!.data.userId, pat.userId, 're-entry keeps the userId');
  assert.equal(again[0]!.data.enableVideo, 1);
});

test('E3: muteAllAudio/muteAllChat emit one cmd 3 always carrying all three fields; state 0 ends the meeting', async () => {
  const roomUuid = key('e3');
  const host = await join(roomUuid, 'Host', { enableAudio: 1 });
  const pat = await join(roomUuid, 'Pat', { enableAudio: 1 });
  assert.equal((await pat.info()).user.enableAudio, 1);

  const m1 = await track(host.roomId, () => host.changeRoom({ muteAllAudio: 2 }));
  assert.deepEqual(tags(m1), ['ch3'], 'mute-all audio emits cmd 3 only');
  assert.deepEqual(m1[0]!.data, { muteAllChat: 0, muteAllAudio: 2, state: 1, locked: 0 });
  const after1 = await host.info();
  assert.equal(after1.room.muteAllAudio, 2);
  assert.equal((await pat.info()).user.enableAudio, 0, 'non-hosts muted in the same commit');
  assert.equal(after1.user.enableAudio, 1, 'the host keeps its audio');

  const m2 = await track(host.roomId, () => host.changeRoom({ muteAllChat: 1 }));
  assert.deepEqual(tags(m2), ['ch3']);
  assert.deepEqual(m2[0]!.data, { muteAllChat: 1, muteAllAudio: 2, state: 1, locked: 0 }, 'cmd 3 carries all four fields');

  const m3 = await track(host.roomId, () => host.changeRoom({ muteAllAudio: 0, muteAllChat: 0 }));
  // Chat reopened: each participant whose chat is on is restated (the Android app zeroed it).
  assert.deepEqual(tags(m3), ['ch3', 'ch4'], 'one cmd 3 for a combined change, then the participant restated');
  assert.equal(m3[1]!.data.userId, pat.userId);
  assert.equal(m3[1]!.data.enableChat, 1);
  assert.deepEqual(m3[0]!.data, { muteAllChat: 0, muteAllAudio: 0, state: 1, locked: 0 });
  assert.equal((await pat.info()).user.enableAudio, 0, 'muteAllAudio 0 re-enables nobody');

  const m4 = await track(host.roomId, () => host.changeRoom({ shareBoard: 1 }));
  assert.deepEqual(tags(m4), ['ch5'], 'iOS shareBoard starts the board');
  assert.equal(m4[0]!.data.shareBoard, 1);
  assert.equal(m4[0]!.data.createBoardUserId, host.userId);

  const end = await track(host.roomId, () => host.changeRoom({ state: 0 }));
  assert.deepEqual(tags(end), ['ch3']);
  assert.deepEqual(end[0]!.data, { muteAllChat: 0, muteAllAudio: 0, state: 0, locked: 0 });
  assertCode(await http('GET', roomPath('client', `/${host.roomId}`), { token: host.userToken }), 401, 'host token after end');
  assertCode(await http('GET', roomPath('client', `/${host.roomId}`), { token: pat.userToken }), 401, 'participant token after end');
  assertCode(await http('GET', roomPath('client', `/${host.roomId}/simple`)), 404, 'E15 on an ended room');
});

test('E3: state 2 also ends the meeting (iOS comment), state 1 is a no-op', async () => {
  const roomUuid = key('e3b');
  const host = await join(roomUuid, 'Host');
  assert.deepEqual(await track(host.roomId, () => host.changeRoom({ state: 1 })), [], 'state 1 changes nothing');
  const end = await track(host.roomId, () => host.changeRoom({ state: 2 }));
  assert.deepEqual(tags(end), ['ch3']);
  assert.equal(end[0]!.data.state, 0, 'emits only 0/1');
  assert.equal((await s.meeting.room(host.roomId))!.ended, true);
});

test('E5: host on a participant emits cmd 4 plus one peer cmd 3 per changed field (state and action)', async () => {
  const roomUuid = key('e5');
  const host = await join(roomUuid, 'Host');
  const pat = await join(roomUuid, 'Pat');

  const m1 = await track(host.roomId, () => host.changeUser(pat.userId, { enableVideo: 1, enableChat: 0 }));
  assert.deepEqual(tags(m1), ['ch4', 'peer3', 'peer3']);
  assertMember(m1[0]!.data, 'cmd 4', ['state']);
  assert.equal(m1[0]!.data.state, 1, 'cmd 4 carries state 1');
  assert.equal(m1[0]!.data.userId, pat.userId, 'cmd 4 carries the target');
  assert.equal(m1[0]!.data.enableVideo, 1);
  assert.equal(m1[0]!.data.enableChat, 0);
  const notices = m1.slice(1).sort((a, b) => a.data.type - b.data.type);
  for (const n of notices) {
    assert.deepEqual(n.to, [pat.userId], 'peer cmd 3 goes to the target');
    assert.deepEqual(Object.keys(n.data).sort(), ['action', 'role', 'state', 'type', 'userId', 'userName']);
    assert.equal(n.data.userId, host.userId, 'sender is the actor');
    assert.equal(n.data.userName, 'Host');
    assert.equal(n.data.role, 1);
    assert.equal(n.data.state, n.data.action, 'state and action carry the same value');
  }
  assert.deepEqual(notices.map((n) => [n.data.type, n.data.state]), [[2, 1], [4, 0]]);

  const m2 = await track(host.roomId, () => host.changeUser(pat.userId, { grantBoard: 1 }));
  assert.deepEqual(tags(m2), ['ch4', 'ch5', 'peer3'], 'a grantBoard change also emits cmd 5');
  assert.equal(m2[2]!.data.type, 3);
  assert.equal(m2[2]!.data.state, 1);

  const m3 = await track(host.roomId, () => pat.changeUser(pat.userId, { enableAudio: 1 }));
  assert.deepEqual(tags(m3), ['ch4'], 'a change on oneself has no peer notice');
  assert.equal(m3[0]!.data.enableAudio, 1);

  assertCode(await http('POST', roomPath('client', `/${host.roomId}/user/${host.userId}`), { token: pat.userToken, json: { enableVideo: 0 } }), 403, 'participant on host');
});

test('E6/E7: invite → peer cmd 1 to the target; apply → peer cmd 2 to the host (Android and Web {userId})', async () => {
  const roomUuid = key('e6');
  const host = await join(roomUuid, 'Host');
  const pat = await join(roomUuid, 'Pat');

  const inv = await track(host.roomId, () => host.invite(pat.userId, 1, 1));
  assert.deepEqual(tags(inv), ['peer1']);
  assert.deepEqual(inv[0]!.to, [pat.userId]);
  assert.deepEqual(inv[0]!.data, { userId: host.userId, userName: 'Host', type: 1, action: 1 });
  const rej = await track(host.roomId, () => host.invite(pat.userId, 2, 2));
  assert.deepEqual(rej[0]!.data, { userId: host.userId, userName: 'Host', type: 2, action: 2 });
  assert.deepEqual(await track(host.roomId, () => host.invite(host.userId, 1, 1)), [], 'self-invite is a no-op');

  // Android names the host in the path.
  const android = await track(host.roomId, () => pat.apply(host.userId, 2, 1));
  assert.deepEqual(tags(android), ['peer2']);
  assert.deepEqual(android[0]!.to, [host.userId]);
  assert.deepEqual(android[0]!.data, { userId: pat.userId, userName: 'Pat', type: 2, action: 1 });
  // Web names itself for an apply: it still goes to the host.
  const web = await track(host.roomId, () => pat.apply(pat.userId, 3, 1));
  assert.deepEqual(tags(web), ['peer2']);
  assert.deepEqual(web[0]!.to, [host.userId]);
  assert.deepEqual(web[0]!.data, { userId: pat.userId, userName: 'Pat', type: 3, action: 1 });
  const reject = await track(host.roomId, () => pat.apply(host.userId, 1, 2));
  assert.deepEqual(reject[0]!.data, { userId: pat.userId, userName: 'Pat', type: 1, action: 2 });

  assertCode(await http('POST', roomPath('client', `/${host.roomId}/user/${host.userId}/audience/apply`), { token: host.userToken, json: { type: 1, action: 1 } }), 403, 'host E7');
  assertCode(await http('POST', roomPath('client', `/${host.roomId}/user/${host.userId}/host/invite`), { token: pat.userToken, json: { type: 1, action: 1 } }), 403, 'participant E6');
});

test('E8/E16: a share that starts emits cmd 4 then cmd 6, one that stops cmd 6 then cmd 4; one sharer at a time', async () => {
  const roomUuid = key('e8');
  const host = await join(roomUuid, 'Host');
  const pat = await join(roomUuid, 'Pat');

  const on = await track(host.roomId, () => pat.screen(pat.userId, 1));
  assert.deepEqual(tags(on), ['ch4', 'ch6']);
  assert.deepEqual(Object.keys(on[1]!.data).sort(), ['shareScreen', 'shareScreenUsers']);
  assert.equal(on[1]!.data.shareScreen, 1);
  assert.equal(on[1]!.data.shareScreenUsers.length, 1);
  assertMember(on[1]!.data.shareScreenUsers[0], 'shareScreenUsers[0]', ['state']);
  assert.equal(on[1]!.data.shareScreenUsers[0].userId, pat.userId);
  assert.equal(on[1]!.data.shareScreenUsers[0].grantScreen, 1);
  assert.equal(on[0]!.data.userId, pat.userId);
  assert.equal(on[0]!.data.grantScreen, 1);

  assertCode(await http('POST', roomPath('client', `/${host.roomId}/user/${host.userId}/screen`), { token: host.userToken, json: { state: 1 } }), 1006, 'second sharer');
  assertCode(await http('POST', roomPath('client', `/${host.roomId}/user/${host.userId}/screen`), { token: pat.userToken, json: { state: 1 } }), 403, "another's screen");

  const off = await track(host.roomId, () => host.screen(pat.userId, 0));
  assert.deepEqual(tags(off), ['ch6', 'ch4'], 'the host may stop it');
  assert.deepEqual(off[0]!.data, { shareScreen: 0, shareScreenUsers: [] });
  assert.equal(off[1]!.data.grantScreen, 0);

  const e16 = await track(host.roomId, () =>
    http('POST', roomPath('client', `/${host.roomId}/screen`), { token: host.userToken, json: { state: 1 } }).then((a) => assertOk(a, 'E16')),
  );
  assert.deepEqual(tags(e16), ['ch4', 'ch6']);
  assert.equal(e16[1]!.data.shareScreenUsers[0].userId, host.userId, 'E16 shares the caller');
});

test('E9: board start/grant/stop emit cmd 5 (+cmd 4)', async () => {
  const roomUuid = key('e9');
  const host = await join(roomUuid, 'Host');
  const pat = await join(roomUuid, 'Pat');
  const third = await join(roomUuid, 'Third');

  const start = await track(host.roomId, () => pat.board(pat.userId, 1));
  assert.deepEqual(tags(start), ['ch5', 'ch4']);
  assert.deepEqual(Object.keys(start[0]!.data).sort(), ['createBoardUserId', 'shareBoard', 'shareBoardUsers']);
  assert.equal(start[0]!.data.shareBoard, 1);
  assert.equal(start[0]!.data.createBoardUserId, pat.userId);
  assert.deepEqual(start[0]!.data.shareBoardUsers.map((m: { userId: string }) => m.userId), [pat.userId]);
  assert.equal(start[1]!.data.userId, pat.userId);
  assert.equal(start[1]!.data.grantBoard, 1);

  const grant = await track(host.roomId, () => host.board(third.userId, 1));
  assert.deepEqual(tags(grant), ['ch5', 'ch4']);
  assert.deepEqual(grant[0]!.data.shareBoardUsers.map((m: { userId: string }) => m.userId).sort(), [pat.userId, third.userId].sort());
  assert.equal(grant[1]!.data.userId, third.userId);

  const stop = await track(host.roomId, () => pat.board(pat.userId, 0));
  assert.equal(tag(stop[0]!), 'ch5');
  // "0" while no board is shared: the Web client's main view and iOS's integerValue read it so.
  assert.deepEqual(stop[0]!.data, { shareBoard: 0, createBoardUserId: '0', shareBoardUsers: [] });
  assert.deepEqual(stop.slice(1).map(tag), ['ch4', 'ch4']);
  assert.deepEqual(stop.slice(1).map((m) => m.data.userId).sort(), [pat.userId, third.userId].sort());
  assert.ok(stop.slice(1).every((m) => m.data.grantBoard === 0));
});

test('E10: transfer host emits cmd 7, an array of both members with state 1', async () => {
  const roomUuid = key('e10');
  const host = await join(roomUuid, 'Host');
  const pat = await join(roomUuid, 'Pat');
  const m = await track(host.roomId, () => host.transferHost(pat.userId));
  assert.deepEqual(tags(m), ['ch7']);
  assert.ok(Array.isArray(m[0]!.data));
  assert.equal(m[0]!.data.length, 2);
  m[0]!.data.forEach((x: unknown, i: number) => assertMember(x, `cmd 7[${i}]`, ['state']));
  const changes = m[0]!.data as { userId: string; role: number; state: number }[];
  const pick = (id: string) => changes.filter((x) => x.userId === id).map((x) => [x.role, x.state]);
  assert.deepEqual(pick(pat.userId), [[1, 1]], 'the new host: role 1, state 1');
  assert.deepEqual(pick(host.userId), [[2, 1]], 'the old host: role 2, state 1');
  const info = await pat.info();
  assert.deepEqual(info.room.hosts.map((h) => h.userId), [pat.userId]);
  assert.equal(info.user.role, 1);
  assertCode(await http('POST', roomPath('client', `/${host.roomId}/user/${pat.userId}/host`), { token: host.userToken }), 403, 'former host E10');
});

test('E11: kick emits cmd 8 then cmd 2 and revokes the token; self-exit stays idempotent', async () => {
  const roomUuid = key('e11');
  const host = await join(roomUuid, 'Host');
  const pat = await join(roomUuid, 'Pat');
  const other = await join(roomUuid, 'Other');
  assertCode(await http('POST', roomPath('client', `/${host.roomId}/user/${other.userId}/exit`), { token: pat.userToken }), 403, 'participant kick');

  const kick = await track(host.roomId, () => host.exit(pat.userId));
  assert.deepEqual(tags(kick), ['ch8', 'ch2']);
  assert.deepEqual(kick[0]!.data, { hostUserId: host.userId, hostUserName: 'Host', userId: pat.userId, userName: 'Pat', bannedUntil: 0 });
  assert.equal(kick[1]!.data.total, 2);
  assert.equal(kick[1]!.data.list.length, 1);
  assert.equal(kick[1]!.data.list[0].userId, pat.userId);
  assert.equal(kick[1]!.data.list[0].state, 0);
  assertCode(await http('GET', roomPath('client', `/${host.roomId}`), { token: pat.userToken }), 401, 'kicked token');
  // iOS exits after being kicked: code 0, nothing new committed.
  assert.deepEqual(await track(host.roomId, () => pat.exit()), []);
});

test('E11: the host leaving emits cmd 2 then cmd 7 with the old host (state 0) and the heir (role 1, state 1)', async () => {
  const roomUuid = key('e11h');
  const host = await join(roomUuid, 'Host');
  const first = await join(roomUuid, 'First');
  await join(roomUuid, 'Second');
  const m = await track(host.roomId, () => host.exit());
  assert.deepEqual(tags(m), ['ch2', 'ch7']);
  assert.equal(m[0]!.data.total, 2);
  assert.equal(m[0]!.data.list[0].userId, host.userId);
  assert.equal(m[0]!.data.list[0].state, 0);
  const changes = m[1]!.data as { userId: string; role: number; state: number }[];
  assert.ok(Array.isArray(changes));
  assert.equal(changes.length, 2);
  const old = changes.find((c) => c.userId === host.userId);
  const heir = changes.find((c) => c.userId === first.userId);
  assert.equal(old?.state, 0, 'old host listed with state 0');
  assert.equal(heir?.role, 1, 'earliest-joined member becomes host');
  assert.equal(heir?.state, 1);
  assert.deepEqual((await first.info()).room.hosts.map((h) => h.userId), [first.userId]);
});

test('E12: chat emits cmd 1 {userId, userName, message, type}', async () => {
  const roomUuid = key('e12');
  const host = await join(roomUuid, 'Host');
  const m = await track(host.roomId, () => host.chat('hello 👋'));
  assert.deepEqual(tags(m), ['ch1']);
  assert.deepEqual(m[0]!.data, { userId: host.userId, userName: 'Host', message: 'hello 👋', type: 1 });
  assert.equal(m[0]!.to, null);
});

test('§5: seq values of a room are gap-free from 1', async () => {
  const roomUuid = key('seq');
  const host = await join(roomUuid, 'Host');
  const pat = await join(roomUuid, 'Pat');
  await host.changeRoom({ muteAllChat: 1 });
  await host.changeUser(pat.userId, { enableVideo: 1, enableAudio: 1 });
  await pat.screen(pat.userId, 1);
  await host.exit();
  const all = await messagesAfter(host.roomId, 0);
  assert.deepEqual(all.map((m) => m.seq), all.map((_, i) => i + 1));
  assert.equal((await s.meeting.room(host.roomId))!.seq, all.length);
  assert.ok(all.length >= 10);
});

// ---------------------------------------------------------------------------------------------
// E4 user page

test('E4: role filter, cursor always after the last item, final page is list: [], "" and "0" are the first page', async () => {
  const roomUuid = key('e4');
  const host = await join(roomUuid, 'Host');
  const ps: MeetingClient[] = [];
  for (let i = 0; i < 6; i++) ps.push(await join(roomUuid, `P${i}`));
  await ps[2]!.exit(); // a gap in join order

  const online = [0, 1, 3, 4, 5].map((i) => ps[i]!.userId);
  const seen: string[] = [];
  let nextId: string | undefined;
  for (let guard = 0; guard < 10; guard++) {
    const page = await host.page({ role: 2, count: 2, nextId });
    assert.deepEqual(Object.keys(page).sort(), ['count', 'list', 'nextId', 'total']);
    assert.equal(page.total, 5, 'total counts online participants');
    assert.equal(page.count, page.list.length);
    assert.ok(page.list.length <= 2);
    page.list.forEach((m, i) => assertMember(m, `page list[${i}]`));
    assert.ok(page.list.every((m) => m.role === 2));
    assert.equal(typeof page.nextId, 'string');
    if (page.list.length === 0) break;
    assert.notEqual(page.nextId, '', 'never "" after a non-empty page');
    assert.notEqual(page.nextId, '0', 'never "0" after a non-empty page');
    assert.notEqual(page.nextId, nextId, 'the cursor moves forward');
    seen.push(...page.list.map((m) => m.userId));
    nextId = page.nextId;
  }
  assert.deepEqual(seen, online, 'all online participants, in join order, once');
  // After the final (empty) page, asking again with its cursor stays empty: the Android loop ends.
  const end = await host.page({ role: 2, count: 2, nextId });
  assert.deepEqual(end.list, []);
  assert.equal(end.count, 0);

  for (const first of ['', '0']) {
    const p = await host.page({ role: 2, count: 2, nextId: first });
    assert.deepEqual(p.list.map((m) => m.userId), online.slice(0, 2), `nextId ${JSON.stringify(first)} is the first page`);
  }
  const hosts = await host.page({ role: 1 });
  assert.equal(hosts.total, 1);
  assert.deepEqual(hosts.list.map((m) => m.userId), [host.userId]);
  const afterHosts = await host.page({ role: 1, nextId: hosts.nextId });
  assert.deepEqual(afterHosts.list, [], 'the page after the last host is empty');

  // A member leaving between pages does not make the cursor skip or repeat anyone.
  const p1 = await host.page({ role: 2, count: 2 });
  await ps[1]!.exit();
  const p2 = await host.page({ role: 2, count: 2, nextId: p1.nextId });
  assert.deepEqual(p2.list.map((m) => m.userId), [ps[3]!.userId, ps[4]!.userId]);
  assert.equal(p2.total, 4);
});

test('E4: count defaults to 100 and is capped at 100', async () => {
  const roomUuid = key('e4c');
  const host = await join(roomUuid, 'Host');
  for (let i = 0; i < 103; i++) await join(roomUuid, `P${i}`);
  const first = await host.page({ role: 2 });
  assert.equal(first.count, 100);
  assert.equal(first.total, 103);
  const capped = await host.page({ role: 2, count: 1000 });
  assert.equal(capped.count, 100, 'count above 100 is capped');
  const rest = await host.page({ role: 2, nextId: first.nextId });
  assert.equal(rest.count, 3);
  const none = await host.page({ role: 2, nextId: rest.nextId });
  assert.deepEqual(none.list, []);
});

// ---------------------------------------------------------------------------------------------
// E1 entry rules

test('E1: enableAudio/enableVideo accept ints, numeric strings and booleans; absent = 0', async () => {
  const roomUuid = key('flags');
  await join(roomUuid, 'Host');
  const cases: [string, unknown, 0 | 1][] = [
    ['int1', 1, 1],
    ['str1', '1', 1],
    ['true', true, 1],
    ['int0', 0, 0],
    ['str0', '0', 0],
    ['false', false, 0],
    ['absent', undefined, 0],
  ];
  for (const [name, value, expected] of cases) {
    const body: Record<string, unknown> = { roomName: roomUuid, roomUuid, userName: name, userUuid: `${roomUuid}-${name}` };
    if (value !== undefined) {
      body.enableAudio = value;
      body.enableVideo = value;
    }
    const data = assertOk(await http('POST', roomPath('client', '/entry'), { json: body }), `entry ${name}`) as { roomId: string; userToken: string };
    const me = (assertOk(await http('GET', roomPath('client', `/${data.roomId}`), { token: data.userToken }), name) as { user: Record<string, unknown> }).user;
    assert.equal(me.enableAudio, expected, `${name}: enableAudio`);
    assert.equal(me.enableVideo, expected, `${name}: enableVideo`);
  }
});

test('E1: a participant entering while muteAllAudio != 0 gets enableAudio 0', async () => {
  const roomUuid = key('mutedentry');
  const host = await join(roomUuid, 'Host', { enableAudio: 1 });
  await host.changeRoom({ muteAllAudio: 1 });
  const pat = await join(roomUuid, 'Pat', { enableAudio: 1, enableVideo: 1 });
  const me = (await pat.info()).user;
  assert.equal(me.enableAudio, 0);
  assert.equal(me.enableVideo, 1);
});

test('E1: password rules (1002)', async () => {
  const roomUuid = key('pw');
  const host = await join(roomUuid, 'Host', { password: 'sesame' });
  const entry = (name: string, password?: string) =>
    http('POST', roomPath('client', '/entry'), {
      json: { roomName: roomUuid, roomUuid, userName: name, userUuid: `${roomUuid}-${name}`, ...(password === undefined ? {} : { password }) },
    });
  const before = (await s.meeting.room(host.roomId))!.seq;
  assertCode(await entry('NoPw'), 1002, 'no password');
  assertCode(await entry('Empty', ''), 1002, 'empty password');
  assertCode(await entry('Wrong', 'sesamE'), 1002, 'wrong password');
  assert.equal((await s.meeting.room(host.roomId))!.seq, before, 'refused entries commit nothing');
  const ok = assertOk(await entry('Right', 'sesame'), 'right password') as { roomId: string };
  assert.equal(ok.roomId, host.roomId);

  const open = key('nopw');
  const h2 = await join(open, 'Host');
  const any = assertOk(
    await http('POST', roomPath('client', '/entry'), { json: { roomName: open, roomUuid: open, userName: 'X', userUuid: 'x', password: 'whatever' } }),
    'room without password',
  ) as { roomId: string };
  assert.equal(any.roomId, h2.roomId);
  assert.equal((await h2.info()).room.password, '');
});

test('E1: an ended room is never reopened: a later entry with its roomUuid gets a new roomId', async () => {
  const roomUuid = key('ended');
  const host = await join(roomUuid, 'Host');
  await host.changeRoom({ state: 0 });
  const again = await join(roomUuid, 'Host');
  assert.notEqual(again.roomId, host.roomId);
  const info = await again.info();
  assert.equal(info.room.state, 1);
  assert.equal(info.room.onlineUsers, 1);
  assert.equal(info.user.role, 1);
  assert.equal((await s.meeting.room(host.roomId))!.ended, true);
  assertCode(await http('GET', roomPath('client', `/${host.roomId}`), { token: host.userToken }), 401, 'old token');
});

test('E1: re-entry keeps userId, gives a new userToken and revokes the old one (401)', async () => {
  const roomUuid = key('reentry');
  await join(roomUuid, 'Host');
  const first = await join(roomUuid, 'Pat');
  const second = await join(roomUuid, 'Pat');
  assert.equal(second.userId, first.userId);
  assert.equal(second.roomId, first.roomId);
  assert.notEqual(second.userToken, first.userToken);
  assertCode(await http('GET', roomPath('client', `/${first.roomId}`), { token: first.userToken }), 401, 'old token');
  assertCode(await http('POST', roomPath('client', `/${first.roomId}/chat`), { token: first.userToken, json: { message: 'x' } }), 401, 'old token chat');
  assertOk(await http('GET', roomPath('client', `/${second.roomId}`), { token: second.userToken }), 'new token');
  assert.equal((await second.info()).room.onlineUsers, 2, 'still one member');
});

// ---------------------------------------------------------------------------------------------
// §2.2 CORS, bodies, token fallback

test('§2.2 CORS: OPTIONS preflight answered with the headers; Allow-Origin on normal and error answers', async () => {
  const host = await join(key('cors'), 'Host');
  const preflightHeaders = {
    origin: 'http://web.example',
    'access-control-request-method': 'POST',
    'access-control-request-headers': 'authorization,token,content-type',
  };
  for (const path of [
    roomPath('client', '/entry'),
    roomPath('scenario', `/${host.roomId}/user/${host.userId}/exit`),
    roomPath('seed', `/${host.roomId}`),
    '/scenario/meeting/v1/multi/language',
  ]) {
    const pre = await http('OPTIONS', path, { auth: null, headers: preflightHeaders });
    assert.ok(pre.status >= 200 && pre.status < 300, `${path}: preflight status ${pre.status}`);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*', `${path}: allow-origin`);
    const allowHeaders = (pre.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(',').map((x) => x.trim());
    for (const h of ['authorization', 'token', 'content-type']) assert.ok(allowHeaders.includes(h), `${path}: allows header ${h}`);
    const methods = (pre.headers.get('access-control-allow-methods') ?? '').split(',').map((x) => x.trim());
    for (const m of ['GET', 'POST']) assert.ok(methods.includes(m), `${path}: allows ${m}`);
  }
  const get = await http('GET', roomPath('client', `/${host.roomId}`), { token: host.userToken, headers: { origin: 'http://web.example' } });
  assertOk(get, 'GET room');
  assert.equal(get.headers.get('access-control-allow-origin'), '*');
  const err = await http('GET', roomPath('client', `/${host.roomId}`), { token: 'bad', headers: { origin: 'http://web.example' } });
  assertCode(err, 401, 'bad token');
  assert.equal(err.headers.get('access-control-allow-origin'), '*', 'errors carry Allow-Origin too');
});

test('§2.2 CORS: the allowed origin is configurable', async (t) => {
  const s2 = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_CORS_ORIGIN: 'https://meet.example' });
  t.after(() => s2.close());
  const res = await fetch(`${s2.url}/v1/multi/language`, { method: 'OPTIONS', headers: { origin: 'https://meet.example', 'access-control-request-method': 'GET' } });
  assert.equal(res.headers.get('access-control-allow-origin'), 'https://meet.example');
  const get = await fetch(`${s2.url}/v1/multi/language`);
  assert.equal(get.headers.get('access-control-allow-origin'), 'https://meet.example');
});

test('§2.2: empty body with Content-Type: application/json on exit, token refresh and host works (Web)', async () => {
  const roomUuid = key('emptyjson');
  const host = await join(roomUuid, 'Host');
  const pat = await join(roomUuid, 'Pat');
  const ct = { raw: '', contentType: 'application/json' } as const;
  const tokens = assertOk(await http('POST', roomPath('client', `/${host.roomId}/token/refresh`), { ...ct, token: host.userToken }), 'refresh') as Record<string, string>;
  assert.match(tokens.rtcToken!, /^007/);
  const transfer = await track(host.roomId, async () =>
    assert.equal(assertOk(await http('POST', roomPath('client', `/${host.roomId}/user/${pat.userId}/host`), { ...ct, token: host.userToken }), 'host'), true),
  );
  assert.deepEqual(tags(transfer), ['ch7']);
  const exit = await track(host.roomId, async () =>
    assert.equal(assertOk(await http('POST', roomPath('client', `/${host.roomId}/user/${host.userId}/exit`), { ...ct, token: host.userToken }), 'exit'), true),
  );
  assert.deepEqual(tags(exit), ['ch2']);
  // Charset parameter, as some stacks send it.
  const r = await http('POST', roomPath('client', `/${pat.roomId}/token/refresh`), { raw: '', contentType: 'application/json; charset=utf-8', token: pat.userToken });
  assertOk(r, 'refresh with charset');
});

test('§2.2: POST without Content-Type and without body works (Android host/exit)', async () => {
  const roomUuid = key('nobody');
  const host = await join(roomUuid, 'Host');
  const pat = await join(roomUuid, 'Pat');
  const bare = { contentType: null } as const;
  const transfer = await track(host.roomId, async () =>
    assertOk(await http('POST', roomPath('scenario', `/${host.roomId}/user/${pat.userId}/host`), { ...bare, token: host.userToken }), 'host'),
  );
  assert.deepEqual(tags(transfer), ['ch7']);
  const exit = await track(host.roomId, async () =>
    assertOk(await http('POST', roomPath('scenario', `/${host.roomId}/user/${host.userId}/exit`), { ...bare, token: host.userToken }), 'exit'),
  );
  assert.deepEqual(tags(exit), ['ch2']);
  assertOk(await http('POST', roomPath('scenario', `/${pat.roomId}/token/refresh`), { ...bare, token: pat.userToken }), 'refresh');
});

test('§2.1: ?token= query fallback works', async () => {
  const roomUuid = key('qtoken');
  const host = await join(roomUuid, 'Host');
  const q = `?token=${encodeURIComponent(host.userToken)}`;
  const info = assertOk(await http('GET', roomPath('client', `/${host.roomId}${q}`)), 'GET room') as { user: { userId: string } };
  assert.equal(info.user.userId, host.userId);
  const chat = await track(host.roomId, async () =>
    assertOk(await http('POST', roomPath('seed', `/${host.roomId}/chat${q}`), { json: { message: 'via query', type: 1 } }), 'chat'),
  );
  assert.deepEqual(tags(chat), ['ch1']);
  const page = assertOk(await http('GET', roomPath('scenario', `/${host.roomId}/user/page${q}&role=1`)), 'page') as { total: number };
  assert.equal(page.total, 1);
  assertCode(await http('GET', roomPath('client', `/${host.roomId}?token=nope`)), 401, 'bad query token');
});

test('E12: 4,000 characters are 4,000 code points at the edge and in the rules (emoji included); 4,001 is code 400', async () => {
  const c = s.client();
  await c.enter({ roomName: 'Long chat', roomUuid: `long-${randomUUID()}`, userName: 'Ann', userUuid: 'ann' });
  const send = (message: string) => callAgora(s.opts, 'POST', `/${c.roomId}/chat`, { message, type: 1 }, c.userToken);
  assert.equal((await send('😀'.repeat(4000))).code, 0);
  const over = await send('😀'.repeat(4001));
  assert.equal(over.code, 400, JSON.stringify(over));
});
