// Bad input on the Agora Meeting v1 client API (spec §2, §4; DESIGN "bad input never reaches the
// core"): every room endpoint is swept with unknown apps, bad credentials, bad tokens, wrong
// types, missing fields, oversize strings and bodies, malformed JSON and unknown targets. Each
// must answer HTTP 200 `{code != 0, msg naming the problem, data: null}`, never 500, and commit
// nothing. Sweeps collect every mismatch so that one run lists them all.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { roomPrefix, type ClientOptions, type MeetingClient } from '../../client/agora.ts';

type Form = NonNullable<ClientOptions['form']>;
const FORMS: Form[] = ['seed', 'client', 'scenario'];

let s: TestServer;

/** The room under attack and the members whose tokens the sweeps use. */
interface Ctx {
  uuid: string;
  roomId: string;
  host: MeetingClient;
  pat: MeetingClient;
  /** A member of another room: its token is valid, but not here. */
  other: MeetingClient;
  /** A token replaced by a re-entry of the same userUuid. */
  revoked: string;
  /** A member who entered and left. */
  departedId: string;
}
let c: Ctx;

before(async () => {
  // Presence expiry off: the members are HTTP-only and must stay for the whole file.
  s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
});
after(() => s.close());

/** A fresh room per test, so that a bad input wrongly accepted in one test cannot skew the next. */
async function freshRoom(): Promise<Ctx> {
  const uuid = `bad-${randomUUID().slice(0, 8)}`;
  const enter = async (roomUuid: string, name: string) => {
    const m = s.client();
    await m.enter({ roomName: roomUuid, roomUuid, userName: name, userUuid: `${roomUuid}-${name}`, enableAudio: 1 });
    return m;
  };
  const host = await enter(uuid, 'Host');
  const pat = await enter(uuid, 'Pat');
  const replaced = await enter(uuid, 'Vic');
  await enter(uuid, 'Vic');
  const departed = await enter(uuid, 'Dee');
  await departed.exit();
  const other = await enter(`${uuid}-other`, 'Olga');
  return { uuid, roomId: host.roomId, host, pat, other, revoked: replaced.userToken, departedId: departed.userId };
}

// ---------------------------------------------------------------------------------------------
// Helpers

const b64 = (x: string) => Buffer.from(x).toString('base64');
const basic = () => `Basic ${b64(`${s.creds.customerId}:${s.creds.customerSecret}`)}`;

