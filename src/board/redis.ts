// The board log of a cluster, in Redis in its room's slice (see store/redis/slices.ts: one slice
// under the cluster's prefix on a single Redis), apart from the meeting's keys:
//   board:<roomId>          hash: seq (the last boardSeq); with CONVENE_REDIS_MIN_REPLICAS, cs (the
//                           last seq known to be on the replicas) and cw (see store/redis/confirmed.ts:
//                           nothing is read out before the replicas have it)
//   board:<roomId>:order    zset: stroke id by the seq that drew it (drawing order)
//   board:<roomId>:strokes  hash: stroke id → stroke JSON (with `by`)
//   board:<roomId>:ops      zset: "<seq> <entry JSON>" by seq, the last OPS_KEPT ops
//   boards                  zset: roomId by the time of its last op (for retention)
// An op is one script: checked, numbered and applied at once, so two nodes never give out one seq.
import type { RedisClient } from '../store/redis/connection.ts';
import type { Slices } from '../store/redis/slices.ts';
import type { ReplicaWaits } from '../store/redis/replicas.ts';
import { ConfirmedMarks } from '../store/redis/confirmed.ts';
import type { DrawnStroke } from './strokes.ts';
import { OPS_KEPT, type Appended, type BoardChange, type BoardEntry, type BoardHead, type BoardLog } from './log.ts';
import { unavailableOnConnectionError as guard } from '../store/redis/connection.ts';

// KEYS: meta, order, strokes, ops, index. ARGV: op, strokeId, stroke JSON, entry JSON (no seq), at, max strokes, ops kept, roomId.
// Everything is checked before the first write (Redis does not roll a script back).
const APPEND = `
local op = ARGV[1]
if op == 'draw' then
  if redis.call('HEXISTS', KEYS[3], ARGV[2]) == 1 then return {'taken'} end
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[6]) then return {'full'} end
elseif op == 'erase' then
  if redis.call('HDEL', KEYS[3], ARGV[2]) == 0 then return {'missing'} end
  redis.call('ZREM', KEYS[2], ARGV[2])
else
  redis.call('DEL', KEYS[2], KEYS[3])
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
if op == 'draw' then
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
  redis.call('ZADD', KEYS[2], seq, ARGV[2])
end
redis.call('ZADD', KEYS[4], seq, seq .. ' ' .. ARGV[4])
local n = redis.call('ZCARD', KEYS[4])
local keep = tonumber(ARGV[7])
if n > keep then redis.call('ZREMRANGEBYRANK', KEYS[4], 0, n - keep - 1) end
redis.call('ZADD', KEYS[5], ARGV[5], ARGV[8])
return {'ok', seq}`;

