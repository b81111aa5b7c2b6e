// Board tokens for the built-in whiteboard: Convene signs (board, member, may-draw, expiry) with a
// server secret, so the board's sync channel can check them without a lookup.
import { createHmac } from 'node:crypto';
import { sameSecret } from './session.ts';

export interface BoardClaim {
  boardId: string;
  userId: string;
  draw: boolean;
  /** Expiry, epoch seconds. */
  exp: number;
}

export class BoardTokens {
  /** Signed tokens are reused while more than half their lifetime remains (room info is hot). */
  private readonly cache = new Map<string, { token: string; exp: number }>();

  constructor(
    private readonly secret: string,
    private readonly lifetime: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** `remember`: keep the token for the next call (a hot reader's); else it is made, not kept. */
  sign(boardId: string, userId: string, draw: boolean, remember = true): string {
    const key = `${boardId}/${userId}/${draw ? 1 : 0}`;
    const nowS = this.now() / 1000;
    const hit = this.cache.get(key);
    if (hit && hit.exp - nowS > this.lifetime / 2) return hit.token;
    const claim: BoardClaim = { boardId, userId, draw, exp: Math.floor(nowS) + this.lifetime };
    const body = Buffer.from(JSON.stringify(claim)).toString('base64url');
    const token = `${body}.${this.mac(body)}`;
    if (!remember) return token;
    this.cache.delete(key);
    this.cache.set(key, { token, exp: claim.exp });
    if (this.cache.size > 50_000) this.cache.delete(this.cache.keys().next().value!);
    return token;
  }

  verify(token: string): BoardClaim | null {
    const [body, mac, extra] = token.split('.');
    if (!body || !mac || extra !== undefined || !sameSecret(mac, this.mac(body))) return null;
    try {
      const claim = JSON.parse(Buffer.from(body, 'base64url').toString()) as BoardClaim;
      return claim.exp > this.now() / 1000 ? claim : null;
    } catch {
      return null;
    }
  }

  private mac(body: string): string {
    return createHmac('sha256', this.secret).update(body).digest('base64url');
  }
}
