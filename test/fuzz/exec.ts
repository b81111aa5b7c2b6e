// Running one generated action against the live server: resolve its indices against the model,
// build the bytes, send them (resetting the connection where the action says), check the answer
// against its envelope and any outcome the action makes certain, and learn from the answer.
import net from 'node:net';
import WebSocket from 'ws';
import { createHmac } from 'node:crypto';
import { qboxAuthorization, qiniuAuthorization, signRoomToken, urlsafeBase64 } from '../../src/tokens/qiniu.ts';
import {
  ROOMS,
  USERS,
  type AgoraAction,
  type AppLevelAction,
  type AuthAction,
  type Action,
  type Form,
  type PlainAction,
  type ProtocolAction,
  type QiniuAction,
  type RoomEndpoint,
  type RoomTokenSel,
  type UpgradeResetAction,
  type WsAction,
  type WsJunk,
} from './gen.ts';
import { apiOf, checkExchange, checkProtocol, type Expect } from './envelope.ts';
import { exchange, parseResponse, type Header, type RawRequest, type RawResult } from './raw.ts';
import { build, queryString, type Base, type Built } from './requests.ts';
import { RawWs, frame, handshakeHeaders } from './ws.ts';
import type { MemberModel, Sent, World } from './world.ts';
import { qiniu as signedQiniu } from './invariants.ts';

const NO_ROOM = 'noSuchRoom000000000000';
const NO_USER = 'noSuchUser000000000000';
const UNKNOWN_APP = 'ffffffffffffffffffffffffffffffff';
const AGORA_BODY_LIMIT = 64 * 1024;
const QINIU_BODY_LIMIT = 1024 * 1024;

export function roomPrefix(form: Form, appId: string): string {
  if (form === 'seed') return `/conf/v1/apps/${appId}/room`;
  if (form === 'scenario') return `/scenario/meeting/apps/${appId}/v1/room`;
  return `/apps/${appId}/v1/room`;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
export const basicOf = (w: World) => `Basic ${b64(`${w.keys.customerId}:${w.keys.customerSecret}`)}`;

/** The int a flag field carries (spec §2.2: integers, numeric strings, booleans), or undefined. */
function flagInt(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? v : undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && /^-?\d{1,15}$/.test(v.trim())) return Number(v.trim());
  return undefined;
}

const agoraCode = (r: RawResult): number | undefined => (r.kind === 'answer' ? (r.json as { code?: number } | undefined)?.code : undefined);
const agoraData = (r: RawResult): any => (r.kind === 'answer' ? (r.json as { data?: unknown } | undefined)?.data : undefined);

/** Send one request, record it, check its envelope and expectation. */
async function send(w: World, label: string, built: Pick<Built, 'req' | 'reset'>, expect?: Expect, cut?: number): Promise<RawResult> {
  const sent: Sent = { where: w.where, label, req: built.req, reset: built.reset };
  w.record(sent);
  const r = await exchange(w.port, built.req, { reset: built.reset, cut });
  if (built.reset) {
    // A crash caused by a reset shows a moment later: look before blaming the next request.
    await new Promise((res) => setTimeout(res, 15));
    return r;
  }
  if (r.kind !== 'answer') {
    // A dying server drops what is in flight: the crash is reported (with these requests) instead.
    await new Promise((res) => setTimeout(res, 150));
    if (!w.target.alive()) return r;
    // A body over the limit may be answered (413) and the connection closed while the client is
    // still sending it: the client then sees EPIPE or a reset, not the answer (HTTP/1.1 allows it).
    if (r.kind === 'reset' && (built.req.body?.length ?? 0) > 64 * 1024) return r;
  }
  // A head over Node's 16 KiB limit is refused by the HTTP parser before any route is known.
  const headBytes = built.req.headers.reduce((n, [k, v]) => n + k.length + v.length + 4, built.req.target.length + 16);
  const problems = headBytes > 16 * 1024 ? checkProtocol(r) : checkExchange(r, built.req.method, built.req.target, expect);
  for (const p of problems) w.violate(ruleOf(p), label, p, sent, r);
  return r;
}

/** A path segment's length once percent-decoded (the router's limit applies to the decoded value). */
function decodedLength(seg: string): number {
  try {
    return decodeURIComponent(seg).length;
  } catch {
    return seg.length;
  }
}

