// Standard Webhooks signing (https://www.standardwebhooks.com): every attempt carries `webhook-id`
// (the event's id, the same on every retry), `webhook-timestamp` (the attempt's time, seconds) and
// `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. The key is the endpoint's
// secret: a `whsec_`-prefixed base64 key as the standard defines it, or any other text used as the
// key's raw bytes (the Qiniu eventCbSecret of an existing backend).
import { createHmac, randomBytes } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';

/** A new key as the standard's libraries expect it: 32 random bytes. */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** What is wrong with a secret, or null when it is usable. */
export function secretProblem(secret: string): string | null {
  if (secret.startsWith(SECRET_PREFIX)) {
    const b64 = secret.slice(SECRET_PREFIX.length);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return 'a whsec_ secret must be whsec_ followed by standard base64';
    const n = Buffer.from(b64, 'base64').length;
    if (n < 24 || n > 64) return `a whsec_ secret must hold 24 to 64 bytes, not ${n}`;
    return null;
  }
  if (secret.length < 1 || secret.length > 256) return 'a secret must be 1 to 256 characters';
  if (/\s/.test(secret)) return 'a secret must not contain spaces';
  return null;
}

/** The HMAC key of a secret: the decoded bytes of a whsec_ key, else the text's UTF-8 bytes. */
export function signingKey(secret: string): Buffer {
  return secret.startsWith(SECRET_PREFIX) ? Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** The signature headers of one attempt to deliver `body` as event `id` at `nowMs`. */
export function signatureHeaders(key: Buffer, id: string, body: string, nowMs: number): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}