// KEYS: order, strokes. ARGV: after, upTo, limit → {seq, JSON, seq, JSON, …}
const STROKES = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], ARGV[2], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
if #ids == 0 then return {} end
local names = {}
for i = 1, #ids, 2 do names[#names + 1] = ids[i] end
local data = redis.call('HMGET', KEYS[2], unpack(names))
local out = {}
for i = 1, #names do
  if data[i] then
    out[#out + 1] = ids[2 * i]
    out[#out + 1] = data[i]
  end
end
return out`;

type Scripted = RedisClient & {
  conveneBoardAppend(...args: string[]): Promise<[string, number?]>;
  conveneBoardStrokes(...args: string[]): Promise<string[]>;
};

export class RedisBoardLog implements BoardLog {
  private readonly redis: Scripted;
  /** The board's mark of what the replicas have (seq → cs). */
  private readonly confirmed: ConfirmedMarks | null;

  constructor(
    redis: RedisClient,
    private readonly slices: Slices,
    /** CONVENE_REDIS_MIN_REPLICAS: an op is acknowledged once replicas have it, as a meeting's commit. */
    private readonly replicas: ReplicaWaits | null = null,
  ) {
    this.confirmed = replicas && new ConfirmedMarks(redis, replicas, ['seq'], ['cs']);
    if (!('conveneBoardAppend' in redis)) {
      redis.defineCommand('conveneBoardAppend', { numberOfKeys: 5, lua: APPEND });
      redis.defineCommand('conveneBoardStrokes', { numberOfKeys: 2, lua: STROKES });
    }
    this.redis = redis as Scripted;
  }

  private keys(roomId: string) {
    const b = `${this.slices.ofRoom(roomId)}board:${roomId}`;
    return { meta: b, order: `${b}:order`, strokes: `${b}:strokes`, ops: `${b}:ops` };
  }

  append(roomId: string, change: BoardChange, maxStrokes: number): Promise<Appended> {
    const k = this.keys(roomId);
    const id = change.op === 'draw' ? change.stroke.id : change.op === 'erase' ? change.strokeId : '';
    const drawn = change.op === 'draw' ? JSON.stringify({ ...change.stroke, by: change.by } satisfies DrawnStroke) : '';
    return guard(async () => {
      const [status, seq] = await this.redis.conveneBoardAppend(
        k.meta, k.order, k.strokes, k.ops, `${this.slices.ofRoom(roomId)}boards`,
        change.op, id, drawn, JSON.stringify(change), String(change.at), String(maxStrokes), String(OPS_KEPT), roomId,
      );
      if (status !== 'ok') return { ok: false, why: status as 'full' | 'taken' | 'missing' };
      if (this.replicas) {
        await this.replicas.confirm([k.meta]);
        this.confirmed!.raise(k.meta, [Number(seq)]);
      }
      return { ok: true, entry: { seq: Number(seq), ...change } as BoardEntry };
    });
  }

  head(roomId: string): Promise<BoardHead> {
    const k = this.keys(roomId);
    return guard(async () => {
      const r = await this.redis.multi().hget(k.meta, 'seq').zcard(k.order).hget(k.meta, 'cs').exec();
      if (!r || r.some(([err]) => err)) throw r?.find(([err]) => err)?.[0] ?? new Error('board head: transaction aborted');
      const seq = Number(r[0]![1] ?? 0);
      await this.confirmed?.upTo(k.meta, seq, Number(r[2]![1] ?? 0));
      return { seq, strokes: Number(r[1]![1]) };
    });
  }

  strokes(roomId: string, afterSeq: number, upTo: number, limit: number): Promise<{ seq: number; stroke: DrawnStroke }[]> {
    const k = this.keys(roomId);
    return guard(async () => {
      const flat = await this.redis.conveneBoardStrokes(k.order, k.strokes, String(afterSeq), String(upTo), String(limit));
      const out: { seq: number; stroke: DrawnStroke }[] = [];
      for (let i = 0; i < flat.length; i += 2) out.push({ seq: Number(flat[i]), stroke: JSON.parse(flat[i + 1]!) as DrawnStroke });
      return out;
    });
  }

  since(roomId: string, afterSeq: number, limit: number): Promise<BoardEntry[]> {
    return guard(async () => {
      const k = this.keys(roomId);
      const [rows, mark] = await Promise.all([this.redis.zrangebyscore(k.ops, `(${afterSeq}`, '+inf', 'LIMIT', 0, limit), this.replicas ? this.redis.hget(k.meta, 'cs') : null]);
      const entries = rows.map((row) => {
        const sp = row.indexOf(' ');
        return { ...(JSON.parse(row.slice(sp + 1)) as BoardChange), seq: Number(row.slice(0, sp)) } as BoardEntry;
      });
      if (entries.length > 0) await this.confirmed?.upTo(k.meta, entries[entries.length - 1]!.seq, Number(mark ?? 0));
      return entries;
    });
  }

  async purgeIdle(before: number, limit: number, fate: (roomId: string) => Promise<number | null>): Promise<number> {
    let seen = 0;
    for (const p of this.slices.prefixes) {
      if (seen >= limit) break;
      const index = `${p}boards`;
      const ids = await guard(() => this.redis.zrangebyscore(index, '-inf', before, 'LIMIT', 0, limit - seen));
      seen += ids.length;
      for (const id of ids) {
        const k = this.keys(id);
        // Every node runs this: deleting twice is harmless.
        const later = await fate(id);
        if (later === null) await guard(() => this.redis.multi().del(k.meta, k.order, k.strokes, k.ops).zrem(index, id).exec());
        else await guard(() => this.redis.zadd(index, later, id));
      }
    }
    return seen;
  }

  async close(): Promise<void> {}
}
