// The Redis store through Sentinel (a private primary, replica and three Sentinels): the same store
// contract as on one Redis, with every write confirmed by the replica (CONVENE_REDIS_MIN_REPLICAS=1);
// and a write no replica confirms is refused with the retryable error, never acknowledged.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisStore } from '../../src/store/redis/store.ts';
import { connectRedis, redisReady } from '../../src/store/redis/connection.ts';
import { StoreUnavailableError } from '../../src/store/store.ts';
import { RedisBoardLog } from '../../src/board/redis.ts';
import { ReplicaWaits } from '../../src/store/redis/replicas.ts';
import { singleSlice } from '../../src/store/redis/slices.ts';
import type { RedisTarget } from '../../src/store/redis/target.ts';
import { entry, sharedStoreContract, storeContract, type StoreFactoryOptions } from './store-contract.ts';
import { redisServerSkip, startRedisServer, uniquePrefix, type RedisServer } from '../helpers/redis.ts';
import { SENTINEL_MASTER, startSentinelSet, type SentinelSet } from '../helpers/sentinel.ts';

const skip = await redisServerSkip();
let set: SentinelSet | undefined;
let target: RedisTarget;

before(async () => {
  if (skip) return;
  set = await startSentinelSet(1);
  target = { kind: 'sentinel', sentinels: set.sentinels.split(',').map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) })), master: SENTINEL_MASTER };
});
after(async () => set?.dispose());

async function storeOn(t: RedisTarget | string, opts: StoreFactoryOptions & { replicaTimeoutMs?: number } = {}, prefix = uniquePrefix()): Promise<RedisStore> {
  const redis = connectRedis(t);
  await redisReady(redis);
  return new RedisStore({ redis, prefix, ownsClient: true, minReplicas: 1, replicaTimeoutMs: 2_000, ...opts });
}

storeContract('redis sentinel', (opts) => storeOn(target, opts), { skip });
sharedStoreContract(
  'redis sentinel two nodes',
  async () => {
    // Two nodes: a connection each, one prefix.
    const prefix = uniquePrefix();
    return [await storeOn(target, {}, prefix), await storeOn(target, {}, prefix)];
  },
  { skip },
);

test('min replicas: a commit (or a board op) no replica confirms is refused as retryable, and the next ones fail fast', { skip }, async () => {
  const lone: RedisServer = await startRedisServer({ appendonly: false });
  const s = await storeOn(lone.url, { replicaTimeoutMs: 400 });
  try {
    const a = entry(null, 'app1', 'lonely', 'ann');
    const t0 = Date.now();
    await assert.rejects(s.commit(a.next, a.expected, a.events), (e: unknown) => e instanceof StoreUnavailableError && /replicas CONVENE_REDIS_MIN_REPLICAS asks for/.test(e.message));
    const first = Date.now() - t0;
    assert.ok(first >= 350, `waited for the replica (${first} ms)`);
    const b = entry(null, 'app1', 'lonely-2', 'bob');
    const t1 = Date.now();
    await assert.rejects(s.commit(b.next, b.expected, b.events), StoreUnavailableError);
    assert.ok(Date.now() - t1 < 300, `while no replica answers, a write is refused at once (${Date.now() - t1} ms)`);
    await assert.rejects(s.reserveUids('app1', 2), StoreUnavailableError, 'uid blocks are confirmed too');
    // A whiteboard op likewise (its log is apart from the meeting's, on a connection of its own).
    const redis = connectRedis(lone.url);
    await redisReady(redis);
    const board = new RedisBoardLog(redis, singleSlice(uniquePrefix()), new ReplicaWaits(redis, 1, 300));
    const stroke = { id: 's1', color: '#000', width: 2, points: [[0, 0], [1, 1]] as [number, number][] };
    await assert.rejects(board.append('r1', { op: 'draw', stroke, by: 'u1', at: 1 }, 100), StoreUnavailableError, 'board ops are confirmed too');
    redis.disconnect();
  } finally {
    await s.close();
    await lone.dispose();
  }
});
