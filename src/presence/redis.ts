// Presence for a cluster, in Redis. Each node records its sockets under its id and heartbeats; a
// node whose heartbeat stops (killed, partitioned) is reaped by whichever survivor looks first: its
// sockets are dropped and members left without one start their grace period from its last beat.
// Every step is one Lua script on Redis's clock, so exactly one node claims each expired member.
// When a step fails (Redis away), the node re-sends its whole socket list on the next good beat.
//
// On a Redis Cluster a room's presence is in the room's slice (store/redis/slices.ts), and each
// slice keeps every node's heartbeat and its own copy of the algorithm above: every step stays one
// script in one slot, and the presence of a deployment's rooms spreads over the masters as the rooms
// do. A node beats, syncs and reaps slice by slice (one slice, as before, on a single Redis).
import type { RedisClient } from '../store/redis/connection.ts';
import { singleSlice, type Slices } from '../store/redis/slices.ts';
import type { MemberRef, PresenceDirectory } from './directory.ts';
import { unavailableOnConnectionError as guard } from '../store/redis/connection.ts';

export interface RedisDirectoryOptions {
  redis: RedisClient;
  /** The deployment's prefix: one slice under it, unless `slices` says otherwise. */
  prefix: string;
  /** The deployment's slices (a Redis Cluster's); each room's presence is in its slice. */
  slices?: Slices;
  nodeId: string;
  graceMs: number;
  /** A node silent this long is dead (ms). Heartbeats go out five times per period. */
  nodeTimeoutMs: number;
  onError?: (err: unknown, what: string) => void;
}

const SEP = '\u0000';

// Shared by the scripts: Redis's clock in ms, and the sockets-set key of a member.
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

const OPENED = `
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[3])
return 1`;

const CLOSED = `${NOW}
redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('SREM', KEYS[2], ARGV[2]) == 1 and redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[3])
end
return 1`;

const AWAY = `${NOW}
if redis.call('SCARD', KEYS[1]) > 0 then return 0 end
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[2], 'NX', now + tonumber(ARGV[2]), ARGV[1])
else
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
end
return 1`;

// KEYS[1] away; ARGV prefix, lease, limit. Returns member, claim pairs.
const CLAIM = `${NOW}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, m in ipairs(due) do
  if redis.call('SCARD', ARGV[1] .. 'presence:sockets:' .. m) > 0 then
    redis.call('ZREM', KEYS[1], m)
  else
    local claim = now + tonumber(ARGV[2])
    redis.call('ZADD', KEYS[1], claim, m)
    out[#out + 1] = m
    out[#out + 1] = tostring(claim)
  end
end
return out`;

const SETTLE = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 1`;

// Drop one socket entry ("room\\0user\\0socket") of node d, starting the member's grace period at
// \`from\` if it was its last socket anywhere.
const DROP = `
local function drop(prefix, away, d, entry, from)
  local i = string.find(entry, '\\0', 1, true)
  local j = string.find(entry, '\\0', i + 1, true)
  local member = string.sub(entry, 1, j - 1)
  local sockets = prefix .. 'presence:sockets:' .. member
  if redis.call('SREM', sockets, d .. '\\0' .. string.sub(entry, j + 1)) == 1 and redis.call('SCARD', sockets) == 0 then
    redis.call('ZADD', away, from, member)
  end
end`;

// KEYS[1] nodes, KEYS[2] away; ARGV prefix, timeoutMs, graceMs. Returns the number of nodes reaped.
const REAP = `${NOW}${DROP}
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]), 'WITHSCORES')
for k = 1, #dead, 2 do
  local d = dead[k]
  local from = math.max(tonumber(dead[k + 1]) + tonumber(ARGV[3]), now)
  local set = ARGV[1] .. 'presence:node:' .. d
  for _, entry in ipairs(redis.call('SMEMBERS', set)) do drop(ARGV[1], KEYS[2], d, entry, from) end
  redis.call('DEL', set)
  redis.call('ZREM', KEYS[1], d)
end
return #dead / 2`;

