// The webhook outbox in Redis. The room commit script writes the rows (scripts.ts COMMIT); here,
// the lanes are leased, advanced and retried, each step one script on Redis's clock, so that the
// nodes of a cluster share the work and a lane is never delivered by two of them at once: a node
// that dies leaves its leases to expire, and another node takes its lanes over.
//
// Keys (L = `appId/endpointId/roomId`, one lane), each in the slice of the lane's room (see
// slices.ts: one slice, under the deployment's prefix, on a single Redis):
//   wh:q:L      zset  ids of the pending rows by (seq, idx)
//   wh:r:L      hash  id → pending row (JSON)
//   wh:d:L      hash  id → dead letter (JSON)
//   wh:due      zset  lanes by the time their head is due (ms; 0: now); a leased lane by its lease's end
//   wh:lease    hash  lane → the token of the node holding it
//   wh:dead:A   set   lanes of app A with dead letters
//   wh:rooms:R  set   lanes of room R (deleted with the room by the retention purge)
//   wh:stamps   hash  appId → webhook stamp (see RoomStore.commit)
import { BUSY_LANE_DEFER_MS, type ClaimedLane, type DeadLetter, type Lane, type PendingDelivery, type WebhookOutbox } from '../store.ts';
import { unavailableOnConnectionError as guard, type RedisClient } from './connection.ts';
import type { Slices } from './slices.ts';
import type { ReplicaWaits } from './replicas.ts';
import { LANE_SCORE_IDX } from './scripts.ts';

export function laneOf(l: Lane): string {
  return `${l.appId}/${l.endpointId}/${l.roomId}`;
}

function parseLane(lane: string): Lane {
  const [appId, endpointId, roomId] = lane.split('/') as [string, string, string];
  return { appId, endpointId, roomId };
}

const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * KEYS: due, lease. ARGV: prefix, token, leaseMs, limit, perEndpoint, scan, deferMs, the number of
 * (endpoint id, cap) pairs, those pairs, then (endpoint, busy) pairs. → lane, head JSON, lane, head JSON, …
 */
const CLAIM = `${NOW}
local p, token, lease, limit, per = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local caps, busy = {}, {}
local ncaps = tonumber(ARGV[8])
for i = 9, 8 + 2 * ncaps, 2 do caps[ARGV[i]] = tonumber(ARGV[i + 1]) end
for i = 9 + 2 * ncaps, #ARGV, 2 do busy[ARGV[i]] = tonumber(ARGV[i + 1]) end
local out, n = {}, 0
for _, lane in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[6]))) do
  if n >= limit then break end
  local endpoint = string.match(lane, '^(.*)/[^/]*$')
  if (busy[endpoint] or 0) >= (caps[string.match(endpoint, '/([^/]*)$')] or per) then
    -- Put back: the endpoint's backlog must not stand in front of other endpoints' lanes.
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[7]), lane)
  else
    local ids = redis.call('ZRANGE', p .. 'wh:q:' .. lane, 0, 0)
    local head = ids[1] and redis.call('HGET', p .. 'wh:r:' .. lane, ids[1])
    if not head then
      -- Emptied (delivered, dropped, purged): the lane is closed.
      redis.call('ZREM', KEYS[1], lane)
      redis.call('HDEL', KEYS[2], lane)
    else
      redis.call('ZADD', KEYS[1], now + lease, lane)
      redis.call('HSET', KEYS[2], lane, token)
      busy[endpoint] = (busy[endpoint] or 0) + 1
      n = n + 1
      out[#out + 1] = lane
      out[#out + 1] = head
    end
  end
end
return out`;

/**
 * KEYS: due, lease. ARGV: prefix, lane, token, id, dead letter JSON ('' when delivered), leaseMs,
 * appId. → {'lost'} | {'done'} | {'next', head JSON}
 */