/** Group problems by kind for the summary (numbers and names stripped). */
export function ruleOf(problem: string): string {
  return problem
    .replace(/\(.*$/s, '')
    .replace(/"[^"]*"/g, '"…"')
    .replace(/\d+/g, 'N')
    .trim();
}

// ---------------------------------------------------------------------------------------------
// Agora room API

const MEMBER_AUTH = new Set<RoomEndpoint>(['info', 'change', 'page', 'changeUser', 'invite', 'apply', 'screen', 'board', 'host', 'exit', 'chat', 'boardToken', 'refresh', 'roomScreen']);
const UNSUPPORTED = new Set<RoomEndpoint>(['recordStart', 'recordStop', 'records', 'record', 'roomExit', 'covideo']);
const GETS = new Set<RoomEndpoint>(['info', 'page', 'boardToken', 'simple', 'records', 'record']);
const PEER_ROUTES = new Set<RoomEndpoint>(['changeUser', 'invite', 'apply']);

function roomPath(ep: RoomEndpoint, roomId: string, userId: string): string {
  switch (ep) {
    case 'entry':
      return '/entry';
    case 'info':
    case 'change':
      return `/${roomId}`;
    case 'page':
      return `/${roomId}/user/page`;
    case 'changeUser':
      return `/${roomId}/user/${userId}`;
    case 'invite':
      return `/${roomId}/user/${userId}/host/invite`;
    case 'apply':
      return `/${roomId}/user/${userId}/audience/apply`;
    case 'screen':
      return `/${roomId}/user/${userId}/screen`;
    case 'board':
      return `/${roomId}/user/${userId}/board`;
    case 'host':
      return `/${roomId}/user/${userId}/host`;
    case 'exit':
      return `/${roomId}/user/${userId}/exit`;
    case 'chat':
      return `/${roomId}/chat`;
    case 'boardToken':
      return `/${roomId}/board`;
    case 'refresh':
      return `/${roomId}/token/refresh`;
    case 'simple':
      return `/${roomId}/simple`;
    case 'roomScreen':
      return `/${roomId}/screen`;
    case 'recordStart':
      return `/${roomId}/record/start`;
    case 'recordStop':
      return `/${roomId}/record/rec-1/stop`;
    case 'records':
      return `/${roomId}/records`;
    case 'record':
      return `/${roomId}/record/rec-1`;
    case 'roomExit':
      return `/${roomId}/exit`;
    case 'covideo':
      return `/${roomId}/covideo`;
  }
}

/** A RoomToken of the admin key for (app, room, user), spoiled as `sel` says. */
export function roomToken(w: World, sel: RoomTokenSel, appId: string, roomName: string, userId: string): string | null {
  const { accessKey: ak, secretKey: sk } = w.keys;
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const access = { appId, roomName, userId, expireAt: exp, permission: 'user' as 'user' | 'admin' };
  const signed = (payload: string, key = sk, accessKey = ak) => {
    const enc = urlsafeBase64(Buffer.from(payload));
    return `${accessKey}:${urlsafeBase64(createHmac('sha1', key).update(enc).digest())}:${enc}`;
  };
  switch (sel) {
    case 'valid':
      return signRoomToken(ak, sk, access);
    case 'python':
      // Python's json.dumps spacing: valid, and must verify over the received bytes (§4.2).
      return signed(JSON.stringify(access).replace(/":/g, '": ').replace(/,"/g, ', "'));
    case 'admin':
      return signRoomToken(ak, sk, { ...access, permission: 'admin' });
    case 'expired':
      return signRoomToken(ak, sk, { ...access, expireAt: exp - 7200 });
    case 'otherRoom':
      return signRoomToken(ak, sk, { ...access, roomName: `${roomName}-x` });
    case 'otherUser':
      return signRoomToken(ak, sk, { ...access, userId: `${userId}-x` });
    case 'otherApp':
      return signRoomToken(ak, sk, { ...access, appId: UNKNOWN_APP });
    case 'forged': {
      const [a, , enc] = signRoomToken(ak, sk, access).split(':');
      return `${a}:${urlsafeBase64(Buffer.alloc(20, 7))}:${enc}`;
    }
    case 'unknownAk':
      return signed(JSON.stringify(access), 'not-the-secret', 'nobody-ak');
    case 'twoParts': {
      const [a, , enc] = signRoomToken(ak, sk, access).split(':');
      return `${a}:${enc}`;
    }
    case 'notJson':
      return signed('not json at all');
    case 'badPermission':
      return signed(JSON.stringify({ ...access, permission: 'root' }));
    case 'expireString':
      return signed(JSON.stringify({ ...access, expireAt: String(exp) }));
    case 'missing':
      return null;
  }
}

const GOOD_ROOM_TOKENS = new Set<RoomTokenSel>(['valid', 'python', 'admin']);

function pickActor(w: World, a: { room: number; actor: number; actorIsHost: boolean }): MemberModel {
  const room = w.rooms[a.room]!;
  if (a.actorIsHost && room.hostUserId) {
    const host = w.members[a.room]!.find((m) => m.present && m.userId === room.hostUserId && m.token);
    if (host) return host;
  }
  return w.member(a.room, a.actor);
}

/** `concurrent`: other calls on the room are in flight, so a follow-up may see them first. */
export async function runAgora(w: World, a: AgoraAction, concurrent = false): Promise<void> {
  const r = a.room;
  const room = w.rooms[r]!;
  const actor = pickActor(w, a);
  const other = (r + 1) % ROOMS.length;
  const created = w.createdApps.length > 0 ? w.createdApps[a.target % w.createdApps.length]! : null;
  const appId =
    a.app === 'unknown' ? UNKNOWN_APP : a.app === 'junk' ? a.junkId : a.app === 'long' ? 'a'.repeat(600) : a.app === 'created' && created ? created.appId : w.keys.appId;
  const onDefaultApp = appId === w.keys.appId;
  const roomId =
    a.roomSel === 'own'
      ? (actor.roomId ?? room.current ?? NO_ROOM)
      : a.roomSel === 'otherRoom'
        ? (w.rooms[other]!.current ?? NO_ROOM)
        : a.roomSel === 'ended'
          ? (w.endedRooms[a.target % Math.max(1, w.endedRooms.length)] ?? NO_ROOM)
          : a.junkId;
  const targetId =
    a.targetSel === 'self'
      ? (actor.userId ?? NO_USER)
      : a.targetSel === 'member'
        ? (w.member(r, a.target).userId ?? NO_USER)
        : a.targetSel === 'host'
          ? (room.hostUserId ?? NO_USER)
          : a.targetSel === 'departed'
            ? (w.departed[a.target % Math.max(1, w.departed.length)] ?? NO_USER)
            : a.targetSel === 'otherRoom'
              ? (w.member(other, a.target).userId ?? NO_USER)
              : a.junkId;

  // Entry: the room's key and password from the model; spoiled bodies go to a throwaway key so
  // that a junk entry that happens to be accepted cannot give a pool room a junk password.
  let fields: Record<string, unknown> | null = GETS.has(a.ep) ? null : { ...a.fields };
  let entry: { uuid: string; password: string; variant: 'normal' | 'wrongPassword' | 'roomToken' | 'forgedRoomToken' } | null = null;
  const member = w.member(r, a.actor);
  if (a.ep === 'entry') {
    const c = a.spoil.cut;
    const variant =
      c < 0.06 && room.current && room.password && !room.uncertain
        ? 'wrongPassword'
        : c >= 0.06 && c < 0.16
          ? 'roomToken'
          : c >= 0.16 && c < 0.2
            ? 'forgedRoomToken'
            : 'normal';
    const uuid = a.spoil.body.kind === 'valid' ? room.uuid : 'fz-junkroom';
    entry = { uuid, password: variant === 'wrongPassword' ? 'wrong-pw' : room.password, variant };
    fields = { roomName: uuid, roomUuid: uuid, userUuid: member.userUuid, password: entry.password, ...a.fields };
    if (variant === 'roomToken' || variant === 'forgedRoomToken') {
      delete fields.password;
      fields.roomToken = roomToken(w, variant === 'roomToken' ? 'valid' : 'forged', w.keys.appId, uuid, member.userUuid);
    }
  }
  const query: [string, string][] = [];
  if (a.ep === 'page') for (const [k, v] of Object.entries(a.fields)) if (v !== undefined) query.push([k, String(v)]);

  const headers: Header[] = [];
  const usesRoomToken = entry?.variant === 'roomToken' || entry?.variant === 'forgedRoomToken';
  // A RoomToken entry replaces the Basic credentials (README: Qiniu RoomToken).
  const basicSel = usesRoomToken && a.basic === 'good' ? 'none' : a.basic;
  switch (basicSel) {
    case 'good':
      headers.push(['Authorization', basicOf(w)]);
      break;
    case 'lowercase':
      headers.push(['Authorization', basicOf(w).replace('Basic', 'basic')]);
      break;
    case 'forged':
      headers.push(['Authorization', `Basic ${b64(`${w.keys.customerId}:not-the-secret`)}`]);
      break;
    case 'wrongScheme':
      headers.push(['Authorization', `Bearer ${b64(`${w.keys.customerId}:${w.keys.customerSecret}`)}`]);
      break;
    case 'badBase64':
      headers.push(['Authorization', 'Basic !!!not-base64***']);
      break;
    case 'noColon':
      headers.push(['Authorization', `Basic ${b64(w.keys.customerId)}`]);
      break;
    case 'otherApp':
      headers.push(['Authorization', `Basic ${b64(created ? `${created.customerId}:${created.customerSecret}` : 'other:creds')}`]);
      break;
    default:
  }
  const otherMember = w.member(other, a.target);
  const token =
    a.token === 'own' || a.token === 'query'
      ? actor.token
      : a.token === 'junk'
        ? 'junk-token'
        : a.token === 'forged'
          ? `${roomId}.${actor.userId ?? NO_USER}.${'A'.repeat(32)}`
          : a.token === 'otherRoom'
            ? (otherMember.token ?? 'a.b.c')
            : a.token === 'revoked'
              ? (w.revoked[a.target % Math.max(1, w.revoked.length)] ?? 'a.b.c')
              : a.token === 'long'
                ? 'a'.repeat(300)
                : a.token === 'empty'
                  ? ''
                  : null;
  if (token !== null) {
    if (a.token === 'query') query.push(['token', token]);
    else headers.push(['token', token]);
  }

  const base: Base = {
    method: GETS.has(a.ep) ? 'GET' : 'POST',
    path: roomPrefix(a.form, appId) + roomPath(a.ep, roomId, targetId),
    query,
    headers,
    fields,
    host: `127.0.0.1:${w.port}`,
    hugeBytes: AGORA_BODY_LIMIT + 1024,
  };
  const built = build(base, a.spoil);

  // What the request's outcome must be, where the spec leaves no choice. Checked in the order the
  // server settles a call: app (404), body parse (400), Basic (1001), member token (401); but a call
  // with a body other than an entry is authenticated before its body is read (http/conf/early.ts):
  // app, Basic, member token, then body parse.
  let expect: Expect | undefined;
  const isPost = base.method === 'POST';
  const parseFails = isPost && (built.unparseable || built.huge);
  const authFirst = parseFails && a.ep !== 'entry';
  const basicBad = !['good', 'lowercase'].includes(basicSel) && !(usesRoomToken && a.spoil.body.kind === 'valid');
  const tokenStale = a.token === 'own' || a.token === 'query' ? actor.token === null : ['none', 'junk', 'forged', 'revoked', 'long', 'empty'].includes(a.token) || (a.token === 'otherRoom' && a.roomSel !== 'otherRoom');
  const wrongRoomForToken = (a.token === 'own' || a.token === 'query') && actor.token !== null && (a.roomSel === 'otherRoom' || a.roomSel === 'ended') && roomId !== actor.roomId;
  // Junk ids in the path may fail routing first (percent-encoding junk), or are over-long.
  const junkInPath = base.path.split('/').includes(a.junkId);
  const longSegment = base.path.split('/').some((seg) => decodedLength(seg) > 512);
  // A RoomToken entry whose body was spoiled may have lost the token: who checks what is unclear.
  if (built.benign && !built.reset && longSegment) expect = { codes: [400], why: 'over-long path segment' };
  else if (built.benign && !built.reset && !(junkInPath && /%/.test(a.junkId)) && !(usesRoomToken && a.spoil.body.kind !== 'valid')) {
    if (a.app === 'long') expect = { codes: [400], why: 'over-long path segment' };
    else if (parseFails && a.app !== 'junk' && !authFirst) expect = { codes: [400], why: built.huge ? 'body over the limit' : 'body is not JSON' };
    else if (a.app === 'unknown') expect = { codes: [404], why: 'unknown app' };
    else if (onDefaultApp) {
      if (basicBad) expect = { codes: [1001], why: `Basic credentials ${basicSel}` };
      else if (MEMBER_AUTH.has(a.ep) && (tokenStale || wrongRoomForToken) && a.roomSel !== 'junk') {
        expect = { codes: [401], why: wrongRoomForToken ? 'token of another room' : `member token ${a.token}${actor.token === null ? ' (none yet)' : ''}` };
      } else if (authFirst && a.roomSel !== 'junk') {
        // The model does not follow every departure (a kick, an expiry): a member token it deems
        // valid may already be refused (401), which now comes before the body.
        expect = { codes: MEMBER_AUTH.has(a.ep) ? [400, 401] : [400], why: built.huge ? 'body over the limit' : 'body is not JSON' };
      }
      else if (UNSUPPORTED.has(a.ep) && a.roomSel !== 'junk') expect = { codes: [404], why: 'unsupported endpoint (§4.4)' };
      else if (a.ep === 'simple' && a.roomSel === 'ended' && roomId !== NO_ROOM) expect = { codes: [404], why: 'E15 on an ended meeting' };
      else if (entry && a.spoil.body.kind === 'valid' && built.parsed) {
        if (entry.variant === 'normal' || entry.variant === 'roomToken') expect = { codes: room.uncertain ? [0, 1002] : [0], why: 'valid entry' };
        else if (entry.variant === 'wrongPassword') expect = { codes: [1002], why: 'wrong room password' };
        else expect = { codes: [1001], why: 'forged RoomToken in the entry' };
      }
    }
  }

  const label = `agora:${a.ep}`;
  // Who a peer message of this call would go to, decided before the call changes the model.
  const peer = peerOf(a, built, room, actor, targetId);
  const res = await send(w, label, built, expect, a.spoil.cut);
  const complete = built.reset === 'afterRequest' || built.reset === 'midAnswer';
  if (complete) {
    // The server got the whole request: its effect is unknown until the next check.
    room.uncertain = true;
    if (peer) w.addPeer(roomId, peer.count, peer.to, `${label} (reset)`);
  }
  if (peer && agoraCode(res) === 0) w.addPeer(roomId, peer.count, peer.to, label);
  if (agoraCode(res) !== 0 || !onDefaultApp) return;
  await learnAgora(w, a, built, res, { roomId, targetId, actor, member, entry, r, concurrent });
}

async function learnAgora(
  w: World,
  a: AgoraAction,
  built: Built,
  res: RawResult,
  c: { roomId: string; targetId: string; actor: MemberModel; member: MemberModel; entry: { uuid: string; password: string; variant: string } | null; r: number; concurrent: boolean },
): Promise<void> {
  const data = agoraData(res);
  const room = w.rooms[c.r]!;
  switch (a.ep) {
    case 'entry': {
      if (!c.entry || c.entry.uuid !== room.uuid || typeof data?.roomId !== 'string') return;
      w.entered(c.r, c.member, data.roomId, data.userToken, c.entry.variant === 'normal' || c.entry.variant === 'wrongPassword' ? c.entry.password : '');
      // The entry answer has no userId: GET room info for it (an ordinary valid call).
      await learnInfo(w, c.r, c.member, a.form, 'agora:info(after entry)', !c.concurrent);
      return;
    }
    case 'info':
      if (data?.user?.userId && c.actor.roomId === c.roomId) c.actor.userId = data.user.userId;
      if (data?.room?.roomId === room.current) {
        room.hostUserId = data.room.hosts?.[0]?.userId ?? null;
        room.password = data.room.password;
      }
      return;
    case 'change': {
      const state = flagInt(built.parsed?.state);
      if ((state === 0 || state === 2) && c.roomId === room.current) w.ended(c.r);
      return;
    }
    case 'host':
      if (c.roomId === room.current) room.hostUserId = c.targetId;
      return;
    case 'exit': {
      const target = w.members[c.r]!.find((m) => m.userId === c.targetId && m.roomId === c.roomId);
      if (target) w.left(c.r, target);
      if (room.hostUserId === c.targetId) room.hostUserId = null;
      return;
    }
    default:
  }
}

/**
 * The peer messages a successful E5/E6/E7 sends (§5.3): E5 one notice per field to its target
 * when someone else acts; E6 one to its target; E7 one to the named member or the host.
 */
function peerOf(a: AgoraAction, built: Built, room: { hostUserId: string | null; uncertain: boolean }, actor: MemberModel, targetId: string) {
  if (!PEER_ROUTES.has(a.ep)) return null;
  const body = built.parsed;
  if (a.ep === 'changeUser') {
    if (actor.userId !== null && actor.userId === targetId) return null;
    const fields = body ? ['enableChat', 'enableVideo', 'enableAudio', 'grantBoard'].filter((k) => k in body).length : 4;
    return { count: fields, to: [targetId] };
  }
  if (a.ep === 'invite') return { count: 1, to: [targetId] };
  // E7: the named member if it may grant the request, else the host; a board apply may go to the
  // board's creator, whom the model does not know.
  const host = room.uncertain ? null : room.hostUserId;
  return { count: 1, to: flagInt(body?.type) === 3 ? null : [targetId, host] };
}

/** GET room info with a member's token; learns its userId, the host and the password. */
export async function learnInfo(w: World, r: number, m: MemberModel, form: Form, label: string, mustSucceed: boolean): Promise<any> {
  if (!m.roomId || !m.token) return null;
  const built = build(
    {
      method: 'GET',
      path: roomPrefix(form, w.keys.appId) + `/${m.roomId}`,
      query: [],
      headers: [['Authorization', basicOf(w)], ['token', m.token]],
      fields: null,
      host: `127.0.0.1:${w.port}`,
      hugeBytes: 0,
    },
    CLEAN,
  );
  const res = await send(w, label, built, mustSucceed ? { codes: [0], why: 'GET room info right after a successful entry' } : undefined);
  if (agoraCode(res) !== 0) return null;
  const data = agoraData(res);
  m.userId = data.user.userId;
  const room = w.rooms[r]!;
  if (data.room.roomId === room.current) {
    room.hostUserId = data.room.hosts?.[0]?.userId ?? null;
    room.password = data.room.password;
  }
  return data;
}

export const CLEAN = {
  method: 'ok',
  target: 'origin',
  path: 'none',
  query: 'none',
  header: 'none',
  ct: 'json',
  body: { kind: 'valid' },
  reset: null,
  cut: 0.5,
} as const satisfies import('./gen.ts').Spoil;

// ---------------------------------------------------------------------------------------------
// App-level and plain paths

export async function runAppLevel(w: World, a: AppLevelAction): Promise<void> {
  const rest = { language: '/multi/language', version: '/app/version', logParams: '/log/params', stsCallback: '/log/sts/callback', unknown: '/no-such-thing', realtimePlain: '/realtime' }[a.route];
  const query: [string, string][] = a.route === 'version' ? Object.entries(a.query).filter(([, v]) => v !== undefined).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]) : [];
  // A WebSocket upgrade of the realtime path is a real handshake (the ws actions cover it).
  const spoil = a.route === 'realtimePlain' && a.spoil.header === 'wsUpgrade' ? { ...a.spoil, header: 'none' as const } : a.spoil;
  const built = build(
    { method: a.route === 'stsCallback' ? 'POST' : 'GET', path: a.prefix + rest, query, headers: [], fields: a.route === 'stsCallback' ? {} : null, host: `127.0.0.1:${w.port}`, hugeBytes: AGORA_BODY_LIMIT + 1024 },
    spoil,
  );
  let expect: Expect | undefined;
  if (built.benign && !built.reset) {
    if (a.route === 'language' || a.route === 'version') expect = { codes: [0], why: `${a.route} must succeed (§4.3)` };
    else if (a.route === 'logParams') expect = { codes: [404], why: 'unsupported (§4.4)' };
  }
  await send(w, `appLevel:${a.route}`, built, expect, a.spoil.cut);
}

export async function runPlain(w: World, a: PlainAction): Promise<void> {
  const path = { healthz: '/healthz', healthzJunk: '/healthz', unknown: `/${a.junk}`, star: '*', v4: `/v4/apps/${w.keys.appId}/rooms/r1/jobs`, root: '/' }[a.route];
  const built = build({ method: 'GET', path, query: a.route === 'healthzJunk' ? [['x', a.junk]] : [], headers: [], fields: null, host: `127.0.0.1:${w.port}`, hugeBytes: 1024 }, a.spoil);
  let expect: Expect | undefined;
  if (built.benign && !built.reset && a.route === 'healthz') expect = { statuses: [200], why: 'health check' };
  // Junk segments may themselves look like an API prefix; only clearly plain paths are judged here.
  if (a.route === 'unknown' && apiOf(built.req.target) !== 'plain') return void (await send(w, `plain:${a.route}`, built, undefined, a.spoil.cut));
  await send(w, `plain:${a.route}`, built, expect, a.spoil.cut);
}

export async function runProtocol(w: World, a: ProtocolAction): Promise<void> {
  const path = a.path === 'agora' ? `/apps/${w.keys.appId}/v1/room/entry` : a.path === 'qiniu' ? '/v3/apps' : '/healthz';
  const host = `Host: 127.0.0.1:${w.port}\r\n`;
  let text: string;
  switch (a.kind) {
    case 'badRequestLine':
      text = `GET ${path} HTTP/1.1 extra\r\n${host}\r\n`;
      break;
    case 'noHost':
      text = `GET ${path} HTTP/1.1\r\nConnection: close\r\n\r\n`;
      break;
    case 'dupContentLength':
      text = `POST ${path} HTTP/1.1\r\n${host}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}`;
      break;
    case 'clAndTe':
      text = `POST ${path} HTTP/1.1\r\n${host}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`;
      break;
    case 'badChunk':
      text = `POST ${path} HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`;
      break;
    case 'headerOverflow':
      text = `GET ${path} HTTP/1.1\r\n${host}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`;
      break;
    case 'spaceInTarget':
      text = `GET ${path}/a b HTTP/1.1\r\n${host}\r\n`;
      break;
    case 'bareLf':
      text = `GET ${path} HTTP/1.1\n${host.replace('\r\n', '\n')}Connection: close\n\n`;
      break;
    case 'nulInHeader':
      text = `GET ${path} HTTP/1.1\r\n${host}X-A: a\u0000b\r\n\r\n`;
      break;
    case 'unknownMethod':
      text = `BREW ${path} HTTP/1.1\r\n${host}\r\n`;
      break;
    case 'hugeTarget':
      text = `GET ${path}?q=${'a'.repeat(20_000)} HTTP/1.1\r\n${host}\r\n`;
      break;
    case 'http10': {
      // HTTP/1.0 without Host is a valid request: it gets a normal answer.
      const req: RawRequest = { method: 'GET', target: path, headers: [] , bytes: Buffer.from(`GET ${path} HTTP/1.0\r\n\r\n`) };
      await send(w, 'protocol:http10', { req, reset: undefined });
      return;
    }
    case 'pipelined': {
      // Two requests in one write on a kept-alive connection: two answers, in order, each in its envelope.
      const one = `GET ${path} HTTP/1.1\r\n${host}\r\n`;
      const two = `GET ${path} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`;
      const req: RawRequest = { method: 'GET', target: path, headers: [], bytes: Buffer.from(one + two) };
      const sent: Sent = { where: w.where, label: 'protocol:pipelined', req };
      w.record(sent);
      const all = await readAll(w.port, req.bytes!);
      const first = parseResponse(all, true, 'GET');
      if (!first || first === 'malformed') return w.violate('pipelined: no first answer', sent.label, `got ${JSON.stringify(all.toString('latin1').slice(0, 200))}`, sent);
      const second = parseResponse(all.subarray(first.consumed), true, 'GET');
      if (!second || second === 'malformed') return w.violate('pipelined: no second answer', sent.label, `got ${JSON.stringify(all.toString('latin1').slice(0, 300))}`, sent, first);
      for (const x of [first, second]) for (const p of checkExchange(x, 'GET', path)) w.violate(ruleOf(p), sent.label, p, sent, x);
      return;
    }
  }
  const req: RawRequest = { method: 'GET', target: path, headers: [], bytes: Buffer.from(text, 'latin1') };
  const sent: Sent = { where: w.where, label: `protocol:${a.kind}`, req };
  w.record(sent);
  const r = await exchange(w.port, req);
  if (r.kind !== 'answer') await new Promise((res) => setTimeout(res, 150));
  if (r.kind !== 'answer' && !w.target.alive()) return;
  for (const p of checkProtocol(r)) w.violate(ruleOf(p), sent.label, p, sent, r);
  // Framing errors in a small head whose request line names an API are answered in that API's envelope.
  if (r.kind === 'answer' && a.path !== 'plain' && INSIDE_FIRST_PACKET.has(a.kind)) {
    for (const p of checkExchange(r, 'GET', path)) w.violate(ruleOf(p), sent.label, p, sent, r);
  }
}

/** Malformed requests whose request line the parser has read when it fails (their head is small). */
const INSIDE_FIRST_PACKET = new Set(['dupContentLength', 'clAndTe', 'badChunk', 'unknownMethod', 'spaceInTarget', 'badRequestLine']);

function readAll(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => sock.destroy(), 5_000);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    sock.on('error', () => {});
  });
}

