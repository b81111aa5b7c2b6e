// How fast a member may send on its realtime socket (board ops, media signals): a token bucket per
// member, counted on this node, refilled at `rate` per second and holding at most `rate` (so a burst
// of one second's worth passes at once). Every inbound frame costs a token, junk included, and is
// counted before anything else is done with it, so a flood costs the server little per frame. In-process rather than in Redis: a round trip per
// frame would make a flood cost Redis too; a member's sockets on several nodes (at most
// CONVENE_MAX_SOCKETS_PER_MEMBER) each get the rate of their node.

interface Bucket {
  tokens: number;
  at: number;
  /** Sockets of the member on this node using the bucket. */
  users: number;
}

export class MemberRate {
  private readonly buckets = new Map<string, Bucket>();

  /** `rate` ops per second; 0: no limit. */
  constructor(
    private readonly rate: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A socket of `member` starts sending. */
  join(member: string): void {
    const b = this.buckets.get(member);
    if (b) b.users++;
    else this.buckets.set(member, { tokens: this.rate, at: this.now(), users: 1 });
  }

  leave(member: string): void {
    const b = this.buckets.get(member);
    if (b && --b.users <= 0) this.buckets.delete(member);
  }

  /** Take one token: 0 when the frame may pass, else the ms until one is available. */
  take(member: string): number {
    if (this.rate === 0) return 0;
    const b = this.buckets.get(member);
    if (!b) return 0;
    const now = this.now();
    b.tokens = Math.min(this.rate, b.tokens + ((now - b.at) * this.rate) / 1000);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) * 1000) / this.rate);
  }
}
