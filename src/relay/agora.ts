// One call to Agora's RTM RESTful API (server-side messaging: the sender neither logs in nor joins):
// POST {url}/dev/v2/project/{appId}/rtm/users/{sender}/channel_messages | peer_messages, with the
// row's body as it was written at the commit. Authenticated with the RESTful customer credentials
// (Basic) or, without them, an RTM token for the sender minted from the app's certificate.
import agoraToken from 'agora-token';
import type { Attempt } from '../outbox/dispatcher.ts';
import { postJson } from '../outbox/post.ts';
import type { RtmKind } from './messages.ts';
import type { RtmRelayTarget } from './config.ts';

const { RtmTokenBuilder } = agoraToken;

/** The RTM tokens of the sender (per app), re-minted once half their lifetime has passed. */
export class SenderTokens {
  private readonly cache = new Map<string, { token: string; until: number }>();

  constructor(
    private readonly lifetimeS = 3_600,
    private readonly now: () => number = Date.now,
  ) {}

  for(appId: string, certificate: string, sender: string): string {
    const key = `${appId}/${certificate}/${sender}`;
    const hit = this.cache.get(key);
    if (hit && hit.until > this.now()) return hit.token;
    const token = RtmTokenBuilder.buildToken(appId, certificate, sender, this.lifetimeS);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { token, until: this.now() + (this.lifetimeS * 1000) / 2 });
    return token;
  }
}

/** How the relay proves itself to Agora for one app: null when it cannot (no credentials, no certificate). */
export function authHeaders(target: RtmRelayTarget, app: { appId: string; certificate: string | null }, tokens: SenderTokens): Record<string, string> | null {
  if (target.customerId && target.customerSecret) {
    return { authorization: `Basic ${Buffer.from(`${target.customerId}:${target.customerSecret}`).toString('base64')}` };
  }
  if (!app.certificate) return null;
  return { 'x-agora-token': tokens.for(app.appId, app.certificate, target.sender), 'x-agora-uid': target.sender };
}

export function rtmPath(appId: string, sender: string, kind: RtmKind): string {
  return `/dev/v2/project/${encodeURIComponent(appId)}/rtm/users/${encodeURIComponent(sender)}/${kind === 'peer' ? 'peer_messages' : 'channel_messages'}`;
}

/** `Retry-After` as seconds or an HTTP date, in ms from now (undefined: absent or unreadable). */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** POST one message; retryable failures (408, 429, 5xx, no answer) are told apart from final ones. */
export async function postMessage(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<Attempt> {
  const answer = await postJson(new URL(url), { headers, body, timeoutMs, userAgent: 'Convene-RTM-Relay/1', keepBody: 512 });
  if ('error' in answer) return { ok: false, error: answer.error };
  const { status } = answer;
  if (status >= 200 && status < 300) return { ok: true };
  // Only the start of an answer is kept, for the log line of a refusal.
  const text = answer.text.slice(0, 200).replace(/\s+/g, ' ');
  // Another attempt may change only these; a refusal (400, 401, 403, 415, 435, …) is final.
  const retryable = status === 408 || status === 429 || status >= 500;
  return { ok: false, error: `HTTP ${status}${text ? `: ${text}` : ''}`, final: !retryable, retryAfterMs: retryAfterMs(answer.retryAfter) };
}
