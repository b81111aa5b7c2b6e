// Qiniu request signing (spec qiniu-rtc-v3 §2) and RoomTokens (§4). Everything is computed over
// the bytes as received: the request target as sent, the Host header as received, the raw body.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** URL-safe Base64 with the padding kept, as every Qiniu SDK writes it. */
export function urlsafeBase64(buf: Buffer): string {
  return buf.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

export function hmacSha1(secretKey: string, data: Buffer | string): string {
  return urlsafeBase64(createHmac('sha1', secretKey).update(data).digest());
}

/** Go's textproto.CanonicalMIMEHeaderKey: `x-qiniu-date` → `X-Qiniu-Date`. */
export function canonicalHeaderName(name: string): string {
  return name
    .split('-')
    .map((part) => (part ? part[0]!.toUpperCase() + part.slice(1).toLowerCase() : part))
    .join('-');
}

export interface SignedRequest {
  method: string;
  /** Path plus `?query`, exactly as sent. */
  target: string;
  host: string;
  contentType?: string;
  /** The X-Qiniu-* headers as [name, value] in any case and order. */
  qiniuHeaders: [string, string][];
  body: Buffer;
}

const QINIU_PREFIX = 'X-Qiniu-';

/** The string the `Qiniu` scheme signs (§2.1). */
export function signingData(r: SignedRequest): Buffer {
  let head = `${r.method} ${r.target}\nHost: ${r.host}`;
  if (r.contentType) head += `\nContent-Type: ${r.contentType}`;
  const xq = r.qiniuHeaders
    .map(([n, v]) => [canonicalHeaderName(n), v] as [string, string])
    .filter(([n]) => n.length > QINIU_PREFIX.length && n.startsWith(QINIU_PREFIX))
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  for (const [n, v] of xq) head += `\n${n}: ${v}`;
  head += '\n\n';
  const withBody = r.body.length > 0 && bodyIsSigned(r.contentType);
  return withBody ? Buffer.concat([Buffer.from(head), r.body]) : Buffer.from(head);
}

/** Whether the `Qiniu` scheme signs a body sent with this Content-Type (§2.1): a body it does not sign must not be acted on. */
export function bodyIsSigned(contentType: string | undefined): boolean {
  return !!contentType && contentType !== 'application/octet-stream';
}

export function qiniuAuthorization(accessKey: string, secretKey: string, r: SignedRequest): string {
  return `Qiniu ${accessKey}:${hmacSha1(secretKey, signingData(r))}`;
}

/** The older `QBox` scheme (§2.4): kept to verify callbacks, refused on the RTC API. */
export function qboxSigningData(target: string, contentType: string | undefined, body: Buffer): Buffer {
  const head = Buffer.from(`${target}\n`);
  return contentType === 'application/x-www-form-urlencoded' && body.length > 0 ? Buffer.concat([head, body]) : head;
}

export function qboxAuthorization(accessKey: string, secretKey: string, target: string, contentType: string | undefined, body: Buffer): string {
  return `QBox ${accessKey}:${hmacSha1(secretKey, qboxSigningData(target, contentType, body))}`;
}

export function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export type VerifyResult = { ok: true; accessKey: string } | { ok: false; reason: string };

export interface VerifyOptions {
  /** The SecretKey of an AccessKey, or null when unknown. */
  secretOf: (accessKey: string) => Promise<string | null>;
  now: number;
  /** Largest accepted X-Qiniu-Date skew, ms; 0 disables the check. */
  maxSkewMs: number;
}

/** Verify `Authorization: Qiniu <AK>:<sign>` against the request as received (§2.2). */
export async function verifyQiniu(header: string | undefined, r: SignedRequest, opts: VerifyOptions): Promise<VerifyResult> {
  if (!header) return { ok: false, reason: 'missing Authorization header: sign the request as "Qiniu <AccessKey>:<sign>"' };
  if (/^qbox\s/i.test(header.trim())) return { ok: false, reason: 'QBox tokens are not accepted here: sign with the Qiniu scheme' };
  const m = /^qiniu ([^:\s]+):(\S+)$/i.exec(header.trim());
  if (!m) return { ok: false, reason: 'unsupported Authorization: expected "Qiniu <AccessKey>:<sign>"' };
  const [, accessKey, sign] = m as unknown as [string, string, string];
  if (r.body.length > 0 && !bodyIsSigned(r.contentType)) {
    const as = r.contentType ? `as ${r.contentType}` : 'without Content-Type';
    return { ok: false, reason: `the signature does not cover a body sent ${as}: send it as application/json` };
  }
  const secret = await opts.secretOf(accessKey);
  if (secret === null) return { ok: false, reason: 'unknown access key' };
  const names = r.qiniuHeaders.map(([n]) => canonicalHeaderName(n));
  if (new Set(names).size !== names.length) return { ok: false, reason: 'an X-Qiniu-* header is given more than once' };
  if (!sameText(hmacSha1(secret, signingData(r)), sign)) {
    return { ok: false, reason: 'signature mismatch: sign the method, path and query, Host, Content-Type, X-Qiniu-* headers and body as sent' };
  }
  const date = r.qiniuHeaders.find(([n]) => canonicalHeaderName(n) === 'X-Qiniu-Date')?.[1];
  if (date !== undefined && opts.maxSkewMs > 0) {
    const t = parseQiniuDate(date);
    if (t === null) return { ok: false, reason: 'X-Qiniu-Date is not a date of the form yyyyMMddTHHmmssZ' };
    if (Math.abs(opts.now - t) > opts.maxSkewMs) {
      return { ok: false, reason: `X-Qiniu-Date is more than ${opts.maxSkewMs / 1000} s away from the server's clock` };
    }
  }
  return { ok: true, accessKey };
}

/** `yyyyMMddTHHmmssZ` (UTC) → epoch ms. */
export function parseQiniuDate(s: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return null;
  const [, y, mo, d, h, mi, se] = m.map(Number) as number[];
  const t = Date.UTC(y!, mo! - 1, d!, h!, mi!, se!);
  return Number.isNaN(t) ? null : t;
}

export interface RoomAccess {
  appId: string;
  roomName: string;
  userId: string;
  expireAt: number;
  permission: 'user' | 'admin';
}

export function signRoomToken(accessKey: string, secretKey: string, access: RoomAccess): string {
  const enc = urlsafeBase64(Buffer.from(JSON.stringify(access)));
  return `${accessKey}:${hmacSha1(secretKey, enc)}:${enc}`;
}

export const ROOM_NAME = /^[a-zA-Z0-9_-]{3,64}$/;
export const USER_ID = /^[a-zA-Z0-9_-]{3,50}$/;

export type RoomTokenResult = { ok: true; access: RoomAccess; accessKey: string } | { ok: false; reason: string };

/**
 * Verify a RoomToken: the signature over the received encoded bytes (never re-serialised JSON,
 * whose key order and spacing differ between SDKs), then its contents (§4.2).
 */
export async function verifyRoomToken(
  token: string,
  expect: { appId: string; roomName: string; userId: string },
  secretOf: (accessKey: string) => Promise<string | null>,
  nowMs: number,
): Promise<RoomTokenResult> {
  const parts = token.split(':');
  if (parts.length !== 3) return { ok: false, reason: 'malformed room token' };
  const [accessKey, sign, enc] = parts as [string, string, string];
  const secret = await secretOf(accessKey);
  if (secret === null) return { ok: false, reason: 'unknown access key' };
  if (!sameText(hmacSha1(secret, enc), sign)) return { ok: false, reason: 'signature mismatch' };
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(enc.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    return { ok: false, reason: 'room token is not JSON' };
  }
  const a = raw as Partial<Record<keyof RoomAccess, unknown>>;
  if (!a || typeof a !== 'object') return { ok: false, reason: 'room token is not an object' };
  if (a.appId !== expect.appId || a.roomName !== expect.roomName || a.userId !== expect.userId) {
    return { ok: false, reason: 'room token is for another app, room or user' };
  }
  if (!ROOM_NAME.test(expect.roomName) || !USER_ID.test(expect.userId)) return { ok: false, reason: 'invalid room or user name' };
  if (typeof a.expireAt !== 'number' || !(a.expireAt > nowMs / 1000)) return { ok: false, reason: 'room token expired' };
  const permission = a.permission === undefined || a.permission === '' ? 'user' : a.permission;
  if (permission !== 'user' && permission !== 'admin') return { ok: false, reason: 'unknown permission' };
  return {
    ok: true,
    accessKey,
    access: { appId: expect.appId, roomName: expect.roomName, userId: expect.userId, expireAt: a.expireAt, permission },
  };
}