// ---------------------------------------------------------------------------------------------
// Qiniu server API

const KNOWN_QINIU = new Set(['createApp', 'listApps', 'getApp', 'updateApp', 'deleteApp', 'listRooms', 'closeRoom', 'listUsers', 'kick', 'message']);

export async function runQiniu(w: World, original: QiniuAction): Promise<void> {
  // A body the signature leaves out matters only where a route reads its body (§2.1): put the
  // unsigned-body modes on those routes.
  const unsignedBody = original.sign === 'bodyNoCt' || original.sign === 'octetBody';
  const a: QiniuAction = unsignedBody && !['createApp', 'updateApp', 'message'].includes(original.route)
    ? { ...original, route: (['createApp', 'updateApp', 'message'] as const)[original.room % 3]!, fields: original.route === 'message' ? original.fields : { title: 'unsigned-body', maxUsers: 1 } }
    : original;
  const created = w.createdApps.length > 0 ? w.createdApps[a.room % w.createdApps.length]! : null;
  let app: string;
  switch (a.app) {
    case 'created':
      app = created?.appId ?? w.keys.appId;
      break;
    case 'unknown':
      app = 'nosuchapp0';
      break;
    case 'junk':
      app = a.roomJunk ?? '%ZZ';
      break;
    case 'long':
      app = 'a'.repeat(600);
      break;
    case 'deleted':
      app = w.deletedApps[a.room % Math.max(1, w.deletedApps.length)] ?? 'deletedapp';
      break;
    default:
      app = w.keys.appId;
  }
  // The default app carries every room of the run: never deleted, its limits never changed (a
  // 'wrong method' spoil would turn GET /v3/apps/<app> into a correctly signed DELETE).
  if (app === w.keys.appId && (a.route === 'deleteApp' || ((a.route === 'getApp' || a.route === 'updateApp') && a.spoil.method !== 'ok'))) app = 'nosuchapp0';
  const roomName = a.roomJunk && a.app !== 'junk' ? a.roomJunk : ROOMS[a.room]!;
  const userName = a.userJunk ?? USERS[a.user]!;
  let fields: Record<string, unknown> | null = { ...a.fields };
  if (a.route === 'updateApp' && app === w.keys.appId) {
    delete fields.maxUsers;
    delete fields.noAutoKickUser;
  }
  if (a.route === 'message' && fields.targets === 'members') fields.targets = [USERS[a.user]!, USERS[(a.user + 1) % USERS.length]!];
  let method = 'GET';
  let path = '/v3/apps';
  const query: [string, string][] = [];
  switch (a.route) {
    case 'createApp':
      method = 'POST';
      break;
    case 'listApps':
      fields = null;
      break;
    case 'getApp':
      path = `/v3/apps/${app}`;
      fields = null;
      break;
    case 'updateApp':
      method = 'POST';
      path = `/v3/apps/${app}`;
      break;
    case 'deleteApp':
      method = 'DELETE';
      path = `/v3/apps/${app}`;
      fields = null;
      break;
    case 'listRooms':
      path = `/v3/apps/${app}/rooms`;
      for (const [k, v] of Object.entries(a.query)) if (v !== undefined) query.push([k, String(v)]);
      if (a.repeat !== 'none') query.push([a.repeat, a.repeat === 'prefix' ? 'fz-room-b' : '1'], [a.repeat, a.repeat === 'prefix' ? 'zzz' : '2']);
      fields = null;
      break;
    case 'closeRoom':
      method = 'DELETE';
      path = `/v3/apps/${app}/rooms/${roomName}`;
      fields = null;
      break;
    case 'listUsers':
      path = `/v3/apps/${app}/rooms/${roomName}/users`;
      fields = null;
      break;
    case 'kick':
      method = 'DELETE';
      path = `/v3/apps/${app}/rooms/${roomName}/users/${userName}`;
      fields = null;
      break;
    case 'message':
      method = 'POST';
      path = `/v3/apps/${app}/rooms/${roomName}/message`;
      break;
    case 'unsupported':
      method = 'POST';
      path = a.user % 2 ? `/v3/apps/${app}/createroom` : `/v3/apps/${app}/rooms/${roomName}/merge_job`;
      break;
    default:
      path = `/v3/${a.userJunk ?? 'nothing'}`;
      fields = null;
  }
  if (method === 'GET' || method === 'DELETE') fields = null;
  const host = a.host === 'qiniu' ? 'rtc.qiniuapi.com' : `127.0.0.1:${w.port}`;
  const qiniuHeaders: Header[] = [];
  const now = new Date();
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  if (a.sign === 'withDate') qiniuHeaders.push(['X-Qiniu-Date', stamp]);
  if (a.sign === 'staleDate') qiniuHeaders.push(['X-Qiniu-Date', '20200101T000000Z']);
  if (a.sign === 'dupDate') qiniuHeaders.push(['X-Qiniu-Date', stamp], ['x-qiniu-date', stamp]);
  const spoil = { ...a.spoil };
  // The unsigned-body cases need a body the signature leaves out (§2.1): none or octet-stream.
  if (a.sign === 'bodyNoCt') spoil.ct = 'none';
  if (a.sign === 'octetBody') spoil.ct = 'octet';
  if ((a.sign === 'bodyNoCt' || a.sign === 'octetBody') && fields === null) fields = { title: 'unsigned-body' };
  const base: Base = {
    method,
    path,
    query,
    headers: qiniuHeaders,
    fields,
    host,
    hugeBytes: QINIU_BODY_LIMIT + 1024,
    form: spoil.ct === 'form' && (a.route === 'createApp' || a.route === 'updateApp'),
  };
  const built = build(base, spoil);
  if ((a.sign === 'bodyNoCt' || a.sign === 'octetBody') && built.body.length === 0) {
    built.body = Buffer.from('{"title":"unsigned-body"}');
    built.req.body = built.body;
    const cl = built.req.headers.findIndex(([k]) => k === 'Content-Length');
    if (cl >= 0) built.req.headers[cl] = ['Content-Length', String(built.body.length)];
    else built.req.headers.splice(1, 0, ['Content-Length', String(built.body.length)]);
  }
  const firstCt = built.req.headers.find(([k]) => k.toLowerCase() === 'content-type')?.[1];
  const firstHost = built.req.headers.find(([k]) => k.toLowerCase() === 'host')![1];
  const signWith = (over: Partial<{ ak: string; sk: string; target: string; host: string; body: Buffer }> = {}) =>
    qiniuAuthorization(over.ak ?? w.keys.accessKey, over.sk ?? w.keys.secretKey, {
      method: built.req.method,
      target: over.target ?? built.req.target,
      host: over.host ?? firstHost,
      contentType: firstCt,
      qiniuHeaders: built.req.headers.filter(([k]) => k.toLowerCase().startsWith('x-qiniu-')),
      body: over.body ?? built.body,
    });
  let auth: string | null = null;
  let signBad = true;
  switch (a.sign) {
    case 'good':
    case 'withDate':
    case 'bodyNoCt':
    case 'octetBody':
      auth = signWith();
      // Only a POST route reads its body; elsewhere an unsigned body is ignored.
      signBad = (a.sign === 'bodyNoCt' || a.sign === 'octetBody') && method === 'POST' && KNOWN_QINIU.has(a.route);
      break;
    case 'lowercaseScheme':
      auth = signWith().replace(/^Qiniu /, 'qiniu ');
      signBad = false;
      break;
    case 'none':
      break;
    case 'qbox':
      auth = qboxAuthorization(w.keys.accessKey, w.keys.secretKey, built.req.target, firstCt, built.body);
      break;
    case 'unknownAk':
      auth = signWith({ ak: 'nobody-ak', sk: 'nobody-sk' });
      break;
    case 'badSig':
      auth = signWith().replace(/.{4}$/, 'AAA=');
      break;
    case 'otherHost':
      auth = signWith({ host: 'evil.example' });
      break;
    case 'otherQuery':
      auth = signWith();
      built.req.target += built.req.target.includes('?') ? '&fz=1' : '?fz=1';
      break;
    case 'otherBody':
      auth = signWith({ body: Buffer.concat([built.body, Buffer.from(' ')]) });
      // Without a (signed) Content-Type the body is not in the signature: as good as signed.
      if (!firstCt || firstCt === 'application/octet-stream') signBad = false;
      break;
    case 'staleDate':
    case 'dupDate':
      auth = signWith();
      break;
    case 'emptyParts':
      auth = a.user % 2 ? 'Qiniu :' : `Qiniu ${w.keys.accessKey}:`;
      break;
  }
  if (auth !== null) built.req.headers.splice(1, 0, ['Authorization', auth]);
  // Whatever the mode, a body the signature does not cover must not be acted on (§2.1).
  const bodyUnsigned = method === 'POST' && built.body.length > 0 && (!firstCt || firstCt === 'application/octet-stream') && KNOWN_QINIU.has(a.route);
  if (bodyUnsigned) signBad = true;

  let expect: Expect | undefined;
  const junkUsed = [a.roomJunk, a.userJunk].some((j) => j !== null && path.split('/').includes(j));
  const routable = built.benign && !built.reset && KNOWN_QINIU.has(a.route) && a.app !== 'long' && a.app !== 'junk' && !junkUsed;
  if (routable && !built.huge) {
    if (signBad) {
      expect = {
        statuses: [401],
        why: bodyUnsigned ? `a body the signature does not cover (Content-Type ${JSON.stringify(firstCt ?? null)})` : `signature ${a.sign}`,
      };
    } else if (app !== w.keys.appId && !w.createdApps.some((x) => x.appId === app)) {
      if (a.route !== 'createApp' && a.route !== 'listApps') expect = { statuses: [612], why: 'unknown or deleted app' };
    } else if (a.route === 'listApps' || (a.route === 'getApp' && (a.app === 'default' || created))) expect = { statuses: [200], why: 'signed read of an own app' };
    else if (a.route === 'listUsers' || (a.route === 'listRooms' && a.spoil.query === 'none' && a.repeat === 'none')) expect = { statuses: [200], why: 'signed read' };
    // A repeated parameter is a client error or ignored, never a server error.
    else if (a.route === 'listRooms' && a.repeat !== 'none') expect = { statuses: [200, 400], why: `?${a.repeat} given twice` };
  } else if (routable && built.huge && built.req.method === 'POST') expect = { statuses: [413], why: 'body over 1 MiB' };
  else if (built.benign && !built.reset && !built.huge && (a.route === 'unsupported' || (a.route === 'unknown' && !a.userJunk)) && a.app !== 'junk' && a.app !== 'long' && !junkUsed) {
    expect = { statuses: [404], why: 'unsupported or unknown /v3 route (§3.4)' };
  }

  // A repeated query parameter may be refused (400) before anything else is looked at.
  if (expect?.statuses && a.route === 'listRooms' && a.repeat !== 'none' && !expect.statuses.includes(400)) {
    expect = { statuses: [...expect.statuses, 400], why: `${expect.why}; ?${a.repeat} given twice` };
  }
  const res = await send(w, `qiniu:${a.route}:${a.sign}`, built, expect, spoil.cut);
  const complete = built.reset === 'afterRequest' || built.reset === 'midAnswer';
  const roomIdx = ROOMS.indexOf(roomName);
  // A message to named users is a targeted event: record whom it may have reached.
  const targets = (built.parsed as { targets?: unknown } | null)?.targets;
  const targeted = a.route === 'message' && roomIdx >= 0 && app === w.keys.appId && (built.parsed === null || (Array.isArray(targets) && targets.length > 0));
  const targetIds = targeted && Array.isArray(targets) ? targets.map((u) => w.members[roomIdx]!.find((m) => m.userUuid === u && m.roomId === w.rooms[roomIdx]!.current)?.userId ?? null) : null;
  if (complete && roomIdx >= 0 && app === w.keys.appId) {
    w.rooms[roomIdx]!.uncertain = true;
    if (targeted) w.addPeer(w.rooms[roomIdx]!.current, 1, targetIds, 'qiniu:message (reset)');
  }
  // A created app may be gone without a 200 saying so: a DELETE whose answer was cut off, or a
  // request whose method was spoiled into a DELETE. Ask the server rather than guess.
  const createdIdx = w.createdApps.findIndex((x) => x.appId === app);
  if (createdIdx >= 0 && (a.route === 'deleteApp' || spoil.method !== 'ok' || res.kind !== 'answer')) {
    const check = await signedQiniu(w, 'check:app', 'GET', `/v3/apps/${app}`);
    if (check.kind === 'answer' && check.status === 612) w.deletedApps.push(...w.createdApps.splice(createdIdx, 1).map((x) => x.appId));
    return;
  }
  if (res.kind !== 'answer' || res.status !== 200) return;
  const body = res.json as any;
  if (a.route === 'createApp' && typeof body?.appId === 'string') w.createdApps.push({ appId: body.appId, customerId: body.customerId, customerSecret: body.customerSecret });
  if (a.route === 'deleteApp') {
    const i = w.createdApps.findIndex((x) => x.appId === app);
    if (i >= 0) w.deletedApps.push(...w.createdApps.splice(i, 1).map((x) => x.appId));
  }
  if (app !== w.keys.appId || roomIdx < 0) return;
  if (a.route === 'closeRoom') w.ended(roomIdx);
  if (a.route === 'kick') {
    const m = w.members[roomIdx]!.find((x) => x.userUuid === userName);
    if (m) w.left(roomIdx, m);
  }
  if (targeted) w.addPeer(w.rooms[roomIdx]!.current, 1, targetIds, 'qiniu:message');
}

