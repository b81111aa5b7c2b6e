// Agora RTC/RTM tokens for a member, minted from the app's ID and certificate with agora-token.
// Minting deflates and signs, so tokens are cached per member and re-minted only when less than
// half their lifetime remains (or on an explicit refresh).
import { createRequire } from 'node:module';
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
      hit.app.appId === app.appId &&
      hit.app.certificate === app.certificate &&
      hit.app.tokenVersion === app.tokenVersion
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
