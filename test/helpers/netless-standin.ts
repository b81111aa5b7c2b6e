// A stand-in of Netless' REST API (Agora Interactive Whiteboard), built from its documentation, for
// the Netless board provider's tests. What it checks, as Netless does:
// - paths: POST /v5/rooms (create), GET /v5/rooms/{uuid} (describe), PATCH /v5/rooms/{uuid} (ban);
//   anything else 404 — "Room management";
// - headers: `token` (an SDK token) and `region` (a documented data centre) on every call; a room
//   lives in the region it was created in — "Room management", request headers;
// - tokens: NETLESSSDK_/NETLESSROOM_ + base64url of the URL-encoded, sorted fields whose `sig` is the
//   HMAC-SHA256 (hex, under the SK) of the JSON of the other fields sorted by key; `ak` must be the
//   project's; `expireAt` (ms), when present, not past — github.com/netless-io/netless-token. Verified
//   here by recomputing the signature, written apart from Convene's minting code;
// - roles (lower is mightier, "Token overview"): creating and describing rooms needs an admin or writer
//   SDK token, banning an admin one; joining a room interactively an admin or writer room token;
// - answers: 201 with the room on create, 200 with it on describe and ban, failures with a `message`
//   — 400 bad request, 401 bad token, 403 role too low, 404 no such room — REST overview, "Status codes".
// Faults (500, 429 with Retry-After, a late answer) are injected per call; every call is recorded.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const REGIONS = ['cn-hz', 'us-sv', 'sg', 'in-mum', 'eu', 'gb-lon'];

export interface StandInRoom {
  uuid: string;
  teamUUID: string;
  appUUID: string;
  name: string;
  isRecord: boolean;
  isBan: boolean;
  createdAt: string;
  limit: number;
  region: string;
}

export interface TokenClaims {
  kind: 'sdk' | 'room';
  ak: string;
  role: '0' | '1' | '2';
  nonce: string;
  uuid?: string;
  /** ms since the epoch; absent: never expires. */
  expireAt?: number;
}

export type TokenCheck = { ok: true; claims: TokenClaims } | { ok: false; why: string };

export interface Call {
  method: string;
  path: string;
  status: number;
  at: number;
  region: string | undefined;
  /** The SDK token's claims when it verified. */
  claims: TokenClaims | null;
  body: unknown;
}

/** What the next matching call gets instead of its answer (`on`: which calls; default any). */
export type Fault = { on?: 'create' | 'ban'; status: number; message?: string; retryAfterS?: number } | { on?: 'create' | 'ban'; delayMs: number };

const PREFIX = { sdk: 'NETLESSSDK_', room: 'NETLESSROOM_' } as const;

