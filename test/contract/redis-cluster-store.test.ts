// The Redis store on a private Redis Cluster (three masters, a replica each): the same store and
// outbox contracts as on one Redis, every room's keys in its slice's slot (one script never crosses
// slots: Redis would refuse it), and the rooms of a deployment spread over the three masters.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from 'ioredis';
import { RedisStore } from '../../src/store/redis/store.ts';
import { connectCluster, redisReady } from '../../src/store/redis/connection.ts';
import { clusterSlices, CLUSTER_SLICES } from '../../src/store/redis/slices.ts';
import { drawRoomIdsWith, entry, sharedStoreContract, storeContract, type StoreFactoryOptions } from './store-contract.ts';
import { outboxContract } from './outbox-contract.ts';
import { uniquePrefix } from '../helpers/redis.ts';
import { redisClusterSkip, startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.ts';

const skip = await redisClusterSkip();
let cluster: RedisCluster | undefined;
const clients: Cluster[] = [];

before(async () => {
  if (skip) return;
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
});
after(async () => {
  for (const c of clients) c.disconnect();
  await cluster?.stop();
});

// Every slice has the same tags whatever the prefix: rooms of any test draw their ids alike.
drawRoomIdsWith((appId, roomUuid) => clusterSlices('x:').newRoomId(appId, roomUuid));

async function connect(): Promise<Cluster> {
  const seeds = cluster!.seeds.split(',').map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) }));
  const c = connectCluster(seeds);
  clients.push(c);
  await redisReady(c);
  return c;
}

async function storeOn(prefix: string, opts: StoreFactoryOptions = {}): Promise<RedisStore> {
  return new RedisStore({ redis: await connect(), prefix, slices: clusterSlices(prefix), ownsClient: true, ...opts });
}

storeContract('redis cluster', (opts) => storeOn(uniquePrefix(), opts), { skip });
outboxContract('redis cluster', () => storeOn(uniquePrefix()), { skip });
sharedStoreContract(
  'redis cluster two nodes',
  async () => {
    const prefix = uniquePrefix();
    return [await storeOn(prefix), await storeOn(prefix)];
  },
  { skip },
);

test('redis cluster: the keys of 1,000 rooms spread over the three masters, each room in one slot', { skip }, async (t) => {
  const prefix = uniquePrefix();
  const s = await storeOn(prefix);
  const slices = clusterSlices(prefix);
  for (let i = 0; i < 1000; i += 100) {
    await Promise.all(
      Array.from({ length: 100 }, async (_, k) => {
        const a = entry(null, 'spread', `room-${i + k}`, 'ann');
        assert.deepEqual(await s.commit(a.next, a.expected, a.events), { ok: true });
      }),
    );
  }
  const masters = await cluster!.masters();
  const counts = await Promise.all(
    masters.map(async (m) => {
      const node = (await connect()).nodes('master').find((n) => n.options.port === m.port)!;
      let rooms = 0;
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*room:*`, 'COUNT', 1000);
        rooms += keys.length;
        cursor = next;
      } while (cursor !== '0');
      return rooms;
    }),
  );
  t.diagnostic(`rooms per master: ${counts.join(', ')} (${CLUSTER_SLICES} slices)`);
  assert.equal(counts.reduce((a, b) => a + b, 0), 1000);
  for (const n of counts) assert.ok(n >= 250 && n <= 420, `each master holds about a third: ${counts.join(', ')}`);
  assert.equal((await s.listRooms({ appId: 'spread', prefix: '', offset: 990, limit: 20, activeOnly: false })).rooms.length, 10, 'a page across the slices');
  assert.equal((await s.activeRoomIds()).length, 1000);
  assert.equal(slices.prefixes.length, CLUSTER_SLICES);
  await s.close();
});
