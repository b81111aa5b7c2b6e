// A stand-in of Agora's RTM (Signaling 1.x) RESTful messaging API, built from Agora's documentation
// ("Messaging REST API": send peer-to-peer / channel message), for the RTM relay's tests. It checks
// what Agora checks — the App ID, HTTP Basic customer credentials or an RTM AccessToken2 recomputed
// from the app certificate, JSON bodies, id/channel/payload limits, the per-App-ID call quota — and
// records what it accepted; faults (5xx, 408, 429 + Retry-After, a hang) can be injected.
// Where the docs are silent the choice is marked "not documented".
import http from 'node:http';
import type net from 'node:net';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { inflateSync } from 'node:zlib';

/** Documented: "For each app ID, the maximum combined frequency of the peer-to-peer message and channel message APIs is 500 calls per second." */
export const RTM_REST_RATE_PER_SECOND = 500;
/** Documented: payload "must not be an empty string or exceed 32 KB in length" — counted as 32 × 1024 UTF-8 bytes. */
export const RTM_PAYLOAD_MAX_BYTES = 32 * 1024;
/** Documented: user ids and channel names "must not exceed 64 characters in length or be an empty string". */
export const RTM_ID_MAX_LENGTH = 64;
// Documented character set: a-z A-Z 0-9, space, ! # $ % & ( ) + - : ; < = . > ? @ [ ] ^ _ { } | ~ ,
// (one rendering of the REST page also shows ' — left out here: the SDK pages do not list it).
const ID_CHARS = /^[a-zA-Z0-9 !#$%&()+\-:;<=.>?@[\]^_{}|~,]+$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const BODY_LIMIT = 1024 * 1024; // not documented: far above any legal body (32 KB payload, JSON-escaped)
const RTM_SERVICE = 2;
const RTM_PRIVILEGE_LOGIN = 1;

export interface RtmStandinOptions {
  appId: string;
  /** Enables token authentication (`x-agora-token` / `x-agora-uid`). */
  appCertificate?: string;
  /** RESTful API customer credentials accepted for HTTP Basic authentication. */
  customers?: { id: string; secret: string }[];
  /** Combined peer + channel calls per second for the App ID (default: the documented 500). */
  ratePerSecond?: number;
  /** Hold each accepted answer this long (ms), so that overlapping calls show in the in-flight marks. */
  latencyMs?: number;
  port?: number;
}

export interface Received {
  kind: 'channel' | 'peer';
  sender: string;
  /** channel_name, or the peer message's destination. */
  target: string;
  payload: string;
  at: number;
  auth: 'basic' | 'token';
  enableOfflineMessaging: boolean; enableHistoricalMessaging: boolean; waitForAck: boolean;
  requestId: string;
  /** 0-based index of the call among every call the stand-in received. */
  call: number;
}

export interface Refusal { status: number; reason: string; at: number; call: number; kind?: 'channel' | 'peer'; target?: string }
export type FaultAnswer = { status: number; retryAfter?: number } | { timeout: true };
export type Fault = FaultAnswer & { times: number };
export interface CallInfo { call: number; kind?: 'channel' | 'peer'; sender?: string; target?: string }
export interface Injected { call: number; at: number; answer: number | 'timeout'; kind?: 'channel' | 'peer'; target?: string }

export interface RtmStandin {
  readonly url: string;
  readonly appId: string;
  readonly channel: Map<string, Received[]>;
  readonly peer: Map<string, Received[]>;
  readonly accepted: Received[];
  readonly refused: Refusal[];
  readonly injected: Injected[];
  /** Every call received, whatever its answer. */
  readonly calls: number;
  /** Most calls ever open at once per lane (`channel:<name>` / `peer:<destination>`), faults included. */
  readonly laneHighWater: Map<string, number>;
  /** Most calls ever open at once over the whole App ID. */
  readonly maxInflight: number;
  latencyMs: number;
  /** The next `times` calls get this answer instead of being processed. */
  fail(next: Fault): void;
  /** Calls the predicate picks get this answer (soak tests); returns a function that removes the rule. */
  failWhere(predicate: (call: CallInfo) => boolean, answer: FaultAnswer): () => void;
  close(): Promise<void>;
}

/** `Authorization` header value for HTTP Basic with a customer ID and secret. */
export function basicAuthorization(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

class Refused extends Error {
  constructor(readonly status: number, reason: string, readonly gateway = false, readonly retryAfter?: number) { super(reason); }
}

// ---- AccessToken2 ("007" + base64(deflate(signature, signing info))) ----

interface Token2 {
  signature: Buffer;
  signingInfo: Buffer;
  appId: string;
  issueTs: number;
  expire: number;
  salt: number;
  rtm: { userId: string; privileges: Map<number, number> } | null;
}

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  u16(): number { const v = this.buf.readUInt16LE(this.pos); this.pos += 2; return v; }
  u32(): number { const v = this.buf.readUInt32LE(this.pos); this.pos += 4; return v; }
  bytes(): Buffer {
    const n = this.u16();
    if (this.pos + n > this.buf.length) throw new RangeError('truncated');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  str(): string { return this.bytes().toString('utf8'); }
  privileges(): Map<number, number> {
    const map = new Map<number, number>();
    for (let n = this.u16(); n > 0; n--) map.set(this.u16(), this.u32());
    return map;
  }
  rest(): Buffer { return this.buf.subarray(this.pos); }
}

/** Parses an AccessToken2; services after the RTM one are not read (the builders sort services by type). */
export function parseAccessToken2(token: string): Token2 {
  if (!token.startsWith('007')) throw new Refused(401, 'x-agora-token is not an AccessToken2 (it must start with 007)');
  try {
    const outer = new Reader(inflateSync(Buffer.from(token.slice(3), 'base64')));
    const signature = outer.bytes();
    const signingInfo = outer.rest();
    const r = new Reader(signingInfo);
    const appId = r.str();
    const issueTs = r.u32();
    const expire = r.u32();
    const salt = r.u32();
    let rtm: Token2['rtm'] = null;
    for (let n = r.u16(); n > 0 && !rtm; n--) {
      const type = r.u16();
      const privileges = r.privileges();
      if (type === 1) { r.str(); r.str(); } // RTC: channel name, uid
      else if (type === RTM_SERVICE) rtm = { userId: r.str(), privileges };
      else break;
    }
    return { signature, signingInfo, appId, issueTs, expire, salt, rtm };
  } catch {
    throw new Refused(401, 'x-agora-token cannot be read as an AccessToken2');
  }
}

const hmac = (key: Buffer, msg: Buffer | string) => createHmac('sha256', key).update(msg).digest();
const u32le = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };

/** The signature Agora recomputes: HMAC chain certificate → issue ts → salt, then over the signing info. */
export function accessToken2Signature(t: Pick<Token2, 'issueTs' | 'salt' | 'signingInfo'>, certificate: string): Buffer {
  const key = hmac(u32le(t.salt), hmac(u32le(t.issueTs), certificate));
  return hmac(key, t.signingInfo);
}

/** Verifies an RTM token for `uid` sending as `pathUser` to app `appId`; throws Refused otherwise. */
export function verifyRtmToken(token: string, uid: string, pathUser: string, appId: string, certificate: string, nowSec: number): void {
  const t = parseAccessToken2(token);
  const expected = accessToken2Signature(t, certificate);
  if (t.signature.length !== expected.length || !timingSafeEqual(t.signature, expected)) {
    throw new Refused(401, 'x-agora-token signature does not verify with the app certificate');
  }
  if (t.appId !== appId) throw new Refused(401, `x-agora-token was issued for App ID ${t.appId}, not ${appId}`);
  // Not documented: an expire of 0 is read as already expired (AccessToken2 counts it from issue time).
  if (t.expire === 0 || t.issueTs + t.expire <= nowSec) throw new Refused(401, 'x-agora-token has expired');
  if (!t.rtm) throw new Refused(401, 'x-agora-token carries no RTM service');
  const login = t.rtm.privileges.get(RTM_PRIVILEGE_LOGIN);
  if (!login || t.issueTs + login <= nowSec) throw new Refused(401, 'x-agora-token has no RTM login privilege, or it has lapsed');
  if (t.rtm.userId !== uid) throw new Refused(401, `x-agora-token was minted for user ${t.rtm.userId}, not x-agora-uid ${uid}`);
  // Documented: with token authentication, messages may be sent only as the token's user.
  if (uid !== pathUser) throw new Refused(403, `token authentication may send only as ${uid}, not as ${pathUser}`);
}

// ---- request checks ----

function checkId(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new Refused(400, `${name} must be a string`);
  if (value.length === 0 || value.length > RTM_ID_MAX_LENGTH) throw new Refused(400, `${name} must be 1 to ${RTM_ID_MAX_LENGTH} characters`);
  if (!ID_CHARS.test(value)) throw new Refused(400, `${name} contains a character outside the documented set`);
  return value;
}

function checkFlag(body: Record<string, unknown>, name: string): boolean {
  const v = body[name];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new Refused(400, `${name} must be a boolean`);
  return v;
}

function checkPayload(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw new Refused(400, 'payload must be a non-empty string');
  // Not documented which code: a lone surrogate cannot be sent as UTF-8 text, the "invalid payload" (435) case.
  if (LONE_SURROGATE.test(v)) throw new Refused(435, 'payload is not well-formed Unicode text');
  const bytes = Buffer.byteLength(v, 'utf8');
  if (bytes > RTM_PAYLOAD_MAX_BYTES) throw new Refused(400, `payload is ${bytes} bytes of UTF-8, over the ${RTM_PAYLOAD_MAX_BYTES}-byte (32 KB) limit`);
  return v;
}

const ROUTE = /^\/dev\/v2\/project\/([^/]+)\/rtm\/users\/([^/]+)\/(peer_messages|channel_messages)$/;

function lenientInfo(call: number, path: string, body: string): CallInfo {
  const m = ROUTE.exec(path);
  const info: CallInfo = { call };
  if (!m) return info;
  info.kind = m[3] === 'peer_messages' ? 'peer' : 'channel';
  try { info.sender = decodeURIComponent(m[2]); } catch { /* refused later */ }
  try {
    const j = JSON.parse(body) as Record<string, unknown>;
    const t = info.kind === 'peer' ? j?.destination : j?.channel_name;
    if (typeof t === 'string') info.target = t;
  } catch { /* refused later */ }
  return info;
}

class Standin implements RtmStandin {
  url = '';
  readonly channel = new Map<string, Received[]>();
  readonly peer = new Map<string, Received[]>();
  readonly accepted: Received[] = [];
  readonly refused: Refusal[] = [];
  readonly injected: Injected[] = [];
  readonly laneHighWater = new Map<string, number>();
  calls = 0;
  maxInflight = 0;
  latencyMs: number;
  private inflight = 0;
  private readonly lanes = new Map<string, number>();
  private readonly queue: Fault[] = [];
  private readonly rules = new Set<{ predicate: (c: CallInfo) => boolean; answer: FaultAnswer }>();
  private readonly sockets = new Set<net.Socket>();
  private window = -1;
  private windowCalls = 0;
  private requestSeq = 0;
  readonly server: http.Server;

  constructor(private readonly opts: RtmStandinOptions) {
    this.latencyMs = opts.latencyMs ?? 0;
    this.server = http.createServer((req, res) => this.receive(req, res));
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
  }

  get appId(): string { return this.opts.appId; }

  fail(next: Fault): void { if (next.times > 0) this.queue.push({ ...next }); }

  failWhere(predicate: (call: CallInfo) => boolean, answer: FaultAnswer): () => void {
    const rule = { predicate, answer };
    this.rules.add(rule);
    return () => { this.rules.delete(rule); };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private receive(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => { size += c.length; if (size <= BODY_LIMIT) chunks.push(c); });
    req.on('end', () => void this.handle(req, res, size > BODY_LIMIT ? null : Buffer.concat(chunks).toString('utf8')));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, body: string | null): Promise<void> {
    const call = this.calls++;
    const url = new URL(req.url ?? '/', 'http://standin');
    const info = lenientInfo(call, url.pathname, body ?? '');
    const lane = info.kind && info.target !== undefined ? `${info.kind}:${info.target}` : null;
    this.enter(lane);
    res.on('close', () => this.leave(lane));
    const fault = this.nextFault(info);
    if (fault) {
      this.injected.push({ call, at: Date.now(), answer: 'timeout' in fault ? 'timeout' : fault.status, kind: info.kind, target: info.target });
      if ('timeout' in fault) return; // never answered: the caller's timeout must fire
      const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json' };
      if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
      res.writeHead(fault.status, headers).end(JSON.stringify({ message: `injected ${fault.status}` }));
      return;
    }
    try {
      const received = this.check(req, url, body, call);
      this.accepted.push(received);
      const book = received.kind === 'channel' ? this.channel : this.peer;
      const list = book.get(received.target) ?? [];
      book.set(received.target, list);
      list.push(received);
      if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
      // Documented: wait_for_ack=true answers message_delivered once the receiver acks (here every receiver is online).
      const code = received.waitForAck ? 'message_delivered' : 'message_sent';
      this.answer(res, 200, { result: 'success', request_id: received.requestId, code });
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      this.refused.push({ status: err.status, reason: err.message, at: Date.now(), call, kind: info.kind, target: info.target });
      const headers: http.OutgoingHttpHeaders = err.retryAfter ? { 'retry-after': String(err.retryAfter) } : {};
      // Not documented: gateway refusals answer {message} (as Agora's REST gateway does), API ones {result:"failed"}.
      const payload = err.gateway ? { message: err.message } : { result: 'failed', request_id: this.requestId(), reason: err.message };
      this.answer(res, err.status, payload, headers);
    }
  }

  private check(req: http.IncomingMessage, url: URL, body: string | null, call: number): Received {
    const m = req.method === 'POST' ? ROUTE.exec(url.pathname) : null;
    if (!m) throw new Refused(404, 'no Route matched with those values', true);
    let appId: string, sender: string;
    try { appId = decodeURIComponent(m[1]); sender = decodeURIComponent(m[2]); } catch { throw new Refused(400, 'the path is not valid percent-encoding'); }
    const auth = this.authenticate(req, appId, sender);
    if (appId !== this.opts.appId) throw new Refused(403, `invalid appid ${appId}`, true);
    this.takeQuota();
    const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json') throw new Refused(415, `Content-Type must be application/json, not "${type}"`, true);
    if (body === null) throw new Refused(413, 'request body too large', true);
    checkId(sender, 'user_id');
    if (sender.startsWith(' ') || sender.endsWith(' ')) throw new Refused(400, 'user_id must not begin or end with a space');
    let json: unknown;
    try { json = JSON.parse(body); } catch { throw new Refused(400, 'request body is not valid JSON'); }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Refused(400, 'request body must be a JSON object');
    const b = json as Record<string, unknown>;
    const kind = m[3] === 'peer_messages' ? 'peer' : 'channel';
    const target = kind === 'peer' ? checkId(b.destination, 'destination') : checkId(b.channel_name, 'channel_name');
    const enableOfflineMessaging = kind === 'peer' ? checkFlag(b, 'enable_offline_messaging') : false;
    const enableHistoricalMessaging = checkFlag(b, 'enable_historical_messaging');
    const payload = checkPayload(b.payload);
    const ack = url.searchParams.get('wait_for_ack');
    if (kind === 'peer' && ack !== null && ack !== 'true' && ack !== 'false') throw new Refused(400, 'wait_for_ack must be true or false');
    return {
      kind, sender, target, payload, at: Date.now(), auth, enableOfflineMessaging, enableHistoricalMessaging,
      waitForAck: kind === 'peer' && ack === 'true', requestId: this.requestId(), call,
    };
  }

  private authenticate(req: http.IncomingMessage, appId: string, sender: string): 'basic' | 'token' {
    const authz = req.headers.authorization;
    if (authz !== undefined) {
      const m = /^Basic\s+(\S+)$/i.exec(authz);
      const pair = m ? Buffer.from(m[1], 'base64').toString('utf8') : '';
      const ok = (this.opts.customers ?? []).some((c) => pair === `${c.id}:${c.secret}`);
      if (!ok) throw new Refused(401, 'Invalid authentication credentials', true);
      return 'basic';
    }
    const token = req.headers['x-agora-token'];
    const uid = req.headers['x-agora-uid'];
    if (typeof token !== 'string' || typeof uid !== 'string') {
      throw new Refused(401, 'send Authorization: Basic <customer id:secret>, or x-agora-token with x-agora-uid', true);
    }
    if (!this.opts.appCertificate) throw new Refused(401, 'token authentication is not enabled for this App ID', true);
    verifyRtmToken(token, uid, sender, appId, this.opts.appCertificate, Math.floor(Date.now() / 1000));
    return 'token';
  }

  /** Fixed one-second windows per App ID, as the gateway counts; Retry-After (not documented) says when the window ends. */
  private takeQuota(): void {
    const now = Date.now();
    const w = Math.floor(now / 1000);
    if (w !== this.window) { this.window = w; this.windowCalls = 0; }
    if (this.windowCalls >= (this.opts.ratePerSecond ?? RTM_REST_RATE_PER_SECOND)) {
      throw new Refused(429, 'API rate limit exceeded', true, Math.max(1, Math.ceil(((w + 1) * 1000 - now) / 1000)));
    }
    this.windowCalls++;
  }

  private nextFault(info: CallInfo): FaultAnswer | null {
    const head = this.queue[0];
    if (head) {
      if (--head.times <= 0) this.queue.shift();
      return head;
    }
    for (const rule of this.rules) if (rule.predicate(info)) return rule.answer;
    return null;
  }

  private enter(lane: string | null): void {
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    if (!lane) return;
    const n = (this.lanes.get(lane) ?? 0) + 1;
    this.lanes.set(lane, n);
    this.laneHighWater.set(lane, Math.max(this.laneHighWater.get(lane) ?? 0, n));
  }

  private leave(lane: string | null): void {
    this.inflight--;
    if (lane) this.lanes.set(lane, (this.lanes.get(lane) ?? 1) - 1);
  }

  private requestId(): string { return `${Date.now()}${String(++this.requestSeq).padStart(6, '0')}`; }

  private answer(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  }
}

/** Starts the stand-in on 127.0.0.1 (an ephemeral port unless `port` is given). */
export async function startRtmStandin(opts: RtmStandinOptions): Promise<RtmStandin> {
  const s = new Standin(opts);
  await new Promise<void>((resolve, reject) => {
    s.server.once('error', reject);
    s.server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = s.server.address() as net.AddressInfo;
  s.url = `http://127.0.0.1:${port}`;
  return s;
}