interface Answer {
  status: number;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

interface RawOptions {
  auth?: string | null;
  token?: string | null;
  json?: unknown;
  raw?: string;
  contentType?: string | null;
}

async function http(method: string, path: string, o: RawOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  const auth = o.auth === undefined ? basic() : o.auth;
  if (auth !== null) headers.authorization = auth;
  if (o.token !== undefined && o.token !== null) headers.token = o.token;
  const body = o.raw !== undefined ? o.raw : o.json !== undefined ? JSON.stringify(o.json) : undefined;
  const ct = o.contentType === undefined ? (body !== undefined ? 'application/json' : null) : o.contentType;
  if (ct !== null) headers['content-type'] = ct;
  let res: Response;
  try {
    // fetch labels a string body text/plain on its own; bytes go out with no Content-Type.
    res = await fetch(s.url + path, { method, headers, body: ct === null && body !== undefined ? Buffer.from(body) : body });
  } catch (e) {
    return { status: 0, text: `fetch failed: ${(e as Error).cause ?? (e as Error).message}`, body: undefined };
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, text, body: parsed };
}

interface Expect {
  /** One code, or the codes a stable answer may use. */
  code: number | number[];
  /** What the message must mention (the field, "token", "JSON"...). */
  msg?: RegExp;
}

/** Record, rather than throw, every way an answer differs from a clean rejection. */
function judge(problems: string[], ctx: string, a: Answer, e: Expect): void {
  const bad = (why: string): void => {
    problems.push(`${ctx}: ${why} [HTTP ${a.status} ${a.text.slice(0, 160)}]`);
  };
  const b = a.body;
  const keys = b && typeof b === 'object' ? Object.keys(b).sort().join(',') : '';
  if (keys !== 'code,data,msg') return bad(`not the {code,msg,data} envelope${a.status !== 200 ? ' and HTTP status is not 200' : ''}`);
  if (a.status !== 200) bad('HTTP status is not 200');
  if (b.code === 0) return bad('accepted (code 0)');
  if (b.code === 500) bad('internal error (500)');
  const codes = Array.isArray(e.code) ? e.code : [e.code];
  if (!codes.includes(b.code)) bad(`code ${b.code}, expected ${codes.join(' or ')}`);
  if (b.data !== null) bad('data is not null');
  if (typeof b.msg !== 'string' || b.msg.trim() === '') bad('msg is empty');
  else if (e.msg && !e.msg.test(b.msg)) bad(`msg ${JSON.stringify(b.msg)} does not match ${e.msg}`);
}

interface Mark {
  version: number;
  seq: number;
  otherVersion: number;
  otherSeq: number;
}

async function mark(): Promise<Mark> {
  const r = (await s.meeting.room(c.roomId))!;
  const o = (await s.meeting.room(c.other.roomId))!;
  return { version: r.version, seq: r.seq, otherVersion: o.version, otherSeq: o.seq };
}

/** Nothing committed since `m`: same versions and seqs, no new event in either room's log. */
async function committedNothing(problems: string[], ctx: string, m: Mark): Promise<Mark> {
  const now = await mark();
  if (now.version !== m.version || now.seq !== m.seq) problems.push(`${ctx}: committed to the room (version ${m.version}→${now.version}, seq ${m.seq}→${now.seq})`);
  if (now.otherVersion !== m.otherVersion || now.otherSeq !== m.otherSeq) problems.push(`${ctx}: committed to the other room`);
  const { events } = await s.store.eventsSince(c.roomId, m.seq, 10);
  if (events.length > 0) problems.push(`${ctx}: new events ${events.map((x) => x.event.type).join(',')}`);
  return now;
}

/** Send one bad request and check both the answer and that nothing was committed. */
async function expectRejected(problems: string[], ctx: string, send: () => Promise<Answer>, e: Expect): Promise<Answer> {
  const m = await mark();
  const a = await send();
  judge(problems, ctx, a, e);
  await committedNothing(problems, ctx, m);
  return a;
}

function assertNoProblems(problems: string[]): void {
  assert.deepEqual(problems, [], `${problems.length} problem(s):\n${problems.join('\n')}`);
}

type Who = 'host' | 'pat';

interface Endpoint {
  name: string;
  method: 'GET' | 'POST';
  path: (x: Ctx) => string;
  /** A valid body: the sweeps break one thing at a time. */
  body?: (x: Ctx) => Record<string, unknown>;
  /** Needs a member token (all but entry and simple). */
  member: boolean;
  /** Whose token makes the call otherwise valid. */
  as?: Who;
}

const ENDPOINTS: Endpoint[] = [
  { name: 'E1 entry', method: 'POST', path: () => '/entry', member: false, body: (x) => ({ roomName: x.uuid, roomUuid: x.uuid, userName: 'Mallory', userUuid: 'mallory' }) },
  { name: 'E2 room', method: 'GET', path: (x) => `/${x.roomId}`, member: true },
  { name: 'E3 change room', method: 'POST', path: (x) => `/${x.roomId}`, member: true, body: () => ({ muteAllChat: 1, muteAllAudio: 2 }) },
  { name: 'E4 page', method: 'GET', path: (x) => `/${x.roomId}/user/page?role=2`, member: true },
  { name: 'E5 change user', method: 'POST', path: (x) => `/${x.roomId}/user/${x.pat.userId}`, member: true, body: () => ({ enableVideo: 1, enableChat: 0 }) },
  { name: 'E6 invite', method: 'POST', path: (x) => `/${x.roomId}/user/${x.pat.userId}/host/invite`, member: true, body: () => ({ type: 1, action: 1 }) },
  { name: 'E7 apply', method: 'POST', path: (x) => `/${x.roomId}/user/${x.host.userId}/audience/apply`, member: true, as: 'pat', body: () => ({ type: 1, action: 1 }) },
  { name: 'E8 screen', method: 'POST', path: (x) => `/${x.roomId}/user/${x.host.userId}/screen`, member: true, body: () => ({ state: 1 }) },
  { name: 'E9 board', method: 'POST', path: (x) => `/${x.roomId}/user/${x.host.userId}/board`, member: true, body: () => ({ state: 1 }) },
  { name: 'E10 host', method: 'POST', path: (x) => `/${x.roomId}/user/${x.pat.userId}/host`, member: true },
  { name: 'E11 exit', method: 'POST', path: (x) => `/${x.roomId}/user/${x.pat.userId}/exit`, member: true },
  { name: 'E12 chat', method: 'POST', path: (x) => `/${x.roomId}/chat`, member: true, body: () => ({ message: 'hi', type: 1 }) },
  { name: 'E13 board token', method: 'GET', path: (x) => `/${x.roomId}/board`, member: true },
  { name: 'E14 token refresh', method: 'POST', path: (x) => `/${x.roomId}/token/refresh`, member: true },
  { name: 'E15 simple', method: 'GET', path: (x) => `/${x.roomId}/simple`, member: false },
  { name: 'E16 room screen', method: 'POST', path: (x) => `/${x.roomId}/screen`, member: true, body: () => ({ state: 1 }) },
];
const byName = (prefix: string) => ENDPOINTS.find((e) => e.name.startsWith(`${prefix} `))!;
const tokenOf = (ep: Endpoint) => (ep.member ? (ep.as === 'pat' ? c.pat : c.host).userToken : undefined);
const url = (form: Form, ep: Endpoint, appId = s.creds.appId) => roomPrefix(form, appId) + ep.path(c);

/** Send `ep` through `form`, valid except for what `o` overrides. */
function send(ep: Endpoint, form: Form, o: RawOptions & { appId?: string; path?: string } = {}): Promise<Answer> {
  const path = o.path ?? url(form, ep, o.appId);
  const json = ep.method === 'POST' && o.raw === undefined && o.json === undefined ? ep.body?.(c) : o.json;
  return http(ep.method, path, { token: tokenOf(ep), ...o, json });
}

const field = (name: string) => new RegExp(`\\b${name}\\b`);

// ---------------------------------------------------------------------------------------------
// The baseline: the same requests, valid, are accepted (so the sweeps below test what they claim).

test('baseline: read-only endpoints answer code 0 with the credentials and tokens the sweeps start from', async () => {
  c = await freshRoom();
  for (const form of FORMS) {
    for (const ep of ['E2', 'E4', 'E13', 'E14', 'E15'].map(byName)) {
      const a = await send(ep, form);
      assert.equal(a.status, 200, `${form} ${ep.name}`);
      assert.equal(a.body.code, 0, `${form} ${ep.name}: ${a.body.msg}`);
    }
  }
  // The other-room and revoked tokens are real tokens: valid elsewhere / before replacement.
  const own = await http('GET', roomPrefix('client', s.creds.appId) + `/${c.other.roomId}`, { token: c.other.userToken });
  assert.equal(own.body.code, 0);
});

// ---------------------------------------------------------------------------------------------
// App, credentials, token

test('unknown or missing app → 404 on every room endpoint in every path form', async () => {
  c = await freshRoom();
  const problems: string[] = [];
  for (const form of FORMS) {
    for (const ep of ENDPOINTS) {
      for (const appId of ['0123456789abcdef0123456789abcdef', 'no-such-app', '']) {
        await expectRejected(problems, `${form} ${ep.name} appId=${JSON.stringify(appId)}`, () => send(ep, form, { appId }), {
          code: 404,
          msg: /app/i,
        });
      }
    }
  }
  assertNoProblems(problems);
});

test('Basic credentials missing or wrong → 1001 on every room endpoint in every path form', async () => {
  c = await freshRoom();
  const id = s.creds.customerId;
  const secret = s.creds.customerSecret;
  const variants: [string, string | null][] = [
    ['missing', null],
    ['wrong secret', `Basic ${b64(`${id}:wrong`)}`],
    ['wrong id', `Basic ${b64(`someone:${secret}`)}`],
    ['secret with a suffix', `Basic ${b64(`${id}:${secret}x`)}`],
    ['empty secret', `Basic ${b64(`${id}:`)}`],
    ['no colon', `Basic ${b64(id)}`],
    ['not base64', 'Basic !!!***'],
    ['scheme only', 'Basic'],
    ['Bearer scheme', `Bearer ${b64(`${id}:${secret}`)}`],
    ['no scheme', b64(`${id}:${secret}`)],
  ];
  const problems: string[] = [];
  for (const form of FORMS) {
    for (const ep of ENDPOINTS) {
      for (const [what, auth] of variants) {
        await expectRejected(problems, `${form} ${ep.name} Basic ${what}`, () => send(ep, form, { auth }), { code: 1001, msg: /credential|customer/i });
      }
    }
  }
  assertNoProblems(problems);
});

test('the Basic scheme is case-insensitive (lowercase "basic" accepted)', async () => {
  c = await freshRoom();
  const creds = b64(`${s.creds.customerId}:${s.creds.customerSecret}`);
  for (const scheme of ['basic', 'BASIC', 'bAsIc']) {
    for (const ep of ['E2', 'E4', 'E15'].map(byName)) {
      const a = await send(ep, 'client', { auth: `${scheme} ${creds}` });
      assert.equal(a.body.code, 0, `${scheme} on ${ep.name}: ${a.body.msg}`);
    }
  }
});

test('token missing, garbage, of another room or revoked → 401 on every member endpoint in every path form', async () => {
  c = await freshRoom();
  const variants: [string, string | null][] = [
    ['missing', null],
    ['empty', ''],
    ['garbage', 'garbage'],
    ['three garbage parts', 'a.b.c'],
    ['right ids, wrong secret', `${c.roomId}.${c.host.userId}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`],
    ['of another room', c.other.userToken],
    ['revoked by re-entry', c.revoked],
    ['very long', 'x'.repeat(5000)],
  ];
  const problems: string[] = [];
  for (const form of FORMS) {
    for (const ep of ENDPOINTS.filter((e) => e.member)) {
      for (const [what, token] of variants) {
        await expectRejected(problems, `${form} ${ep.name} token ${what}`, () => send(ep, form, { token }), { code: 401, msg: /token|session|enter/i });
      }
    }
  }
  // The query fallback is held to the same rules.
  for (const ep of ENDPOINTS.filter((e) => e.member)) {
    const sep = ep.path(c).includes('?') ? '&' : '?';
    const path = `${url('client', ep)}${sep}token=${encodeURIComponent(c.revoked)}`;
    await expectRejected(problems, `${ep.name} ?token= revoked`, () => send(ep, 'client', { token: null, path }), { code: 401 });
  }
  assertNoProblems(problems);
});

// ---------------------------------------------------------------------------------------------
// Bodies

/** Values that are not an integer in any accepted form (int, numeric string, boolean). */
const NOT_INT: unknown[] = ['abc', '', ' ', {}, [], [1], null, 0.5, '0.5', 1.5, 'true', '1abc', { value: 1 }];
const FLAG01 = [...NOT_INT, 2, -1, '2', '-1', 100];
const FLAG012 = [...NOT_INT, 3, -1, '3', 2 ** 40];
const NOT_STRING: unknown[] = [123, 0, true, {}, [], ['a'], null];

/** For every endpoint with a body: each field and the values it must refuse. */
const BAD_FIELDS: [string, Record<string, unknown[]>][] = [
  [
    'E1',
    {
      roomName: [...NOT_STRING, '', 'x'.repeat(65)],
      roomUuid: [...NOT_STRING, '', 'x'.repeat(129)],
      userName: [...NOT_STRING, '', 'x'.repeat(65)],
      userUuid: [...NOT_STRING, '', 'x'.repeat(129)],
      // No spec maximum for these two; 20000 characters is beyond any sane one.
      password: [123, true, {}, [], 'x'.repeat(20000)],
      avatar: [123, true, {}, [], 'x'.repeat(20000)],
      enableAudio: FLAG01,
      enableVideo: FLAG01,
    },
  ],
  ['E3', { muteAllChat: FLAG012, muteAllAudio: FLAG012, state: FLAG012, shareBoard: FLAG01 }],
  ['E5', { enableChat: FLAG01, enableVideo: FLAG01, enableAudio: FLAG01, grantBoard: FLAG01 }],
  ['E6', { type: [...NOT_INT, 0, 4, -1, '4'], action: [...NOT_INT, 0, 3, -1, '3'] }],
  ['E7', { type: [...NOT_INT, 0, 4, -1, '4'], action: [...NOT_INT, 0, 3, -1, '3'] }],
  ['E8', { state: FLAG01 }],
  ['E9', { state: FLAG01 }],
  ['E16', { state: FLAG01 }],
  ['E12', { message: [...NOT_STRING, '', 'x'.repeat(4001)], type: [...NOT_INT, 0, 2, -1] }],
];

test('wrong types, out-of-range flags and over-long strings in every body field → 400 naming the field', async () => {
  c = await freshRoom();
  const problems: string[] = [];
  let i = 0;
  for (const [name, fields] of BAD_FIELDS) {
    const ep = byName(name);
    for (const [f, values] of Object.entries(fields)) {
      for (const v of values) {
        const form = FORMS[i++ % FORMS.length]!;
        const json = { ...ep.body!(c), [f]: v };
        const shown = typeof v === 'string' && v.length > 20 ? `"${v.slice(0, 5)}…"(${v.length})` : JSON.stringify(v);
        await expectRejected(problems, `${form} ${ep.name} ${f}=${shown}`, () => send(ep, form, { json }), { code: 400, msg: field(f) });
      }
    }
  }
  assertNoProblems(problems);
});

test('missing required fields → 400 naming the field', async () => {
  c = await freshRoom();
  const required: [string, string[]][] = [
    ['E1', ['roomName', 'roomUuid', 'userName', 'userUuid']],
    ['E6', ['type', 'action']],
    ['E7', ['type', 'action']],
    ['E8', ['state']],
    ['E9', ['state']],
    ['E16', ['state']],
    ['E12', ['message']],
  ];
  const problems: string[] = [];
  for (const [name, fields] of required) {
    const ep = byName(name);
    for (const f of fields) {
      const json = { ...ep.body!(c) };
      delete json[f];
      await expectRejected(problems, `${ep.name} without ${f}`, () => send(ep, 'client', { json }), { code: 400, msg: field(f) });
    }
    // An empty body means {} (spec §2.2), so it lacks the first required field.
    await expectRejected(problems, `${ep.name} with {}`, () => send(ep, 'client', { json: {} }), { code: 400, msg: field(fields[0]!) });
    await expectRejected(problems, `${ep.name} with no body`, () => send(ep, 'client', { raw: '' }), { code: 400, msg: field(fields[0]!) });
    await expectRejected(problems, `${ep.name} with JSON null`, () => send(ep, 'client', { raw: 'null' }), { code: 400 });
  }
  assertNoProblems(problems);
});

test('bodies that are not JSON objects → 400', async () => {
  c = await freshRoom();
  const problems: string[] = [];
  const withBody = ENDPOINTS.filter((e) => e.body);
  for (const ep of withBody) {
    for (const raw of ['[]', '[{"state":1}]', '"text"', '42', 'true']) {
      await expectRejected(problems, `${ep.name} body ${raw}`, () => send(ep, 'client', { raw }), { code: 400 });
    }
  }
  assertNoProblems(problems);
});

test('malformed JSON → 400 on every POST endpoint, whatever the Content-Type', async () => {
  c = await freshRoom();
  const problems: string[] = [];
  const posts = ENDPOINTS.filter((e) => e.method === 'POST');
  const broken = ['{', '{"state":', "{'state':1}", '{"state":1,}', 'nul', '{"a":"\\x"}', '\u0000', '{"state":1}}'];
  let i = 0;
  for (const ep of posts) {
    // A fresh room per endpoint: a garbage body wrongly accepted by E10 would make E11 a non-host's kick.
    c = await freshRoom();
    for (const raw of broken) {
      const form = FORMS[i++ % FORMS.length]!;
      await expectRejected(problems, `${form} ${ep.name} body ${JSON.stringify(raw)}`, () => send(ep, form, { raw }), { code: 400, msg: /JSON/ });
    }
    // Android sends no Content-Type; a body without one is read as JSON too.
    await expectRejected(problems, `${ep.name} text/plain broken body`, () => send(ep, 'client', { raw: '{', contentType: 'text/plain' }), { code: 400, msg: /JSON|body/ });
    await expectRejected(problems, `${ep.name} no Content-Type broken body`, () => send(ep, 'client', { raw: '{', contentType: null }), { code: 400 });
  }
  assertNoProblems(problems);
});

test('a body over the size limit (64 KiB default) → 400 on every POST endpoint', async () => {
  c = await freshRoom();
  const problems: string[] = [];
  const pad = 'x'.repeat(64 * 1024 + 1);
  for (const form of FORMS) {
    for (const ep of ENDPOINTS.filter((e) => e.method === 'POST')) {
      const json = { ...(ep.body?.(c) ?? {}), pad };
      await expectRejected(problems, `${form} ${ep.name} ${JSON.stringify(json).length} bytes`, () => send(ep, form, { json }), {
        code: 400,
        msg: /large|limit|size|bytes/i,
      });
    }
  }
  assertNoProblems(problems);
});

// ---------------------------------------------------------------------------------------------
// Paths and query

test('unknown roomId in the path → one stable code (401 or 404) with a valid token; E15 → 404', async () => {
  c = await freshRoom();
  const problems: string[] = [];
  const seen = new Map<number, string[]>();
  for (const roomId of ['AAAAAAAAAAAAAAAAAAAAAA', 'nope', c.other.roomId.replace(/^./, (x) => (x === 'A' ? 'B' : 'A'))]) {
    for (const ep of ENDPOINTS.filter((e) => e.member)) {
      const path = url('client', ep).replace(`/${c.roomId}`, `/${roomId}`);
      const a = await expectRejected(problems, `${ep.name} roomId=${roomId}`, () => send(ep, 'client', { path }), { code: [401, 404] });
      const list = seen.get(a.body?.code) ?? [];
      list.push(`${ep.name} ${roomId}`);
      seen.set(a.body?.code, list);
    }
    const simple = byName('E15');
    await expectRejected(problems, `E15 roomId=${roomId}`, () => send(simple, 'client', { path: url('client', simple).replace(`/${c.roomId}`, `/${roomId}`) }), {
      code: 404,
      msg: /room/i,
    });
  }
  if (seen.size > 1) problems.push(`unknown roomId answered with different codes: ${JSON.stringify(Object.fromEntries(seen))}`);
  // A roomId of another running room with this room's token is the same case.
  const ep = byName('E2');
  await expectRejected(problems, 'E2 on the other room with this token', () => send(ep, 'client', { path: url('client', ep).replace(c.roomId, c.other.roomId) }), {
    code: [401, 404],
  });
  assertNoProblems(problems);
});

test('unknown, foreign or departed userId in the path with a valid token → 404', async () => {
  c = await freshRoom();
  const problems: string[] = [];
  // E7 is left out on purpose: a non-host {userId} routes the apply to the current host (spec E7).
  const targeted = ['E5', 'E6', 'E8', 'E9', 'E10', 'E11'].map(byName);
  const targets: [string, string][] = [
    ['unknown', 'AAAAAAAAAAAAAAAAAAAAAA'],
    ['short unknown', 'x'],
    ['of another room', c.other.userId],
    ['departed', c.departedId],
  ];
  for (const ep of targeted) {
    for (const [what, userId] of targets) {
      const path = url('client', ep).replace(/\/user\/[^/]+/, `/user/${encodeURIComponent(userId)}`);
      // E8/E9 with state 0 too: stopping on an unknown member is just as unknown.
      const bodies = ep.name.startsWith('E8') || ep.name.startsWith('E9') ? [{ state: 1 }, { state: 0 }] : [undefined];
      for (const json of bodies) {
        await expectRejected(problems, `${ep.name} userId ${what} ${json ? JSON.stringify(json) : ''}`, () => send(ep, 'client', { path, json }), {
          code: 404,
          msg: /user/i,
        });
      }
    }
  }
  for (const ep of [...targeted, byName('E7')]) {
    const path = url('client', ep).replace(/\/user\/[^/]+/, `/user/${'u'.repeat(300)}`);
    await expectRejected(problems, `${ep.name} userId of 300 characters`, () => send(ep, 'client', { path }), { code: [400, 404], msg: /user/i });
  }
  assertNoProblems(problems);
});

test('E4 query: non-numeric nextId, bad count (zero, negative, huge, not a number) and bad role → 400 naming it', async () => {
  c = await freshRoom();
  const problems: string[] = [];
  const ep = byName('E4');
  const base = roomPrefix('client', s.creds.appId) + `/${c.roomId}/user/page`;
  const cases: [string, string, string][] = [
    ['nextId', 'abc', 'role=2&nextId=abc'],
    ['nextId', '-1', 'role=2&nextId=-1'],
    ['nextId', '1.5', 'role=2&nextId=1.5'],
    ['nextId', '1e3', 'role=2&nextId=1e3'],
    ['nextId', 'null', 'role=2&nextId=null'],
    ['nextId', '40 chars', `role=2&nextId=${'9'.repeat(40)}`],
    ['nextId', 'injection', `role=2&nextId=${encodeURIComponent("1' OR '1'='1")}`],
    ['count', '0', 'role=2&count=0'],
    ['count', '-1', 'role=2&count=-1'],
    ['count', 'abc', 'role=2&count=abc'],
    ['count', '1.5', 'role=2&count=1.5'],
    ['count', '20 digits', 'role=2&count=99999999999999999999'],
    ['count', '1e400', 'role=2&count=1e400'],
    ['count', 'Infinity', 'role=2&count=Infinity'],
    ['role', '0', 'role=0'],
    ['role', '3', 'role=3'],
    ['role', '-1', 'role=-1'],
    ['role', 'abc', 'role=abc'],
    ['role', '1.5', 'role=1.5'],
  ];
  for (const [f, what, q] of cases) {
    await expectRejected(problems, `E4 ${f}=${what}`, () => send(ep, 'client', { path: `${base}?${q}` }), { code: 400, msg: field(f) });
  }
  assertNoProblems(problems);
});

// ---------------------------------------------------------------------------------------------
// Hostile input: the server must stay correct and keep answering.

/** Any envelope but 500, HTTP 200. */
function survived(problems: string[], ctx: string, a: Answer): void {
  if (a.status !== 200) problems.push(`${ctx}: HTTP ${a.status} ${a.text.slice(0, 120)}`);
  else if (!a.body || typeof a.body.code !== 'number' || typeof a.body.msg !== 'string') problems.push(`${ctx}: no envelope`);
  else if (a.body.code === 500) problems.push(`${ctx}: internal error`);
}

test('prototype pollution attempts change nothing', async () => {
  c = await freshRoom();
  const problems: string[] = [];
  const room = byName('E3');
  const user = byName('E5');
  const entry = byName('E1');
  const attempts: [Endpoint, string][] = [
    [room, '{"__proto__":{"state":0}}'],
    [room, '{"constructor":{"prototype":{"state":0}}}'],
    [room, '{"\\u005f_proto__":{"muteAllAudio":2}}'],
    [user, '{"__proto__":{"enableVideo":1,"enableChat":0}}'],
    [user, '{"constructor":{"prototype":{"enableAudio":0}}}'],
  ];
  for (const [ep, raw] of attempts) {
    const m = await mark();
    const a = await send(ep, 'client', { raw });
    survived(problems, `${ep.name} ${raw}`, a);
    await committedNothing(problems, `${ep.name} ${raw}`, m);
  }
  const body = JSON.stringify({ roomName: c.uuid, roomUuid: c.uuid, userName: 'Proto', userUuid: 'proto' }).replace(/^\{/, '{"__proto__":{"x":1,"isAdmin":true},');
  survived(problems, 'entry with __proto__', await send(entry, 'client', { raw: body }));
  assert.equal(({} as Record<string, unknown>).x, undefined, 'Object.prototype not polluted');
  assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
  assert.equal(({} as Record<string, unknown>).state, undefined);
  assert.equal((await s.meeting.room(c.roomId))!.ended, false, 'the meeting still runs');
  assertNoProblems(problems);
});

test('unicode and control characters are stored and echoed exactly, or refused cleanly', async () => {
  c = await freshRoom();
  const problems: string[] = [];
  const uuid = `uni-${randomUUID().slice(0, 8)}`;
  const name = '名前 😀 \u202Eevil\u202C Ω';
  const a = await http('POST', roomPrefix('client', s.creds.appId) + '/entry', {
    json: { roomName: '会议 🎉', roomUuid: uuid, userName: name, userUuid: '用户-✓' },
  });
  survived(problems, 'unicode entry', a);
  assert.equal(a.body.code, 0, a.body.msg);
  const info = await http('GET', roomPrefix('scenario', s.creds.appId) + `/${a.body.data.roomId}`, { token: a.body.data.userToken });
  assert.equal(info.body.data.user.userName, name);
  assert.equal(info.body.data.user.userUuid, '用户-✓');
  assert.equal(info.body.data.room.roomName, '会议 🎉');

  for (const message of ['nul\u0000byte', 'lone \ud800 surrogate', '\u202E\u0007\u001b[31m', '😀'.repeat(1000)]) {
    const r = await http('POST', roomPrefix('client', s.creds.appId) + `/${a.body.data.roomId}/chat`, { token: a.body.data.userToken, json: { message } });
    survived(problems, `chat ${JSON.stringify(message.slice(0, 12))}`, r);
  }
  for (const userName of ['a\u0000b', '\ud800', '\uFEFF']) {
    const r = await http('POST', roomPrefix('client', s.creds.appId) + '/entry', {
      json: { roomName: uuid, roomUuid: uuid, userName, userUuid: `u-${randomUUID()}` },
    });
    survived(problems, `entry userName ${JSON.stringify(userName)}`, r);
  }
  assertNoProblems(problems);
});

test('very deep and very wide JSON is refused or ignored without harm, and the server keeps answering', async () => {
  c = await freshRoom();
  const problems: string[] = [];
  const depth = 10_000; // deepest that stays under the 64 KiB body limit
  const deepArray = '['.repeat(depth) + ']'.repeat(depth);
  const deepObject = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  const deepField = `{"message":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)},"type":1}`;
  const deepFlag = `{"state":${'['.repeat(depth)}${']'.repeat(depth)}}`;
  const wide = JSON.stringify(Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`k${i}`, i])));
  const cases: [string, string, string][] = [
    ['E3', 'deep array body', deepArray],
    ['E3', 'deep object body (unknown field)', deepObject],
    ['E12', 'deep object message', deepField],
    ['E8', 'deep array state', deepFlag],
    ['E1', 'deep array entry', deepArray],
    ['E5', 'wide object (unknown fields)', wide],
  ];
  for (const [name, what, raw] of cases) {
    const ep = byName(name);
    const m = await mark();
    const a = await send(ep, 'client', { raw });
    survived(problems, `${ep.name} ${what}`, a);
    await committedNothing(problems, `${ep.name} ${what}`, m);
  }
  // Deep input must be refused where the schema expects something else.
  const refused = await send(byName('E12'), 'client', { raw: deepField });
  judge(problems, 'E12 deep message', refused, { code: 400, msg: field('message') });
  const alive = await send(byName('E2'), 'client');
  assert.equal(alive.body.code, 0, 'the server still answers');
  assertNoProblems(problems);
});