// KEYS[1] nodes, KEYS[2] away, KEYS[3] this node's set; ARGV prefix, nodeId, graceMs, entries...
// Makes Redis hold exactly this node's sockets (after a failed step, or after being reaped).
const SYNC = `${NOW}${DROP}
local want = {}
for k = 4, #ARGV do want[ARGV[k]] = true end
for _, entry in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if not want[entry] then
    redis.call('SREM', KEYS[3], entry)
    drop(ARGV[1], KEYS[2], ARGV[2], entry, now + tonumber(ARGV[3]))
  end
end
for k = 4, #ARGV do
  local entry = ARGV[k]
  local i = string.find(entry, '\\0', 1, true)
  local j = string.find(entry, '\\0', i + 1, true)
  local member = string.sub(entry, 1, j - 1)
  redis.call('SADD', KEYS[3], entry)
  redis.call('SADD', ARGV[1] .. 'presence:sockets:' .. member, ARGV[2] .. '\\0' .. string.sub(entry, j + 1))
  redis.call('ZREM', KEYS[2], member)
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
return 1`;

// KEYS[1] nodes; ARGV nodeId. 1 when this node was not registered (first beat, or reaped).
const BEAT = `${NOW}
return redis.call('ZADD', KEYS[1], now, ARGV[1])`;

type Scripted = RedisClient & {
  presenceOpened(...args: (string | number)[]): Promise<number>;
  presenceClosed(...args: (string | number)[]): Promise<number>;
  presenceAway(...args: (string | number)[]): Promise<number>;
  presenceClaim(...args: (string | number)[]): Promise<string[]>;
  presenceSettle(...args: (string | number)[]): Promise<number>;
  presenceReap(...args: (string | number)[]): Promise<number>;
  presenceSync(...args: (string | number)[]): Promise<number>;
  presenceBeat(...args: (string | number)[]): Promise<number>;
};

export class RedisDirectory implements PresenceDirectory {
  private readonly redis: Scripted;
  private readonly slices: Slices;
  /** This node's open sockets, as "room\0user\0socket" entries: what a resync re-sends. */
  private readonly local = new Set<string>();
  /** A step failed: Redis may not hold what this node has, until the next successful sync. */
  private dirty = true;
  private beating: NodeJS.Timeout | null = null;
  private beat: Promise<void> | null = null;
  /** When this node last reached Redis, and before when it must not judge others (see heartbeat). */
  private lastBeatAt = 0;
  private reapAfter = 0;

  constructor(private readonly opts: RedisDirectoryOptions) {
    const r = opts.redis as Scripted;
    const define = (name: string, keys: number, lua: string) => {
      if (!(name in r)) r.defineCommand(name, { numberOfKeys: keys, lua });
    };
    define('presenceOpened', 3, OPENED);
    define('presenceClosed', 3, CLOSED);
    define('presenceAway', 2, AWAY);
    define('presenceClaim', 1, CLAIM);
    define('presenceSettle', 1, SETTLE);
    define('presenceReap', 2, REAP);
    define('presenceSync', 3, SYNC);
    define('presenceBeat', 1, BEAT);
    this.redis = r;
    this.slices = opts.slices ?? singleSlice(opts.prefix);
  }

  /** The keys of slice `p`. */
  private k(p: string) {
    return {
      nodes: `${p}presence:nodes`,
      away: `${p}presence:away`,
      node: `${p}presence:node:${this.opts.nodeId}`,
      sockets: (member: string) => `${p}presence:sockets:${member}`,
    };
  }

  /** The keys of the slice of room `roomId`. */
  private of(roomId: string) {
    return this.k(this.slices.ofRoom(roomId));
  }

  get ready(): boolean {
    return this.opts.redis.status === 'ready';
  }

  async start(): Promise<void> {
    await this.heartbeat();
    const every = Math.max(50, Math.floor(this.opts.nodeTimeoutMs / 5));
    this.beating = setInterval(() => void this.heartbeat(), every);
    this.beating.unref();
  }

  async opened(roomId: string, userId: string, socketId: string): Promise<void> {
    const member = roomId + SEP + userId;
    const entry = member + SEP + socketId;
    this.local.add(entry);
    const socket = this.opts.nodeId + SEP + socketId;
    const k = this.of(roomId);
    await this.step(() => guard(() => this.redis.presenceOpened(k.node, k.sockets(member), k.away, entry, socket, member)));
  }

  async closed(roomId: string, userId: string, socketId: string): Promise<void> {
    const member = roomId + SEP + userId;
    const entry = member + SEP + socketId;
    if (!this.local.delete(entry)) return;
    const socket = this.opts.nodeId + SEP + socketId;
    const k = this.of(roomId);
    await this.step(() => guard(() => this.redis.presenceClosed(k.node, k.sockets(member), k.away, entry, socket, member, this.opts.graceMs)));
  }

