// The Redis Cluster test helper itself: a private 3-master, 3-replica cluster spreads keys over every
// master, and when the master of slot 0 is killed a replica takes its slots over and the cluster
// client writes there again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, Redis } from 'ioredis';
import { redisClusterSkip, startRedisCluster } from '../helpers/redis-cluster.ts';

const skip = await redisClusterSkip();

async function onNode<T>(port: number, use: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await r.connect();
    return await use(r);
  } finally {
    r.disconnect();
  }
}

/** Retries `fn` until it succeeds: the client learns the new slot owner on its own time. */
async function eventually<T>(fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test('a private Redis Cluster spreads keys over its masters and fails over a killed one', { skip, timeout: 60_000 }, async (t) => {
  let at = Date.now();
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  t.after(() => cluster.stop());
  t.diagnostic(`cluster started in ${Date.now() - at} ms on ports ${cluster.ports.join(', ')}`);
  assert.equal(cluster.ports.length, 6);

  const client = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0]! }], {
    redisOptions: { connectTimeout: 1_000, maxRetriesPerRequest: 1 },
    clusterRetryStrategy: () => 100,
  });
  t.after(() => client.disconnect());

  const keys = Array.from({ length: 300 }, (_, i) => `{k${i}}x`);
  await Promise.all(keys.map((k) => client.set(k, k)));
  const masters = await cluster.masters();
  assert.equal(masters.length, 3);
  assert.deepEqual(masters.map((m) => m.port), cluster.ports.slice(0, 3), 'seeds name the masters first');
  const counts = await Promise.all(masters.map((m) => onNode(m.port, (r) => r.dbsize())));
  assert.ok(counts.every((n) => n > 0), `every master holds keys: ${counts.join(', ')}`);
  assert.equal(counts.reduce((a, b) => a + b, 0), keys.length);

  const victim = await cluster.masterOfSlot(0);
  const [, end] = masters.find((m) => m.port === victim)!.slots[0]!;
  const slotOf = async (k: string) => Number(await client.cluster('KEYSLOT', k));
  const inRange: string[] = [];
  for (const k of keys) if ((await slotOf(k)) <= end) inRange.push(k);
  assert.ok(inRange.length > 0);
  // A write acknowledged by the replica survives the failover; WAIT makes sure it was.
  assert.equal(await onNode(victim, (r) => r.call('WAIT', '1', '2000')), 1);

  at = Date.now();
  await cluster.killMaster(victim);
  const { newMasterPort, tookMs } = await cluster.waitForFailover(victim);
  t.diagnostic(`failover of ${victim} to ${newMasterPort} took ${tookMs} ms`);
  assert.notEqual(newMasterPort, victim);
  assert.equal(await cluster.masterOfSlot(0), newMasterPort);

  const key = inRange[0]!;
  assert.equal(await eventually(() => client.get(key), 5_000), key);
  await eventually(() => client.set(key, 'after failover'), 5_000);
  assert.equal(await client.get(key), 'after failover');
  assert.equal(await onNode(newMasterPort, (r) => r.get(key)), 'after failover');
  t.diagnostic(`the client wrote to slot ${await slotOf(key)} again ${Date.now() - at} ms after the kill`);
});