test('odd paths and headers do not break the server', async () => {
  c = await freshRoom();
  const problems: string[] = [];
  const prefix = roomPrefix('client', s.creds.appId);
  const token = c.host.userToken;
  // [path, must be refused]: unknown query parameters (count[]) are ignored like unknown fields.
  const paths: [string, boolean][] = [
    [`${prefix}/%00`, true],
    [`${prefix}/..%2F..%2Fetc%2Fpasswd`, true],
    [`${prefix}/${c.roomId}/user/%E0%A4%A`, true],
    [`${prefix}/${c.roomId}/user/${'%F0%9F%98%80'.repeat(10)}`, true],
    [`/apps/${'a'.repeat(5000)}/v1/room/entry`, true],
    [`${prefix}/${c.roomId}/user/page?role=2&role=1`, false],
    [`${prefix}/${c.roomId}/user/page?count[]=1`, false],
  ];
  for (const [path, refuse] of paths) {
    for (const method of ['GET', 'POST']) {
      const ctx = `${method} …${path.slice(-60)}`;
      const m = await mark();
      const a = await http(method, path, { token, json: method === 'POST' ? {} : undefined });
      survived(problems, ctx, a);
      if (refuse && a.body?.code === 0) problems.push(`${ctx}: accepted`);
      await committedNothing(problems, ctx, m);
    }
  }
  // Duplicate token headers: fetch joins them with ", ", which is no valid token.
  const dup = await fetch(`${s.url}${prefix}/${c.roomId}`, {
    headers: [
      ['authorization', basic()],
      ['token', token],
      ['token', c.other.userToken],
    ],
  });
  const dupBody = (await dup.json()) as { code: number };
  assert.equal(dup.status, 200);
  assert.notEqual(dupBody.code, 500);
  assertNoProblems(problems);
});