// ---------------------------------------------------------------------------------------------
// RoomToken check

export async function runAuth(w: World, a: AuthAction): Promise<void> {
  const created = w.createdApps[a.room % Math.max(1, w.createdApps.length)];
  const appId = a.app === 'unknown' ? 'nosuchapp0' : a.app === 'created' && created ? created.appId : w.keys.appId;
  const roomName = a.badName === 'room' ? 'r!' : ROOMS[a.room]!;
  const userName = a.badName === 'user' ? 'u!' : USERS[a.user]!;
  const tok = roomToken(w, a.tok, appId, roomName, userName);
  const query: [string, string][] = [];
  if (a.query !== 'noUser') query.push(['user', userName]);
  if (tok !== null) query.push(['token', tok]);
  if (a.query === 'dupToken') query.push(['token', roomToken(w, 'valid', appId, roomName, userName)!]);
  if (a.query === 'dupUser') query.push(['user', `${userName}-2`]);
  if (a.query === 'extra') query.push(['foo', 'bar']);
  const built = build(
    { method: 'GET', path: `/v3/apps/${appId}/rooms/${encodeURIComponent(roomName)}/auth`, query, headers: [], fields: null, host: `127.0.0.1:${w.port}`, hugeBytes: 0 },
    a.spoil,
  );
  let expect: Expect | undefined;
  if (built.benign && !built.reset) {
    const good = a.badName === 'none' && (GOOD_ROOM_TOKENS.has(a.tok) ? a.query === 'normal' || a.query === 'extra' : a.tok === 'missing' && a.query === 'dupToken');
    if ((a.query === 'dupToken' && tok !== null) || a.query === 'dupUser') expect = { statuses: [400, 401, 612], why: 'repeated user/token: a client error' };
    else if (a.app === 'unknown') expect = { statuses: [612], why: 'unknown app' };
    else if (good) expect = { statuses: appId === w.keys.appId ? [200] : [200, 403], why: `RoomToken ${a.tok}` };
    else expect = { statuses: [401], why: a.badName !== 'none' ? `name outside the Qiniu pattern (${a.badName})` : a.query === 'noUser' ? 'no user' : `RoomToken ${a.tok}` };
  }
  const res = await send(w, `auth:${a.tok}`, built, expect, a.spoil.cut);
  if (appId === w.keys.appId && a.badName === 'none' && (built.reset === 'afterRequest' || built.reset === 'midAnswer')) {
    w.rooms[a.room]!.uncertain = true;
    w.member(a.room, a.user).token = null;
  }
  if (res.kind !== 'answer' || res.status !== 200 || appId !== w.keys.appId || a.badName !== 'none') return;
  if (built.req.method !== 'GET') {
    // HEAD runs the GET handler: the member entered again, with a token we never saw.
    w.rooms[a.room]!.uncertain = true;
    w.member(a.room, a.user).token = null;
    return;
  }
  const accessToken = (res.json as { accessToken?: unknown } | undefined)?.accessToken;
  if (typeof accessToken !== 'string') {
    return w.violate('auth 200 without accessToken', `auth:${a.tok}`, 'a 200 from /auth must carry accessToken (§3.3)', { where: w.where, label: `auth:${a.tok}`, req: built.req }, res);
  }
  await learnBySnapshot(w, a.room, a.user, accessToken, 'auth:snapshot');
}

