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
  constructor(
    private readonly secret: string,
    private readonly lifetime: number,
    private readonly now: () => number = Date.now,
  ) {}

  sign(boardId: string, userId: string, draw: boolean): string {
    const claim: BoardClaim = { boardId, userId, draw, exp: Math.floor(this.now() / 1000) + this.lifetime };
    const body = Buffer.from(JSON.stringify(claim)).toString('base64url');
    return `${body}.${this.mac(body)}`;
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