/** Verifies a Netless token as Netless does: recompute the signature over the other fields. */
export function verifyNetlessToken(token: string, kind: 'sdk' | 'room', keys: { ak: string; sk: string }, now = Date.now()): TokenCheck {
  const other = kind === 'sdk' ? PREFIX.room : PREFIX.sdk;
  if (token.startsWith(other)) return { ok: false, why: `a ${kind === 'sdk' ? 'room' : 'SDK'} token where an ${kind === 'sdk' ? 'SDK' : 'room'} token is needed` };
  if (!token.startsWith(PREFIX[kind])) return { ok: false, why: `not a Netless ${kind} token (${PREFIX[kind]}…)` };
  const body = token.slice(PREFIX[kind].length);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) return { ok: false, why: 'token is not base64url' };
  const fields: Record<string, string> = {};
  for (const part of Buffer.from(body, 'base64url').toString('utf8').split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return { ok: false, why: 'token fields malformed' };
    let k: string;
    let v: string;
    try {
      k = decodeURIComponent(part.slice(0, eq));
      v = decodeURIComponent(part.slice(eq + 1));
    } catch {
      return { ok: false, why: 'token fields malformed' };
    }
    if (k in fields) return { ok: false, why: `token field ${k} repeated` };
    fields[k] = v;
  }
  const { sig, ...signed } = fields;
  if (!sig || !/^[0-9a-f]{64}$/.test(sig)) return { ok: false, why: 'token has no signature' };
  if (signed.ak !== keys.ak) return { ok: false, why: 'unknown access key' };
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(signed).sort()) sorted[k] = signed[k]!;
  const expected = createHmac('sha256', keys.sk).update(JSON.stringify(sorted)).digest();
  if (!timingSafeEqual(expected, Buffer.from(sig, 'hex'))) return { ok: false, why: 'signature mismatch' };
  if (!signed.nonce) return { ok: false, why: 'token has no nonce' };
  if (signed.role !== '0' && signed.role !== '1' && signed.role !== '2') return { ok: false, why: 'token role invalid' };
  let expireAt: number | undefined;
  if (signed.expireAt !== undefined) {
    if (!/^\d{1,16}$/.test(signed.expireAt)) return { ok: false, why: 'token expireAt invalid' };
    expireAt = Number(signed.expireAt);
    if (expireAt <= now) return { ok: false, why: 'token expired' };
  }
  if (kind === 'room' && !signed.uuid) return { ok: false, why: 'room token names no room' };
  return { ok: true, claims: { kind, ak: signed.ak, role: signed.role, nonce: signed.nonce, uuid: signed.uuid, expireAt } };
}

export class NetlessStandIn {
  readonly ak = `ak${randomBytes(8).toString('hex')}`;
  readonly sk = randomBytes(24).toString('base64url');
  readonly teamUUID = randomBytes(8).toString('hex');
  readonly appUUID = randomBytes(8).toString('hex');
  readonly rooms = new Map<string, StandInRoom>();
  readonly calls: Call[] = [];
  /** Rooms in the order they were banned. */
  readonly banned: string[] = [];
  private readonly faults: Fault[] = [];
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next call matching `fault.on` gets the fault; several queue in order. */
  inject(...faults: Fault[]): void {
    this.faults.push(...faults);
  }

  /** Rooms created, in order. */
  get created(): StandInRoom[] {
    return [...this.rooms.values()];
  }

