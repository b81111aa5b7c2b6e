// The presence directory's contract, in-process, in Redis and on a Redis Cluster (each room's
// presence in its slice); and, in Redis, what only a cluster has: sockets of one member on two
// nodes, one claim per expiry among racing nodes, and a node that stops heartbeating, whose sockets
// the others drop.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { PresenceDirectory } from '../../src/presence/directory.ts';
import { LocalDirectory } from '../../src/presence/local.ts';
import { RedisDirectory } from '../../src/presence/redis.ts';
import { connectCluster, connectRedis, redisReady, type RedisClient } from '../../src/store/redis/connection.ts';
import { clusterSlices } from '../../src/store/redis/slices.ts';
import { cleanupPrefix, redisSkip, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { redisClusterSkip, startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const GRACE = 150;
const skip = await redisSkip();
const clusterSkip = await redisClusterSkip();

const admin = skip ? null : new Redis(SHARED_REDIS_URL);
const prefixes: string[] = [];
const clients: RedisClient[] = [];
let cluster: RedisCluster | undefined;
before(async () => {
  if (!clusterSkip) cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
});
after(async () => {
  for (const c of clients) c.disconnect();
  if (admin) {
    for (const p of prefixes) await cleanupPrefix(admin, p);
    admin.disconnect();
  }
  await cluster?.stop();
});

/** Where the directories live: one Redis (one slice), or a Redis Cluster (its slices). */
type Backend = 'redis' | 'cluster';

async function redisNode(backend: Backend, prefix: string, nodeId: string, nodeTimeoutMs = 300) {
  const redis = backend === 'redis' ? connectRedis(SHARED_REDIS_URL) : connectCluster(cluster!.seeds.split(',').map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) })));
  clients.push(redis);
  await redisReady(redis);
  const slices = backend === 'cluster' ? clusterSlices(prefix) : undefined;
  return { redis, slices, dir: new RedisDirectory({ redis, prefix, slices, nodeId, graceMs: GRACE, nodeTimeoutMs }) };
}

async function redisDirectory(backend: Backend): Promise<PresenceDirectory> {
  const prefix = uniquePrefix();
  prefixes.push(prefix);
  const { dir } = await redisNode(backend, prefix, 'n1');
  await dir.start();
  return dir;
}

function contract(name: string, make: () => Promise<PresenceDirectory>, opts: { skip?: string } = {}) {
  const withDir = (title: string, fn: (d: PresenceDirectory) => Promise<void>) =>
    test(`${name}: ${title}`, opts, async () => {
      const d = await make();
      try {
        await fn(d);
      } finally {
        await d.stop();
      }
    });

  withDir('a member whose last socket closed is claimed once after the grace period', async (d) => {
    await d.opened('r', 'u', 's1');
    await d.opened('r', 'u', 's2');
    assert.equal(await d.socketCount('r', 'u'), 2, 'both sockets counted');
    assert.equal(await d.socketCount('r', 'other'), 0);
    await d.closed('r', 'u', 's1');
    assert.equal(await d.socketCount('r', 'u'), 1);
    await sleep(GRACE + 50);
    assert.deepEqual(await d.claimExpired(10_000), [], 'one socket is still open');
    await d.closed('r', 'u', 's2');
    assert.deepEqual(await d.claimExpired(10_000), [], 'inside the grace period');
    await sleep(GRACE + 50);
    const due = await d.claimExpired(10_000);
    assert.deepEqual(due.map((x) => [x.roomId, x.userId]), [['r', 'u']]);
    assert.deepEqual(await d.claimExpired(10_000), [], 'claimed once');
    await d.settle(due[0]!);
  });

  withDir('coming back within the grace period cancels it; an unsettled claim is offered again', async (d) => {
    await d.opened('r', 'a', 's1');
    await d.closed('r', 'a', 's1');
    await d.opened('r', 'a', 's2');
    await sleep(GRACE + 50);
    assert.deepEqual(await d.claimExpired(10_000), []);
    await d.away('r', 'b', false);
    await sleep(GRACE + 50);
    const first = await d.claimExpired(100);
    assert.deepEqual(first.map((x) => x.userId), ['b']);
    await sleep(150);
    const again = await d.claimExpired(10_000);
    assert.deepEqual(again.map((x) => x.userId), ['b'], 'the lease ran out: offered again');
    await d.settle(first[0]!); // a stale claim: settling it must not end the current one
    await sleep(10);
    assert.deepEqual(await d.claimExpired(10_000), [], 'still leased to the second claimer');
    await d.settle(again[0]!);
    await sleep(10);
    assert.deepEqual(await d.claimExpired(0), [], 'settled');
  });

  withDir('away with keep does not move a running grace period; a new grace period after a claim survives its settle', async (d) => {
    await d.away('r', 'k', false);
    await sleep(GRACE / 2);
    await d.away('r', 'k', true);
    await sleep(GRACE / 2 + 50);
    const due = await d.claimExpired(10_000);
    assert.deepEqual(due.map((x) => x.userId), ['k'], 'keep: the first deadline holds');
    await d.away('r', 'k', false); // activity after the claim starts a fresh period
    await d.settle(due[0]!);
    await sleep(GRACE + 50);
    assert.deepEqual((await d.claimExpired(10_000)).map((x) => x.userId), ['k'], 'the fresh period was kept');
  });
}