  async socketCount(roomId: string, userId: string): Promise<number> {
    return guard(() => this.redis.scard(this.of(roomId).sockets(roomId + SEP + userId)));
  }

  async away(roomId: string, userId: string, keep: boolean): Promise<void> {
    const member = roomId + SEP + userId;
    const k = this.of(roomId);
    await guard(() => this.redis.presenceAway(k.sockets(member), k.away, member, this.opts.graceMs, keep ? '1' : '0'));
  }

  async claimExpired(leaseMs: number): Promise<MemberRef[]> {
    const slices = await Promise.all(this.slices.prefixes.map((p) => guard(() => this.redis.presenceClaim(`${p}presence:away`, p, leaseMs, 500))));
    const flat = slices.flat();
    const out: MemberRef[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const m = flat[i]!;
      const sep = m.indexOf(SEP);
      out.push({ roomId: m.slice(0, sep), userId: m.slice(sep + 1), claim: Number(flat[i + 1]) });
    }
    return out;
  }

  async settle(ref: MemberRef): Promise<void> {
    await guard(() => this.redis.presenceSettle(this.of(ref.roomId).away, ref.roomId + SEP + ref.userId, String(ref.claim)));
  }

  async stop(): Promise<void> {
    if (this.beating) clearInterval(this.beating);
    this.beating = null;
    await this.beat;
    // A clean stop: this node's sockets are closed; their members' grace periods start now.
    this.local.clear();
    await this.sync().catch((err) => this.opts.onError?.(err, 'presence stop'));
    await Promise.all(this.slices.prefixes.map((p) => this.opts.redis.zrem(this.k(p).nodes, this.opts.nodeId).catch(() => {})));
  }

  /** A step that changes Redis; when it fails, the next heartbeat re-sends everything. */
  private async step(run: () => Promise<unknown>): Promise<void> {
    try {
      await run();
    } catch (err) {
      this.dirty = true;
      throw err;
    }
  }

  private heartbeat(): Promise<void> {
    this.beat ??= (async () => {
      try {
        const beats = await Promise.all(this.slices.prefixes.map((p) => guard(() => this.redis.presenceBeat(this.k(p).nodes, this.opts.nodeId))));
        const now = Date.now();
        // Back from an outage of its own (or Redis's): the others could not beat either, so their
        // silence says nothing yet. They get one timeout to beat before this node reaps anyone.
        if (now - this.lastBeatAt > this.opts.nodeTimeoutMs) this.reapAfter = now + this.opts.nodeTimeoutMs;
        this.lastBeatAt = now;
        // A slice that did not know this node (first beat, or reaped there) is sent its sockets again.
        if (this.dirty) await this.sync();
        else await this.sync(this.slices.prefixes.filter((_, i) => beats[i] === 1));
        if (now >= this.reapAfter) {
          await Promise.all(
            this.slices.prefixes.map((p) => {
              const k = this.k(p);
              return guard(() => this.redis.presenceReap(k.nodes, k.away, p, this.opts.nodeTimeoutMs, this.opts.graceMs));
            }),
          );
        }
      } catch (err) {
        this.dirty = true;
        this.opts.onError?.(err, 'presence heartbeat');
      } finally {
        this.beat = null;
      }
    })();
    return this.beat;
  }

  /** Makes each of `prefixes` (all slices by default) hold exactly this node's sockets of its rooms. */
  private async sync(prefixes: readonly string[] = this.slices.prefixes): Promise<void> {
    if (prefixes.length === 0) return;
    this.dirty = false;
    const bySlice = new Map<string, string[]>(prefixes.map((p) => [p, []]));
    for (const entry of this.local) bySlice.get(this.slices.ofRoom(entry.slice(0, entry.indexOf(SEP))))?.push(entry);
    try {
      await Promise.all(
        [...bySlice].map(([p, entries]) => {
          const k = this.k(p);
          return guard(() => this.redis.presenceSync(k.nodes, k.away, k.node, p, this.opts.nodeId, this.opts.graceMs, ...entries));
        }),
      );
    } catch (err) {
      this.dirty = true;
      throw err;
    }
  }
}