  /**
   * What Netless' room service checks when a member's whiteboard SDK joins `uuid` with `token`
   * interactively (the v1 apps always do): a valid room token for that room, admin or writer, and a
   * room that exists and is not banned.
   */
  checkJoin(uuid: string, token: string, now = Date.now()): TokenCheck {
    const r = verifyNetlessToken(token, 'room', this, now);
    if (!r.ok) return r;
    if (r.claims.uuid !== uuid) return { ok: false, why: 'room token is for another room' };
    if (r.claims.role === '2') return { ok: false, why: 'a reader token cannot join interactively' };
    const room = this.rooms.get(uuid);
    if (!room) return { ok: false, why: 'no such room' };
    if (room.isBan) return { ok: false, why: 'room is banned' };
    return r;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const path = (req.url ?? '').split('?')[0]!;
    const region = header(req, 'region');
    const call: Call = { method: req.method ?? '', path, status: 0, at: Date.now(), region, claims: null, body: undefined };
    this.calls.push(call);
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      call.status = status;
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(body));
    };
    const fail = (status: number, message: string, headers: Record<string, string> = {}) => answer(status, { message }, headers);

    const op = req.method === 'POST' && path === '/v5/rooms' ? 'create' : req.method === 'PATCH' && /^\/v5\/rooms\/[^/]+$/.test(path) ? 'ban' : null;
    const i = this.faults.findIndex((f) => f.on === undefined || f.on === op);
    if (i >= 0) {
      const fault = this.faults.splice(i, 1)[0]!;
      if ('status' in fault) {
        const headers: Record<string, string> = fault.retryAfterS !== undefined ? { 'retry-after': String(fault.retryAfterS) } : {};
        return fail(fault.status, fault.message ?? (fault.status === 429 ? 'too many requests' : 'internal server error'), headers);
      }
      // A late answer: the call is carried out, its answer comes after the delay (as on a slow network).
      await new Promise((r) => setTimeout(r, fault.delayMs));
    }

    const route = /^\/v5\/rooms(?:\/([^/]+))?$/.exec(path);
    if (!route || !['POST', 'GET', 'PATCH'].includes(req.method ?? '') || (req.method === 'POST') !== (route[1] === undefined)) {
      return fail(404, `no such API: ${req.method} ${path}`);
    }
    if (region === undefined || !REGIONS.includes(region)) return fail(400, `region header missing or unknown (${REGIONS.join(', ')})`);
    const token = header(req, 'token');
    if (!token) return fail(401, 'token header missing');
    // A valid room token is a token with too little power here; anything else that fails is no token.
    const asRoom = verifyNetlessToken(token, 'room', this);
    if (asRoom.ok) return fail(403, 'a room token may not manage rooms');
    const check = verifyNetlessToken(token, 'sdk', this);
    if (!check.ok) return fail(401, `invalid token: ${check.why}`);
    call.claims = check.claims;
    let body: Record<string, unknown> = {};
    if (req.method !== 'GET' && raw !== '') {
      try {
        const parsed: unknown = JSON.parse(raw);
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return fail(400, 'body must be a JSON object');
        body = parsed as Record<string, unknown>;
      } catch {
        return fail(400, 'body is not JSON');
      }
    }
    call.body = body;

    return req.method === 'POST' ? this.create(body, region, check.claims, answer, fail) : this.onRoom(req.method!, decodeURIComponent(route[1]!), body, region, check.claims, answer, fail);
  }

  private create(body: Record<string, unknown>, region: string, claims: TokenClaims, answer: Answer, fail: Fail): void {
    if (claims.role === '2') return fail(403, 'a reader SDK token may not create rooms');
    const { isRecord = false, limit = 0, name = '' } = body;
    if (typeof isRecord !== 'boolean') return fail(400, 'isRecord must be a boolean');
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) return fail(400, 'limit must be an integer >= 0');
    if (typeof name !== 'string' || name.length > 2048) return fail(400, 'name must be a string of at most 2048 characters');
    const room: StandInRoom = {
      uuid: randomBytes(16).toString('hex'),
      teamUUID: this.teamUUID,
      appUUID: this.appUUID,
      name,
      isRecord,
      isBan: false,
      createdAt: new Date().toISOString(),
      limit,
      region,
    };
    this.rooms.set(room.uuid, room);
    const { region: _r, ...described } = room;
    answer(201, described);
  }

  /** GET (describe) or PATCH (ban, or lift a ban) one room. */
  private onRoom(method: string, uuid: string, body: Record<string, unknown>, region: string, claims: TokenClaims, answer: Answer, fail: Fail): void {
    const room = this.rooms.get(uuid);
    // A room belongs to the data centre it was made in: asked elsewhere, it does not exist.
    if (!room || room.region !== region) return fail(404, 'room not found');
    if (method === 'GET') {
      if (claims.role === '2') return fail(403, 'a reader SDK token may not describe rooms');
    } else {
      if (claims.role !== '0') return fail(403, 'only an admin SDK token may ban a room');
      if (typeof body.isBan !== 'boolean') return fail(400, 'isBan (boolean) is required');
      if (body.isBan && !room.isBan) this.banned.push(room.uuid);
      room.isBan = body.isBan;
    }
    const { region: _r, ...described } = room;
    answer(200, described);
  }
}

type Answer = (status: number, body: unknown, headers?: Record<string, string>) => void;
type Fail = (status: number, message: string, headers?: Record<string, string>) => void;

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export async function startNetlessStandIn(): Promise<NetlessStandIn> {
  return new NetlessStandIn().start();
}