const ADVANCE = `${NOW}
local p, lane, token, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('HGET', KEYS[2], lane) ~= token then return {'lost'} end
if ARGV[5] ~= '' then
  redis.call('HSET', p .. 'wh:d:' .. lane, id, ARGV[5])
  redis.call('SADD', p .. 'wh:dead:' .. ARGV[7], lane)
end
local q, r = p .. 'wh:q:' .. lane, p .. 'wh:r:' .. lane
redis.call('ZREM', q, id)
redis.call('HDEL', r, id)
local ids = redis.call('ZRANGE', q, 0, 0)
local head = ids[1] and redis.call('HGET', r, ids[1])
if not head then
  redis.call('ZREM', KEYS[1], lane)
  redis.call('HDEL', KEYS[2], lane)
  return {'done'}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[6]), lane)
return {'next', head}`;

/** KEYS: due, lease. ARGV: prefix, lane, token, id, row JSON, delayMs. → 1, or 0 when the lease is lost. */
const RETRY = `${NOW}
local p, lane, token, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('HGET', KEYS[2], lane) ~= token then return 0 end
local r = p .. 'wh:r:' .. lane
if redis.call('HEXISTS', r, id) == 1 then redis.call('HSET', r, id, ARGV[5]) end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[6]), lane)
redis.call('HDEL', KEYS[2], lane)
return 1`;

/** KEYS: due, lease. ARGV: lane, token. */
const RELEASE = `
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], 0, ARGV[1])
return 1`;

/** KEYS: due, lease. ARGV: prefix, lane, token. → rows dropped. */
const DROP = `
local p, lane = ARGV[1], ARGV[2]
if redis.call('HGET', KEYS[2], lane) ~= ARGV[3] then return 0 end
local n = redis.call('ZCARD', p .. 'wh:q:' .. lane)
redis.call('UNLINK', p .. 'wh:q:' .. lane, p .. 'wh:r:' .. lane)
redis.call('ZREM', KEYS[1], lane)
redis.call('HDEL', KEYS[2], lane)
return n`;

/**
 * Moves dead letters back to their lane. KEYS: due, the app's dead lanes. ARGV: prefix, lane,
 * then (id, score, row JSON) triples. → how many were moved (those still dead).
 */
const RESEND = `
local p, lane = ARGV[1], ARGV[2]
local d = p .. 'wh:d:' .. lane
local n = 0
for i = 3, #ARGV, 3 do
  if redis.call('HDEL', d, ARGV[i]) == 1 then
    redis.call('ZADD', p .. 'wh:q:' .. lane, ARGV[i + 1], ARGV[i])
    redis.call('HSET', p .. 'wh:r:' .. lane, ARGV[i], ARGV[i + 2])
    n = n + 1
  end
end
if n > 0 then redis.call('ZADD', KEYS[1], 'NX', 0, lane) end
if redis.call('EXISTS', d) == 0 then redis.call('SREM', KEYS[2], lane) end
return n`;

/** KEYS: the app's dead lanes. ARGV: prefix, `appId/endpointId/`. → dead letters deleted. */
const FORGET = `
local p, start = ARGV[1], ARGV[2]
local n = 0
for _, lane in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if string.sub(lane, 1, #start) == start then
    n = n + redis.call('HLEN', p .. 'wh:d:' .. lane)
    redis.call('UNLINK', p .. 'wh:d:' .. lane)
    redis.call('SREM', KEYS[1], lane)
  end
end
return n`;

/** KEYS: due. ARGV: prefix, endpoint id ('' for all). → rows waiting in every lane (of that endpoint). */
const WAITING = `
local n = 0
for _, lane in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if ARGV[2] == '' or string.match(lane, '^[^/]*/([^/]*)/') == ARGV[2] then n = n + redis.call('ZCARD', ARGV[1] .. 'wh:q:' .. lane) end
end
return n`;

/** Lanes looked at per claim, at most: those of busy endpoints are passed over. */
const CLAIM_SCAN = 500;

type Call = (...args: (string | number)[]) => Promise<unknown>;