/** Connect with a token, read the snapshot, learn the meeting and member it names. */
async function learnBySnapshot(w: World, r: number, u: number, token: string, label: string): Promise<void> {
  const m = w.member(r, u);
  const url = `ws://127.0.0.1:${w.port}/v1/realtime?${queryString([['token', token]])}`;
  w.record({ where: w.where, label, req: { method: 'GET', target: url, headers: [] } });
  const snap = await new Promise<any>((resolve) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => done(null), 5_000);
    const done = (v: any) => {
      clearTimeout(timer);
      ws.terminate();
      resolve(v);
    };
    ws.on('message', (d) => {
      try {
        done(JSON.parse(d.toString()));
      } catch {
        done(null);
      }
    });
    ws.on('close', () => done(null));
    ws.on('error', () => done(null));
  });
  if (snap?.type !== 'snapshot') {
    w.rooms[r]!.uncertain = true;
    m.token = null;
    return;
  }
  const roomId = snap.data.room.roomId as string;
  w.entered(r, m, roomId, token, snap.data.room.password ?? '');
  m.userId = snap.data.me.userId;
  w.rooms[r]!.hostUserId = snap.data.room.hosts?.[0]?.userId ?? null;
}

// ---------------------------------------------------------------------------------------------
// Realtime socket

