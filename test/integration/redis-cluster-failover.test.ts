// A Redis Cluster (three masters, two replicas each) under write load from two Convene nodes, and the
// master of slot 0 (the deployment's global keys and a third of its rooms) SIGKILLed after its
// replicas lagged: with CONVENE_REDIS_MIN_REPLICAS=1 each write waits for a replica of its own master,
// so nothing acknowledged is lost; the nodes follow the new slot map by themselves, every room's log
// is gap-free and the same on every socket, and no member leaves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { redisClusterSkip, startRedisCluster } from '../helpers/redis-cluster.ts';
import { failoverUnderLoad } from '../helpers/failover.ts';

const skip = await redisClusterSkip();

/** `fn` on a fresh connection to one node. */
async function onNode<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

test('a Cluster master SIGKILLed under load with CONVENE_REDIS_MIN_REPLICAS=1: nothing acknowledged lost, logs gap-free and identical, no member leaves', { skip, timeout: 180_000 }, async (t) => {
  // Two replicas per master: after the failover one is left to confirm the promoted master's writes.
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 2 });
  t.after(() => cluster.stop());
  const victim = await cluster.masterOfSlot(0);
  const replicas = await onNode(victim, async (r) => [...(await r.info('replication')).matchAll(/^slave\d+:ip=[^,]+,port=(\d+)/gm)].map((m) => Number(m[1])));
  assert.equal(replicas.length, 2, 'the victim has its two replicas');
  const target = {
    env: { REDIS_CLUSTER_NODES: cluster.seeds },
    // As with Sentinel: the replicas cannot authenticate to their master until resume().
    lag: async () => {
      for (const p of replicas) await onNode(p, (r) => r.config('SET', 'masterauth', 'not-the-password'));
      await onNode(victim, (r) => r.client('KILL', 'TYPE', 'replica'));
    },
    resume: async () => {
      for (const p of replicas) await onNode(p, (r) => r.config('SET', 'masterauth', ''));
    },
    kill: () => cluster.killMaster(victim),
    promoted: async () => {
      const { newMasterPort, tookMs } = await cluster.waitForFailover(victim);
      t.diagnostic(`replica ${newMasterPort} serves the killed master's slots ${tookMs} ms after the kill`);
    },
  };
  const r = await failoverUnderLoad(t, target, 1);
  assert.ok(r.resumedMs <= 10_000, `service resumed within 10 s of the kill (${r.resumedMs} ms)`);
  assert.deepEqual(r.lost, [], `0 of ${r.acked} acknowledged writes lost`);
  assert.deepEqual(r.problems, []);
});