export class RedisOutbox implements WebhookOutbox {
  private readonly s: Record<'claim' | 'advance' | 'retry' | 'release' | 'drop' | 'resend' | 'forget' | 'waiting', Call>;
  /** Where the next claim starts: slices take turns at being asked first. */
  private nextSlice = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly slices: Slices,
    /** With CONVENE_REDIS_MIN_REPLICAS: a row is sent only once the replicas have it (see claim). */
    private readonly replicas: ReplicaWaits | null = null,
  ) {
    const define = (name: string, keys: number, lua: string): Call => {
      const r = redis as unknown as Record<string, Call>;
      if (!(name in r)) redis.defineCommand(name, { numberOfKeys: keys, lua });
      return (...args) => r[name]!.apply(redis, args);
    };
    this.s = {
      claim: define('webhookClaim', 2, CLAIM),
      advance: define('webhookAdvance', 2, ADVANCE),
      retry: define('webhookRetry', 2, RETRY),
      release: define('webhookRelease', 2, RELEASE),
      drop: define('webhookDrop', 2, DROP),
      resend: define('webhookResend', 2, RESEND),
      forget: define('webhookForget', 1, FORGET),
      waiting: define('webhookWaiting', 1, WAITING),
    };
  }

  /** The slice prefix of a lane, and its slice's queue of due lanes and leases. */
  private at(lane: Lane): { p: string; due: string; lease: string } {
    const p = this.slices.ofRoom(lane.roomId);
    return { p, due: `${p}wh:due`, lease: `${p}wh:lease` };
  }

  claim(token: string, leaseMs: number, limit: number, perEndpoint: number, busy: ReadonlyMap<string, number>, caps: ReadonlyMap<string, number> = new Map()): Promise<ClaimedLane[]> {
    return guard(async () => {
      const out: ClaimedLane[] = [];
      if (limit <= 0) return out;
      const capPairs = [...caps].flatMap(([id, n]) => [id, String(n)]);
      const taken = new Map(busy);
      const prefixes = this.slices.prefixes;
      const first = this.nextSlice++ % prefixes.length;
      const claimedIn: string[] = [];
      for (let k = 0; k < prefixes.length && out.length < limit; k++) {
        const p = prefixes[(first + k) % prefixes.length]!;
        const pairs = [...taken].flatMap(([endpoint, n]) => [endpoint, String(n)]);
        const flat = (await this.s.claim(`${p}wh:due`, `${p}wh:lease`, p, token, leaseMs, limit - out.length, perEndpoint, CLAIM_SCAN, BUSY_LANE_DEFER_MS, caps.size, ...capPairs, ...pairs)) as string[];
        for (let i = 0; i < flat.length; i += 2) {
          const lane = parseLane(flat[i]!);
          out.push({ ...lane, token, head: JSON.parse(flat[i + 1]!) as PendingDelivery });
          // A later slice's lanes of the same endpoint count these (the script counts its own).
          const endpoint = `${lane.appId}/${lane.endpointId}`;
          taken.set(endpoint, (taken.get(endpoint) ?? 0) + 1);
        }
        if (flat.length > 0) claimedIn.push(`${p}wh:due`);
      }
      // A row's commit may still be waiting for its replicas (a failover could take it back, and
      // the row with it): the claim, a write after it, is confirmed first. Unconfirmed, the leases
      // simply expire and the rows are claimed again.
      if (this.replicas && claimedIn.length > 0) await this.replicas.confirm(claimedIn);
      return out;
    });
  }

  advance(lane: Lane, token: string, head: PendingDelivery, dead: { attempts: number; error: string } | null, leaseMs: number) {
    return guard(async (): Promise<PendingDelivery | null | 'lost'> => {
      const letter = dead ? JSON.stringify({ ...head, attempts: dead.attempts, lastError: dead.error, deadAt: Date.now() }) : '';
      const { p, due, lease } = this.at(lane);
      const [what, next] = (await this.s.advance(due, lease, p, laneOf(lane), token, head.id, letter, leaseMs, lane.appId)) as [string, string?];
      if (what === 'lost') return 'lost';
      if (what !== 'next') return null;
      // As in claim: the next row is sent only once the replicas have it.
      await this.replicas?.confirm([due]);
      return JSON.parse(next!) as PendingDelivery;
    });
  }

  retry(lane: Lane, token: string, head: PendingDelivery, attempts: number, error: string, delayMs: number): Promise<boolean> {
    return guard(async () => {
      const row = JSON.stringify({ ...head, attempts, lastError: error });
      const { p, due, lease } = this.at(lane);
      return (await this.s.retry(due, lease, p, laneOf(lane), token, head.id, row, Math.max(0, Math.round(delayMs)))) === 1;
    });
  }

  release(lane: Lane, token: string): Promise<void> {
    return guard(async () => {
      const { due, lease } = this.at(lane);
      await this.s.release(due, lease, laneOf(lane), token);
    });
  }

  drop(lane: Lane, token: string): Promise<number> {
    const { p, due, lease } = this.at(lane);
    return guard(async () => (await this.s.drop(due, lease, p, laneOf(lane), token)) as number);
  }

  /** Other nodes may hold live leases: a restarted node waits for its old ones to expire. */
  async recover(): Promise<void> {}

  dead(appId: string, endpointId: string | null, limit: number): Promise<DeadLetter[]> {
    return guard(async () => {
      const lanes = await this.deadLanes(appId, endpointId);
      const letters: DeadLetter[] = [];
      // One call per lane (a pipeline on a Cluster must stay in one slot; ioredis batches these per node).
      const replies = await Promise.all(lanes.map(({ p, lane }) => this.redis.hvals(`${p}wh:d:${lane}`)));
      for (const values of replies) for (const v of values) letters.push(JSON.parse(v) as DeadLetter);
      letters.sort((a, b) => a.deadAt - b.deadAt || (a.roomId < b.roomId ? -1 : a.roomId > b.roomId ? 1 : a.seq - b.seq || a.idx - b.idx));
      return limit >= 0 ? letters.slice(0, limit) : letters;
    });
  }

  resend(appId: string, endpointId: string | null, ids: string[] | null): Promise<number> {
    return guard(async () => {
      const wanted = ids === null ? null : new Set(ids);
      let n = 0;
      for (const { p, lane } of await this.deadLanes(appId, endpointId)) {
        const letters = (await this.redis.hvals(`${p}wh:d:${lane}`)).map((v) => JSON.parse(v) as DeadLetter);
        const args: string[] = [];
        for (const l of letters) {
          if (wanted && !wanted.has(l.id)) continue;
          const row: PendingDelivery = { appId: l.appId, roomId: l.roomId, endpointId: l.endpointId, id: l.id, seq: l.seq, idx: l.idx, payload: l.payload, attempts: 0, lastError: null };
          args.push(l.id, String(l.seq * LANE_SCORE_IDX + l.idx), JSON.stringify(row));
        }
        if (args.length > 0) n += (await this.s.resend(`${p}wh:due`, `${p}wh:dead:${appId}`, p, lane, ...args)) as number;
      }
      return n;
    });
  }

  forget(appId: string, endpointId: string): Promise<number> {
    return guard(async () => {
      const counts = await Promise.all(this.slices.prefixes.map((p) => this.s.forget(`${p}wh:dead:${appId}`, p, `${appId}/${endpointId}/`) as Promise<number>));
      return counts.reduce((a, b) => a + b, 0);
    });
  }

  waiting(endpointId?: string): Promise<number> {
    return guard(async () => {
      const counts = await Promise.all(this.slices.prefixes.map((p) => this.s.waiting(`${p}wh:due`, p, endpointId ?? '') as Promise<number>));
      return counts.reduce((a, b) => a + b, 0);
    });
  }

  /** The lanes of an app (of one endpoint) that hold dead letters, with their slice prefix. */
  private async deadLanes(appId: string, endpointId: string | null): Promise<{ p: string; lane: string }[]> {
    const sets = await Promise.all(this.slices.prefixes.map(async (p) => (await this.redis.smembers(`${p}wh:dead:${appId}`)).map((lane) => ({ p, lane }))));
    const lanes = sets.flat();
    return endpointId === null ? lanes : lanes.filter((l) => l.lane.startsWith(`${appId}/${endpointId}/`));
  }
}
