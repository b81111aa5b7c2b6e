// The app's credentials on a client-API call: HTTP Basic with the app's customer ID and secret, or,
// where a client sets no Authorization (the iOS app: HttpManager.httpHeader), the member's own RTM
// token and uid in `x-agora-token` / `x-agora-uid`, verified with the app's certificate.
import type { IncomingHttpHeaders } from 'node:http';
import type { App } from '../../store/store.ts';
import { rtmLoginRefusal, rtmTokenExpiry } from '../../tokens/agora.ts';
import { sameSecret } from '../../tokens/session.ts';
import { AgoraError, Code } from './codes.ts';

const WHAT_TO_SEND =
  'send Authorization: Basic base64(customerId:customerSecret), or x-agora-token (your rtmToken from room info) with x-agora-uid (your uid)';

/**
 * Credentials already verified, with what they matched: the same header for an app whose
 * credentials (or certificate) are still those needs no second check. Keyed by content, not by a
 * cached app, so that changed credentials are refused at once on every node.
 */
const verifiedBasic = new Map<string, { appId: string; id: string; secret: string }>();
const verifiedTokens = new Map<string, { appId: string; certificate: string; uid: string; until: number }>();
const MAX_REMEMBERED = 1000;

/** Throws AgoraError 1001 unless the request carries this app's credentials. */
export function checkAppCredentials(headers: IncomingHttpHeaders, app: App, nowMs = Date.now()): void {
  if (headers.authorization !== undefined || headers['x-agora-token'] === undefined) return checkBasic(headers.authorization, app);
  checkRtmToken(headers['x-agora-token'], headers['x-agora-uid'], app, Math.floor(nowMs / 1000));
}

function checkBasic(header: string | undefined, app: App): void {
  const hit = header === undefined ? undefined : verifiedBasic.get(header);
  if (hit && hit.appId === app.appId && hit.id === app.customerId && hit.secret === app.customerSecret) return;
  const m = header ? /^basic\s+(\S+)\s*$/i.exec(header) : null;
  if (!m) throw new AgoraError(Code.credentials, `missing credentials: ${WHAT_TO_SEND}`);
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const id = colon < 0 ? decoded : decoded.slice(0, colon);
  const secret = colon < 0 ? '' : decoded.slice(colon + 1);
  // Both compared, always, so that timing says nothing about which part was wrong.
  const idOk = sameSecret(id, app.customerId);
  const secretOk = sameSecret(secret, app.customerSecret);
  if (!idOk || !secretOk) throw new AgoraError(Code.credentials, 'wrong customer ID or secret for this app');
  if (verifiedBasic.size >= MAX_REMEMBERED) verifiedBasic.clear();
  verifiedBasic.set(header!, { appId: app.appId, id, secret });
}

function checkRtmToken(tokenHeader: string | string[], uidHeader: string | string[] | undefined, app: App, nowSec: number): void {
  const token = Array.isArray(tokenHeader) ? tokenHeader[0] : tokenHeader;
  const uid = Array.isArray(uidHeader) ? uidHeader[0] : uidHeader;
  if (!token || !uid) {
    throw new AgoraError(Code.credentials, `missing credentials: x-agora-token needs x-agora-uid (the uid it was minted for); ${WHAT_TO_SEND}`);
  }
  const hit = verifiedTokens.get(token);
  if (hit && hit.appId === app.appId && hit.certificate === app.certificate && hit.uid === uid && hit.until > nowSec) return;
  const why = rtmLoginRefusal(app, token, uid, nowSec);
  if (why !== null) throw new AgoraError(Code.credentials, `x-agora-token refused: ${why}; or send Authorization: Basic base64(customerId:customerSecret)`);
  if (verifiedTokens.size >= MAX_REMEMBERED) verifiedTokens.clear();
  verifiedTokens.set(token, { appId: app.appId, certificate: app.certificate!, uid, until: rtmTokenExpiry(token) });
}
