// One call to Agora's RTM RESTful API (server-side messaging: the sender neither logs in nor joins):
// POST {url}/dev/v2/project/{appId}/rtm/users/{sender}/channel_messages | peer_messages, with the
// row's body as it was written at the commit. Authenticated with the RESTful customer credentials
// (Basic) or, without them, an RTM token for the sender minted from the app's certificate.
import http from 'node:http';
import https from 'node:https';
import agoraToken from 'agora-token';
import type { Attempt } from '../outbox/dispatcher.ts';
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

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 256 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 256 }),
};

/** `Retry-After` as seconds or an HTTP date, in ms from now (undefined: absent or unreadable). */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** POST one message; retryable failures (408, 429, 5xx, no answer) are told apart from final ones. */
export function postMessage(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<Attempt> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    const payload = Buffer.from(body);
    let settled = false;
    const done = (r: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = (secure ? https : http).request(
      target,
      {
        method: 'POST',
        agent: secure ? agents.https : agents.http,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': String(payload.length), 'user-agent': 'Convene-RTM-Relay/1' },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          // Only the start of an answer is kept, for the log line of a refusal.
          if (size < 512) chunks.push(c);
          size += c.length;
        });
        res.on('error', () => done({ ok: false, error: `HTTP ${status}: answer cut off` }));
        res.on('end', () => {
          if (status >= 200 && status < 300) return done({ ok: true });
          const text = Buffer.concat(chunks).toString('utf8').slice(0, 200).replace(/\s+/g, ' ');
          const error = `HTTP ${status}${text ? `: ${text}` : ''}`;
          // Another attempt may change only these; a refusal (400, 401, 403, 415, 435, …) is final.
          const retryable = status === 408 || status === 429 || status >= 500;
          done({ ok: false, error, final: !retryable, retryAfterMs: retryAfterMs(res.headers['retry-after']) });
        });
      },
    );
    const timer = setTimeout(() => {
      done({ ok: false, error: `no answer within ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, error: err.code ?? err.message }));
    req.end(payload);
  });
}