const HARMLESS = new Set(['text', 'binary', 'garbage']);

function junkBytes(j: WsJunk): Buffer {
  switch (j.k) {
    case 'text':
      return frame(0x1, Buffer.from(j.s));
    case 'binary':
      return frame(0x2, Buffer.alloc(j.n, 0xab));
    case 'oversize':
      return frame(0x1, Buffer.alloc(5000, 0x61));
    case 'opcode':
      return frame(j.op, Buffer.from('x'));
    case 'unmasked':
      return frame(0x1, Buffer.from('{}'), { masked: false });
    case 'rsv':
      return frame(0x1, Buffer.from('{}'), { rsv: j.rsv });
    case 'fragPing':
      return frame(0x9, Buffer.from('p'), { fin: false });
    case 'bigPing':
      return frame(0x9, Buffer.alloc(126, 1));
    case 'badClose': {
      const p = Buffer.alloc(2);
      p.writeUInt16BE(j.code);
      return frame(0x8, p);
    }
    case 'badUtf8':
      return frame(0x1, Buffer.from([0xc3, 0x28, 0xff]));
    case 'cont':
      return frame(0x0, Buffer.from('x'));
    case 'garbage':
      return Buffer.from(j.bytes);
    case 'len64':
      return frame(0x2, Buffer.alloc(0), { lengthAs64: 2n ** 53n });
  }
}

