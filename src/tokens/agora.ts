// Agora RTC/RTM tokens for a member, minted from the app's ID and certificate with agora-token.
// Minting deflates and signs, so tokens are cached per member and re-minted only when less than
// half their lifetime remains (or on an explicit refresh).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { inflateSync } from 'node:zlib';
import agoraToken from 'agora-token';

const require = createRequire(import.meta.url);
// The legacy AccessToken (006) builders ship in the same package, outside its index.
const legacyRtc = require('agora-token/src/RtcTokenBuilder.js') as {
  RtcTokenBuilder: { buildTokenWithUid(a: string, c: string, ch: string, uid: number, role: number, exp: number): string };
};
const legacyRtm = require('agora-token/src/RtmTokenBuilder.js') as {
  RtmTokenBuilder: { buildToken(a: string, c: string, account: string, role: number, exp: number): string };
};

const { RtcTokenBuilder, RtmTokenBuilder, RtcRole } = agoraToken;

export interface MediaTokens {
  rtcToken: string | null;
  rtmToken: string | null;
  screenToken: string | null;
}

export interface TokenApp {
  appId: string;
  certificate: string | null;
  tokenVersion: '007' | '006';
}

export interface TokenSubject {
  channelName: string;
  uid: number;
  screenId: number;
}

const HEX32 = /^[0-9a-fA-F]{32}$/;

/** Whether tokens minted for `a` are what `b` would mint (same App ID, certificate and token version). */
export function sameTokenSettings(a: TokenApp, b: TokenApp): boolean {
  return a === b || (a.appId === b.appId && a.certificate === b.certificate && a.tokenVersion === b.tokenVersion);
}

/** What a member's tokens are minted for: its room's channel and its two uids. */
export function subjectOf(room: { channelName: string }, m: { uid: number; screenId: number }): TokenSubject {
  return { channelName: room.channelName, uid: m.uid, screenId: m.screenId };
}

export class AgoraTokens {
  private readonly cache = new Map<string, { mintedAt: number; app: TokenApp; tokens: MediaTokens }>();

  constructor(
    /** Privilege lifetime in seconds. */
    readonly lifetime: number,
    private readonly now: () => number = Date.now,
    private readonly maxCached = 50_000,
  ) {}

  /** Tokens for a member: cached while more than half their lifetime remains. */
  forMember(app: TokenApp, subject: TokenSubject): MediaTokens {
    const key = `${subject.channelName}/${subject.uid}`;
    const hit = this.cache.get(key);
    const now = this.now();
    if (
      hit &&
      now - hit.mintedAt < (this.lifetime * 1000) / 2 &&
      sameTokenSettings(hit.app, app)
    ) {
      return hit.tokens;
    }
    return this.remember(key, now, app, this.mint(app, subject));
  }

  /** Always mint anew (token refresh). */
  refresh(app: TokenApp, subject: TokenSubject): MediaTokens {
    return this.remember(`${subject.channelName}/${subject.uid}`, this.now(), app, this.mint(app, subject));
  }

  mint(app: TokenApp, s: TokenSubject): MediaTokens {
    const cert = app.certificate;
    if (!cert || !HEX32.test(cert) || !HEX32.test(app.appId)) {
      return { rtcToken: null, rtmToken: null, screenToken: null };
    }
    if (app.tokenVersion === '006') {
      const expireAt = Math.floor(this.now() / 1000) + this.lifetime;
      return {
        rtcToken: legacyRtc.RtcTokenBuilder.buildTokenWithUid(app.appId, cert, s.channelName, s.uid, 1, expireAt),
        rtmToken: legacyRtm.RtmTokenBuilder.buildToken(app.appId, cert, String(s.uid), 1, expireAt),
        screenToken: legacyRtc.RtcTokenBuilder.buildTokenWithUid(app.appId, cert, s.channelName, s.screenId, 1, expireAt),
      };
    }
    const t = this.lifetime;
    return {
      rtcToken: RtcTokenBuilder.buildTokenWithUid(app.appId, cert, s.channelName, s.uid, RtcRole.PUBLISHER, t, t),
      rtmToken: RtmTokenBuilder.buildToken(app.appId, cert, String(s.uid), t),
      screenToken: RtcTokenBuilder.buildTokenWithUid(app.appId, cert, s.channelName, s.screenId, RtcRole.PUBLISHER, t, t),
    };
  }

  private remember(key: string, mintedAt: number, app: TokenApp, tokens: MediaTokens): MediaTokens {
    this.cache.delete(key);
    this.cache.set(key, { mintedAt, app: { appId: app.appId, certificate: app.certificate, tokenVersion: app.tokenVersion }, tokens });
    if (this.cache.size > this.maxCached) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    return tokens;
  }
}

// ---- verifying an RTM token (the iOS app's `x-agora-token` / `x-agora-uid` headers) ----
// A token is checked the way Agora checks it: its signature recomputed with the app's certificate
// (AccessToken2 `007`, or the legacy AccessToken `006`), then its App ID, its expiry, and that it
// lets `uid` log in to RTM. Parsed here, not with agora-token's parser, so the check does not
// rest on the code that minted the token.

