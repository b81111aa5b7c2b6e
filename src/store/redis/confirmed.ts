// Reads that serve only what a failover cannot take back (with CONVENE_REDIS_MIN_REPLICAS).
//
// A write is acknowledged (and published on the bus) only after WAIT says the replicas have it;
// but between its script and that WAIT, another node can read it from the primary: a room loaded
// for a snapshot, a log read by a resume or the RTM relay, a whiteboard's ops. Were the primary lost
// in that window, the promoted replica would lack it, the next write would reuse its seq with other
// content, and two sockets would hold different events under one seq. So such a hash carries marks
// beside its counters (a room: cv, cs beside its version v and seq s; a board: cs beside seq): the
// newest values known to be on the replicas, raised by the writer after its WAIT. A reader that finds
// data past the mark confirms it itself: a write of its own after that data, then a WAIT (which
// covers every earlier write, the replication stream being ordered).
//
// A mark is only raised, and only after a WAIT succeeded: one lost in a failover is merely low, and a
// promoted replica never holds a mark above its own data.
import type { RedisClient } from './connection.ts';
import type { ReplicaWaits } from './replicas.ts';

/**
 * KEYS: the hash. ARGV: its first counter's field and confirmed value, then (mark field, value)
 * pairs, the first being that counter's mark. A hash gone, or whose mark is ahead, keeps its own, and
 * so does one behind the value (a promoted replica that lacks it: the clients neither queue nor resend
 * a command across a lost connection, so this one cannot arrive later).
 */
const RAISE = `
local h = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[3])
if not h[1] or tonumber(h[1]) < tonumber(ARGV[2]) or tonumber(h[2] or '0') >= tonumber(ARGV[2]) then return 0 end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1`;

/**
 * KEYS: the hash. ARGV: its counters' fields. → false (no hash) or their values, after a write of the
 * caller's own (a counter no one reads) so that the caller's WAIT covers them (WAIT counts the writes
 * made on its connection).
 */
const MARK = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HINCRBY', KEYS[1], 'cw', 1)
return redis.call('HMGET', KEYS[1], unpack(ARGV))`;

type Scripted = RedisClient & {
  conveneConfirmRaise(...args: string[]): Promise<number>;
  conveneConfirmMark(...args: string[]): Promise<(string | null)[] | null>;
};

export class ConfirmedMarks {
  private readonly redis: Scripted;

  constructor(
    redis: RedisClient,
    private readonly waits: ReplicaWaits,
    /** The hash's counters, the first deciding whether a mark is behind. */
    private readonly counters: readonly string[],
    /** The mark of each counter, in the same order. */
    private readonly marks: readonly string[],
  ) {
    if (!('conveneConfirmRaise' in redis)) {
      redis.defineCommand('conveneConfirmRaise', { numberOfKeys: 1, lua: RAISE });
      redis.defineCommand('conveneConfirmMark', { numberOfKeys: 1, lua: MARK });
    }
    this.redis = redis as Scripted;
  }

  /**
   * After this node's WAIT for a write that left the counters at `values`: the marks for readers.
   * Not awaited (a mark left low only costs a reader a confirmation).
   */
  raise(key: string, values: readonly number[]): void {
    const pairs = this.marks.flatMap((m, i) => [m, String(values[i])]);
    this.redis.conveneConfirmRaise(key, this.counters[0]!, String(values[0]), ...pairs).catch(() => {});
  }

  /**
   * Resolves once what a read found up to `value` is on the replicas: at once when its `mark` covers
   * it, else after confirming everything of the hash written so far; a StoreUnavailableError
   * (retryable) when the replicas do not confirm it in time. A hash gone: nothing to confirm.
   */
  async upTo(key: string, value: number, mark: number): Promise<void> {
    if (value <= mark) return;
    const now = await this.redis.conveneConfirmMark(key, ...this.counters);
    if (now === null) return;
    await this.waits.confirm([key]);
    this.raise(key, now.map((v) => Number(v ?? 0)));
  }
}
