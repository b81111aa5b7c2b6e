// The baseline of bench:cluster's entries on a Redis Cluster: a bare ioredis client (auto-pipelined,
// as Convene's) doing an entry's Redis work — the app's HGET, three scripts on one room's keys (find,
// load, commit with ~2 KB of member and event), a publish on the room's channel — with as many
// entries in flight as the bench's connections, on one Redis and on the Cluster in turns. What the
// Cluster costs this client on these cores is the platform's share of Convene's ratio.
import { Cluster, Redis } from 'ioredis';
import { clusterSlices, singleSlice, type Slices } from '../../src/store/redis/slices.ts';

const READ = `return redis.call('HMGET', KEYS[1], 'v', 'd', 'n')`;
const COMMIT = `
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -101)
return 'ok'`;
const ROOMS = 500;
const MEMBER = 'm'.repeat(2_000);
const EVENT = 'e'.repeat(300);

type Client = (Redis | Cluster) & {
  entryRead(room: string): Promise<unknown>;
  entryCommit(room: string, events: string, version: string, data: string): Promise<unknown>;
};

function prepared(c: Redis | Cluster): Client {
  c.defineCommand('entryRead', { numberOfKeys: 1, lua: READ });
  c.defineCommand('entryCommit', { numberOfKeys: 2, lua: COMMIT });
  return c as Client;
}

/** Entries per second over `ms`, `inFlight` at a time. */
async function rate(c: Client, slices: Slices, sharded: boolean, inFlight: number, ms: number): Promise<number> {
  const rooms = Array.from({ length: ROOMS }, (_, i) => slices.newRoomId('bench', `room-${i}`));
  const end = Date.now() + ms;
  let k = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (Date.now() < end) {
        const id = rooms[k++ % ROOMS]!;
        const p = slices.ofRoom(id);
        await c.hget(`${slices.global}apps`, 'bench');
        await c.entryRead(`${p}room:${id}`);
        await c.entryRead(`${p}room:${id}`);
        await c.entryCommit(`${p}room:${id}`, `${p}events:${id}`, String(k), MEMBER);
        await (sharded ? (c as Cluster).spublish(`${p}events`, EVENT) : c.publish(`${p}events`, EVENT));
        done++;
      }
    }),
  );
  return done / (ms / 1000);
}

/** The bare client's entries/s on one Redis (under `prefix`) and on the Cluster, alternating slices of `seconds`. */
export async function bareClientRates(redisUrl: string, clusterSeeds: string, prefix: string, inFlight: number, seconds: number, slices = 3): Promise<{ redis: number; cluster: number }> {
  const one = prepared(new Redis(redisUrl, { enableAutoPipelining: true }));
  const seeds = clusterSeeds.split(',').map((s) => ({ host: s.split(':')[0]!, port: Number(s.split(':')[1]) }));
  const rc = prepared(new Cluster(seeds, { enableAutoPipelining: true, scaleReads: 'master' }));
  try {
    await Promise.all([one.ping(), rc.ping()]);
    const oneSlices = singleSlice(`${prefix}one:`);
    const rcSlices = clusterSlices(`${prefix}rc:`);
    await one.hset(`${oneSlices.global}apps`, 'bench', MEMBER);
    await rc.hset(`${rcSlices.global}apps`, 'bench', MEMBER);
    // Warm-up: scripts loaded, JIT, connections to every master.
    await rate(one, oneSlices, false, inFlight, 1_000);
    await rate(rc, rcSlices, true, inFlight, 1_000);
    const sums = { redis: 0, cluster: 0 };
    for (let i = 0; i < slices; i++) {
      sums.redis += await rate(one, oneSlices, false, inFlight, (seconds * 1000) / slices);
      sums.cluster += await rate(rc, rcSlices, true, inFlight, (seconds * 1000) / slices);
    }
    return { redis: sums.redis / slices, cluster: sums.cluster / slices };
  } finally {
    one.disconnect();
    rc.disconnect();
  }
}