/** Why an RTM token is refused, or null when it lets `uid` log in to RTM of this app now. */
export function rtmLoginRefusal(app: TokenApp, token: string, uid: string, nowSec: number): string | null {
  const cert = app.certificate;
  if (!cert || !HEX32.test(cert)) return 'this app has no App Certificate to check it with';
  try {
    if (token.startsWith('007')) return refusal007(app.appId, cert, token, uid, nowSec);
    if (token.startsWith('006')) return refusal006(app.appId, cert, token, uid, nowSec);
  } catch {
    // A truncated or garbled token: the reader ran past its end or inflate failed.
  }
  return 'it is not an Agora RTM token (AccessToken2 "007…" or AccessToken "006…")';
}

/** The expiry (epoch seconds) a token verified by rtmLoginRefusal carries, for caching the verdict. */
export function rtmTokenExpiry(token: string): number {
  try {
    if (token.startsWith('007')) {
      const t = read007(token);
      const login = t.rtm?.privileges.get(RTM_LOGIN_007) ?? 0;
      return t.issueTs + Math.min(t.expire, login);
    }
    const t = read006(token);
    return Math.min(t.ts, t.privileges.get(RTM_LOGIN_006) ?? 0);
  } catch {
    return 0;
  }
}

const RTM_SERVICE_007 = 2;
const RTM_LOGIN_007 = 1;
const RTM_LOGIN_006 = 1000;

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  u16(): number {
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(): Buffer {
    const n = this.u16();
    if (this.pos + n > this.buf.length) throw new RangeError('truncated');
    this.pos += n;
    return this.buf.subarray(this.pos - n, this.pos);
  }
  privileges(): Map<number, number> {
    const m = new Map<number, number>();
    for (let n = this.u16(); n > 0; n--) m.set(this.u16(), this.u32());
    return m;
  }
}

const hmac = (key: Buffer | string, msg: Buffer | string) => createHmac('sha256', key).update(msg).digest();
const u32le = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};
const same = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

function read007(token: string) {
  const outer = new Reader(inflateSync(Buffer.from(token.slice(3), 'base64')));
  const signature = outer.bytes();
  const signingInfo = outer.buf.subarray(outer.pos);
  const r = new Reader(signingInfo);
  const appId = r.bytes().toString('utf8');
  const issueTs = r.u32();
  const expire = r.u32();
  const salt = r.u32();
  let rtm: { userId: string; privileges: Map<number, number> } | null = null;
  // Services come sorted by type; those before RTM are skipped by their known layout (RTC: 1).
  for (let n = r.u16(); n > 0 && !rtm; n--) {
    const type = r.u16();
    const privileges = r.privileges();
    if (type === 1) {
      r.bytes();
      r.bytes();
    } else if (type === RTM_SERVICE_007) rtm = { userId: r.bytes().toString('utf8'), privileges };
    else break;
  }
  return { signature, signingInfo, appId, issueTs, expire, salt, rtm };
}

function refusal007(appId: string, cert: string, token: string, uid: string, now: number): string | null {
  const t = read007(token);
  const key = hmac(u32le(t.salt), hmac(u32le(t.issueTs), cert));
  if (!same(t.signature, hmac(key, t.signingInfo))) return "its signature does not verify with this app's certificate";
  if (t.appId !== appId) return `it was issued for App ID ${t.appId}, not ${appId}`;
  if (t.issueTs + t.expire <= now) return 'it has expired: take the fresh rtmToken from room info or token/refresh';
  if (!t.rtm) return 'it carries no RTM privilege';
  if (t.rtm.userId !== uid) return `it was minted for RTM user ${JSON.stringify(t.rtm.userId)}, not x-agora-uid ${JSON.stringify(uid)}`;
  const login = t.rtm.privileges.get(RTM_LOGIN_007);
  if (!login || t.issueTs + login <= now) return 'its RTM login privilege has expired';
  return null;
}

function read006(token: string) {
  const appId = token.slice(3, 35);
  const r = new Reader(Buffer.from(token.slice(35), 'base64'));
  const signature = r.bytes();
  r.u32(); // crc32 of the channel name (the RTM account)
  r.u32(); // crc32 of the uid ("" for RTM)
  const message = r.bytes();
  const m = new Reader(message);
  m.u32(); // salt
  const ts = m.u32();
  return { appId, signature, message, ts, privileges: m.privileges() };
}

function refusal006(appId: string, cert: string, token: string, uid: string, now: number): string | null {
  const t = read006(token);
  // The legacy RTM token signs App ID, account (in the channel's place) and an empty uid.
  const signed = Buffer.concat([Buffer.from(t.appId, 'utf8'), Buffer.from(uid, 'utf8'), t.message]);
  if (!same(t.signature, hmac(cert, signed))) {
    return `its signature does not verify with this app's certificate for RTM user ${JSON.stringify(uid)} (x-agora-uid)`;
  }
  if (t.appId !== appId) return `it was issued for App ID ${t.appId}, not ${appId}`;
  const login = t.privileges.get(RTM_LOGIN_006);
  if (!login) return 'it carries no RTM login privilege';
  if (t.ts <= now || login <= now) return 'it has expired: take the fresh rtmToken from room info or token/refresh';
  return null;
}