export async function runWs(w: World, a: WsAction): Promise<void> {
  const m = w.member(a.room, a.user);
  const room = w.rooms[a.room]!;
  const label = `ws:${a.tok}:${a.handshake}:${a.end}`;
  const rt = a.tok === 'roomToken' ? roomToken(w, 'valid', w.keys.appId, room.uuid, m.userUuid) : null;
  const token =
    a.tok === 'own'
      ? m.token
      : a.tok === 'junk'
        ? 'junk.token.value'
        : a.tok === 'revoked'
          ? (w.revoked[a.user % Math.max(1, w.revoked.length)] ?? 'a.b.c')
          : a.tok === 'roomToken'
            ? rt
            : a.tok === 'forgedRoomToken'
              ? roomToken(w, 'forged', w.keys.appId, room.uuid, m.userUuid)
              : a.tok === 'dup'
                ? m.token
                : a.tok === 'departed'
                  ? (w.members[a.room]!.find((x) => !x.present && x.token)?.token ?? 'x.y.z')
                  : null;
  const q: [string, string][] = [];
  if (token !== null) q.push(['token', token]);
  if (a.tok === 'dup') q.push(['token', 'junk.token.value']);
  // A RoomToken entry is learned from the snapshot, which only a connect without `since` gets.
  const since = a.tok === 'roomToken' ? 'none' : a.since;
  const sinceValue = { none: null, '0': '0', last: String(w.lastSeq.get(room.current ?? '') ?? 0), junk: 'abc', negative: '-1', huge: '99999999999', float: '1.5' }[since];
  if (sinceValue !== null) q.push(['since', sinceValue]);
  const target = `${a.path}${q.length ? `?${queryString(q)}` : ''}`;
  const host = `127.0.0.1:${w.port}`;
  let headers = handshakeHeaders(host);
  let method = 'GET';
  if (a.handshake === 'noKey') headers = headers.filter(([k]) => k !== 'Sec-WebSocket-Key');
  if (a.handshake === 'badVersion') headers = headers.map(([k, v]) => [k, k === 'Sec-WebSocket-Version' ? '12' : v]);
  if (a.handshake === 'post') method = 'POST';
  if (a.handshake === 'noConnectionUpgrade') headers = headers.map(([k, v]) => [k, k === 'Connection' ? 'close' : v]);
  if (a.handshake === 'h2c') headers = headers.map(([k, v]) => [k, k === 'Upgrade' ? 'h2c' : v]);
  if (method === 'POST') headers.push(['Content-Length', '0']);
  const sent: Sent = { where: w.where, label, req: { method, target, headers }, reset: a.end === 'resetBefore101' ? 'during the upgrade' : undefined };
  w.record(sent);
  if (a.tok === 'roomToken' || a.end === 'resetBefore101') room.uncertain = true;

  const ws = await RawWs.open(w.port, target, headers, { method, resetRightAway: a.end === 'resetBefore101' });
  if (a.end === 'resetBefore101') {
    // The RoomToken entry may or may not have happened; the old token may be revoked.
    if (a.tok === 'roomToken') m.token = null;
    await new Promise((res) => setTimeout(res, 15));
    return;
  }
  const fail = (rule: string, detail: string) => w.violate(rule, label, detail, sent, ws.answer ?? { kind: 'closed', partial: '', detail: ws.failure });
  if (!ws.answer) {
    await new Promise((res) => setTimeout(res, 150));
    if (!w.target.alive()) return;
    return fail('realtime: no handshake answer', ws.failure);
  }
  const ans = ws.answer;
  if (ans.status >= 500 && ans.status < 600) fail('realtime: HTTP 5xx on the handshake', `HTTP ${ans.status}`);
  if (a.handshake === 'noConnectionUpgrade') {
    // Not an upgrade at all: an ordinary GET on an Agora path.
    for (const p of checkExchange(ans, method, target)) fail(ruleOf(p), p);
    return ws.destroy();
  }
  if (a.handshake !== 'ok') {
    // Refused handshakes are answered by the WebSocket layer: any 4xx (or the Agora envelope).
    const envelopeOk = ans.status === 200 && (ans.json as { code?: unknown } | undefined)?.code !== 0;
    if (ans.status === 101) fail('realtime: a broken handshake was accepted', `HTTP 101 for handshake "${a.handshake}"`);
    else if (!(ans.status >= 400 && ans.status < 500) && !envelopeOk) fail('realtime: refused handshake not a 4xx', `HTTP ${ans.status}`);
    return ws.destroy();
  }
  // Token and since are checked after the upgrade (bad ones get a 44xx close): always 101.
  if (ans.status !== 101) {
    fail('realtime: good handshake not upgraded', `HTTP ${ans.status} ${ans.text.slice(0, 100)}`);
    return ws.destroy();
  }
  if (a.end === 'resetOnFirstFrame') {
    // A client vanishing while the server is catching it up from the log.
    await ws.until(() => ws.frames.length > 0 || ws.ended, 1_000);
    ws.reset();
    if (a.tok === 'roomToken') m.token = null;
    await new Promise((res) => setTimeout(res, 15));
    return;
  }
  // Give the server a moment to authenticate and send what it sends first.
  await ws.until(() => ws.frames.length > 0 || ws.ended, 300);
  if (a.tok === 'roomToken') {
    const first = ws.frames[0];
    let snap: any = null;
    try {
      snap = first && first.opcode === 1 ? JSON.parse(first.payload.toString()) : null;
    } catch {
      snap = null;
    }
    if (snap?.type === 'snapshot' && snap.data?.me?.userToken) {
      w.entered(a.room, m, snap.data.room.roomId, snap.data.me.userToken, snap.data.room.password ?? '');
      m.userId = snap.data.me.userId;
    } else m.token = null;
  }
  for (const j of a.junk) {
    if (!ws.open) break;
    await ws.send(junkBytes(j));
    // Random bytes may start a frame whose payload is still to come: whatever follows is read
    // as that payload, so no later junk can be judged as a frame of its own.
    if (j.k === 'garbage') break;
    if (!HARMLESS.has(j.k)) {
      // A protocol error closes the connection (ws answers 1002/1007/1009 and destroys it).
      const closed = await ws.until(() => ws.ended, 3_000);
      if (!closed && w.target.alive()) fail('realtime: protocol error did not close the socket', `after junk frame ${JSON.stringify(j)}`);
      break;
    }
  }
  if (ws.open && a.junk.length > 0 && a.junk.every((j) => j.k === 'text' || j.k === 'binary')) {
    // Well-framed junk is ignored: the socket still answers a ping (or is closed for its token).
    await ws.send(frame(0x9, Buffer.from('fz')));
    const alive = await ws.until(() => ws.frames.some((f) => f.opcode === 0xa) || ws.closeCode !== null || ws.ended, 3_000);
    if (!alive && w.target.alive()) fail('realtime: socket unresponsive after junk data frames', JSON.stringify(a.junk.map((j) => j.k)));
  }
  checkFrames(w, ws, label, sent, room.current);
  if (a.end === 'reset') ws.reset();
  else if (a.end === 'leaveOpen') ws.destroy();
  else {
    if (ws.open) await ws.send(frame(0x8, Buffer.from([0x03, 0xe8])));
    await ws.until(() => ws.ended, 2_000);
    ws.destroy();
  }
  if (a.junk.some((j) => !HARMLESS.has(j.k)) || a.end === 'reset') await new Promise((res) => setTimeout(res, 10));
}

