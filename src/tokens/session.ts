// userToken: Convene's own session token, bound to one room and member. It carries a random
// secret that the member record holds; a new entry replaces the secret, revoking the old token.
import { randomBytes, timingSafeEqual } from 'node:crypto';

export interface SessionClaim {
  roomId: string;
  userId: string;
  secret: string;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;

// Entries need several random values each: draw them from a pool refilled 4 KiB at a time
// rather than one getrandom call per value.
let pool = Buffer.alloc(0);
let offset = 0;
function random(n: number): Buffer {
  if (offset + n > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const out = pool.subarray(offset, offset + n);
  offset += n;
  return out;
}

export function newSecret(): string {
  return random(24).toString('base64url');
}

/** A random id of 22 URL-safe characters (about 131 bits). */
export function newId(): string {
  return random(17).toString('base64url').slice(0, 22);
}

export function formatSessionToken(c: SessionClaim): string {
  return `${c.roomId}.${c.userId}.${c.secret}`;
}

export function parseSessionToken(token: string): SessionClaim | null {
  if (token.length > 256) return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [roomId, userId, secret] = parts as [string, string, string];
  if (!ID.test(roomId) || !ID.test(userId) || !ID.test(secret)) return null;
  return { roomId, userId, secret };
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