contract('local', async () => new LocalDirectory(GRACE));
contract('redis', () => redisDirectory('redis'), { skip });
contract('redis cluster', () => redisDirectory('cluster'), { skip: clusterSkip });

for (const backend of ['redis', 'cluster'] as const) {
  const name = backend === 'redis' ? 'redis' : 'redis cluster';
  const opts = { skip: backend === 'redis' ? skip : clusterSkip };
  // Members of several rooms: on a Cluster, their presence is in several slices.
  const room = (i: number) => `r${i % 7}`;

  test(`${name}: a member moving between nodes stays; racing nodes claim each expiry once`, opts, async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const n1 = (await redisNode(backend, prefix, 'n1')).dir;
    const n2 = (await redisNode(backend, prefix, 'n2')).dir;
    await Promise.all([n1.start(), n2.start()]);
    await n1.opened('r', 'm', 'a');
    await n2.opened('r', 'm', 'b');
    assert.deepEqual([await n1.socketCount('r', 'm'), await n2.socketCount('r', 'm')], [2, 2], 'each node counts both nodes’ sockets');
    await n1.closed('r', 'm', 'a');
    await sleep(GRACE + 50);
    assert.deepEqual([...(await n1.claimExpired(10_000)), ...(await n2.claimExpired(10_000))], [], 'its socket on n2 holds it');
    for (let i = 0; i < 40; i++) await n1.away(room(i), `x${i}`, false);
    await sleep(GRACE + 50);
    const claims = (await Promise.all([n1, n2, n1, n2].map((d) => d.claimExpired(10_000)))).flat();
    assert.equal(claims.length, 40, 'every expiry claimed');
    assert.equal(new Set(claims.map((c) => c.userId)).size, 40, 'by exactly one claimer each');
    await Promise.all([n1.stop(), n2.stop()]);
  });

  test(`${name}: a node that stops heartbeating is reaped by another; its members leave unless they moved`, opts, async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const dead = await redisNode(backend, prefix, 'dead', 300);
    const live = await redisNode(backend, prefix, 'live', 300);
    await Promise.all([dead.dir.start(), live.dir.start()]);
    for (let i = 0; i < 7; i++) {
      await dead.dir.opened(room(i), 'stays', 's1');
      await dead.dir.opened(room(i), 'goes', 's2');
    }
    // The node vanishes: its connection drops, nothing is cleaned up.
    dead.redis.disconnect();
    for (let i = 0; i < 7; i++) await live.dir.opened(room(i), 'stays', 's3');
    await sleep(300 + 400 + GRACE + 100);
    const due = await live.dir.claimExpired(10_000);
    assert.deepEqual(due.map((x) => `${x.roomId}/${x.userId}`).sort(), Array.from({ length: 7 }, (_, i) => `${room(i)}/goes`).sort(), 'only the members with no socket left anywhere');
    const registries = (live.slices?.prefixes ?? [prefix]).map((p) => `${p}presence:nodes`);
    const scores = await Promise.all(registries.map((key) => live.redis.zscore(key, 'dead')));
    assert.deepEqual(scores.filter((x) => x !== null), [], 'the dead node is gone from every registry');
    await live.dir.stop();
  });
}
