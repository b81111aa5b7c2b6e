// Rate limits counted in Redis, shared by every node of a cluster: one script per hit.
import type { RedisClient } from '../store/redis/connection.ts';
import type { RateLimiter, Verdict } from './limiter.ts';
import { unavailableOnConnectionError as guard } from '../store/redis/connection.ts';

// KEYS[1] counter; ARGV window ms. → {count, ms until the window ends}
const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}`;

type Scripted = RedisClient & { conveneRateHit(key: string, windowMs: number): Promise<[number, number]> };

export class RedisLimiter implements RateLimiter {
  private readonly redis: Scripted;

  constructor(
    redis: RedisClient,
    private readonly prefix: string,
  ) {
    if (!('conveneRateHit' in redis)) redis.defineCommand('conveneRateHit', { numberOfKeys: 1, lua: HIT });
    this.redis = redis as Scripted;
  }

  async hit(key: string, limit: number, windowMs: number): Promise<Verdict> {
    const [count, ttl] = await guard(() => this.redis.conveneRateHit(`${this.prefix}rate:${key}`, windowMs));
    return { ok: count <= limit, retryAfterMs: count <= limit ? 0 : ttl };
  }
}