/** Every text frame the server sent is one JSON message of version 1, seqs strictly increasing. */
function checkFrames(w: World, ws: RawWs, label: string, sent: Sent, roomId: string | null): void {
  if (ws.frameError) w.violate('realtime: bad frame from the server', label, ws.frameError, sent);
  let last = 0;
  for (const f of ws.frames) {
    if (f.opcode !== 0x1) continue;
    let m: any;
    try {
      m = JSON.parse(f.payload.toString('utf8'));
    } catch {
      w.violate('realtime: text frame is not JSON', label, f.payload.toString('utf8').slice(0, 100), sent);
      continue;
    }
    if (m.version !== 1) w.violate('realtime: message version is not 1', label, JSON.stringify(m).slice(0, 150), sent);
    if (m.type === 'snapshot') continue;
    if (!(typeof m.seq === 'number' && m.seq > last)) w.violate('realtime: seqs not strictly increasing', label, `seq ${m.seq} after ${last}`, sent);
    last = Math.max(last, m.seq ?? 0);
  }
  if (roomId && last > (w.lastSeq.get(roomId) ?? 0)) w.lastSeq.set(roomId, last);
}

// ---------------------------------------------------------------------------------------------
// Upgrade requests whose connection goes away while the server handles them

export async function runUpgradeReset(w: World, a: UpgradeResetAction): Promise<void> {
  const path = { agora: `/apps/${w.keys.appId}/v1/room/entry`, qiniu: `/v3/apps/${w.keys.appId}`, plain: '/healthz', realtime: '/v1/realtime?token=x.y.z' }[a.path];
  const headers: Header[] = [['Host', `127.0.0.1:${w.port}`], ['Upgrade', a.proto]];
  if (a.proto === 'h2c') headers.push(['Connection', 'Upgrade, HTTP2-Settings'], ['HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA']);
  else headers.push(['Connection', 'Upgrade'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Version', '13']);
  const req: RawRequest = { method: 'GET', target: path, headers };
  const reset = a.when === 'firstByte' ? 'midAnswer' : 'upgradeNow';
  await send(w, `upgradeReset:${a.path}:${a.proto}`, { req, reset }, undefined, a.when === 'now' ? 0 : 1);
}

// ---------------------------------------------------------------------------------------------

export async function runAction(w: World, a: Action): Promise<void> {
  switch (a.t) {
    case 'agora':
      return runAgora(w, a);
    case 'appLevel':
      return runAppLevel(w, a);
    case 'plain':
      return runPlain(w, a);
    case 'protocol':
      return runProtocol(w, a);
    case 'qiniu':
      return runQiniu(w, a);
    case 'auth':
      return runAuth(w, a);
    case 'ws':
      return runWs(w, a);
    case 'upgradeReset':
      return runUpgradeReset(w, a);
    case 'parallel':
      await Promise.all(a.actions.map((x) => (x.t === 'agora' ? runAgora(w, x, true) : runQiniu(w, x))));
      return;
  }
}

