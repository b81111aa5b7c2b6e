// Rate limits: how many hits a key may take per window. The port, and the counter for one process;
// a cluster counts in Redis (limits/redis.ts) so that a client spreading its calls over the nodes
// meets the same limit. Fixed windows: cheap, one counter per key, and a burst at a window's edge is
// at most twice the limit, which is what a limit "no person reaches" can afford.

export interface Verdict {
  ok: boolean;
  /** When a refused hit may be tried again (ms from now). */
  retryAfterMs: number;
}

export interface RateLimiter {
  /** Count one hit on `key`: refused when it is over `limit` in the current `windowMs` window. */
  hit(key: string, limit: number, windowMs: number): Promise<Verdict>;
}

/** Counters this process keeps; expired ones are dropped as the map grows. */
export class LocalLimiter implements RateLimiter {
  private readonly counters = new Map<string, { count: number; resetAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async hit(key: string, limit: number, windowMs: number): Promise<Verdict> {
    const now = this.now();
    let c = this.counters.get(key);
    if (!c || c.resetAt <= now) {
      if (this.counters.size >= 100_000) this.prune(now);
      c = { count: 0, resetAt: now + windowMs };
      this.counters.set(key, c);
    }
    c.count++;
    return { ok: c.count <= limit, retryAfterMs: c.count <= limit ? 0 : c.resetAt - now };
  }

  private prune(now: number): void {
    for (const [k, c] of this.counters) if (c.resetAt <= now) this.counters.delete(k);
    // Still full of live counters (an attack on many keys): start over rather than grow.
    if (this.counters.size >= 100_000) this.counters.clear();
  }
}
