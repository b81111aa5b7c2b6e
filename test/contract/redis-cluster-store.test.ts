// The Redis store on a private Redis Cluster (three masters, a replica each): the same store and
// outbox contracts as on one Redis (every write confirmed by a replica of its master), every room's
// keys in its slice's slot (one script never crosses slots: Redis would refuse it), the rooms of a
// deployment spread over the three masters, and the buses' sharded channels.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from 'ioredis';
import { RedisStore } from '../../src/store/redis/store.ts';
import { connectCluster, redisReady } from '../../src/store/redis/connection.ts';
import calculateSlot from 'cluster-key-slot';
import { clusterSlices, CLUSTER_SLICES } from '../../src/store/redis/slices.ts';
import { drawRoomIdsWith, entry, sharedStoreContract, storeContract, type StoreFactoryOptions } from './store-contract.ts';
import { outboxContract } from './outbox-contract.ts';
import { RedisBus } from '../../src/bus/redis.ts';
import { until } from '../helpers/frames.ts';
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
  // Every write confirmed by a replica of its own master (WAIT on that master's connection).
  return new RedisStore({ redis: await connect(), prefix, slices: clusterSlices(prefix), ownsClient: true, minReplicas: 1, replicaTimeoutMs: 2_000, ...opts });
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

test('redis cluster: a room\'s events go over its slice\'s sharded channel, subscribed on its master only, and arrive at once', { skip }, async (t) => {
  const prefix = uniquePrefix();
  const slices = clusterSlices(prefix);
  const [pub, sub1, sub2] = await Promise.all([connect(), connect(), connect()]);
  const a = new RedisBus({ pub, sub: sub1, prefix, slices, nodeId: 'a' });
  const b = new RedisBus({ pub, sub: sub2, prefix, slices, nodeId: 'b' });
  const got = new Map<string, number>();
  b.subscribe((roomId) => got.set(roomId, Date.now()));
  await Promise.all([a.start(), b.start()]);
  try {
    const sent = new Map<string, number>();
    for (let i = 0; i < 50; i++) {
      const roomId = slices.newRoomId('bus', `room-${i}`);
      sent.set(roomId, Date.now());
      a.publish(roomId, []);
    }
    await until(() => got.size === 50, 'every room\'s message reached the other node', 2_000);
    const worst = Math.max(...[...sent].map(([id, at]) => got.get(id)! - at));
    t.diagnostic(`50 rooms' messages across nodes, the slowest in ${worst} ms`);
    assert.ok(worst < 500, `live, not the periodic resync (${worst} ms)`);

    // The channel of one room's slice: two subscribers on the master that owns its slot, none elsewhere.
    const roomId = [...sent.keys()][0]!;
    const channel = `${slices.ofRoom(roomId)}events`;
    const owner = await cluster!.masterOfSlot(calculateSlot(channel));
    const admin = await connect();
    const counts = await Promise.all(
      admin.nodes('master').map(async (node) => [node.options.port, Number(((await node.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number])[1])] as const),
    );
    assert.deepEqual(Object.fromEntries(counts.filter(([, n]) => n > 0)), { [owner]: 2 }, `subscribed on the owner only: ${JSON.stringify(counts)}`);
  } finally {
    await a.close();
    await b.close();
  }
});

test('redis cluster: buses started the moment their connections are ready subscribe every slice (ioredis connects its sharded subscribers a moment later)', { skip }, async () => {
  const prefix = uniquePrefix();
  const slices = clusterSlices(prefix);
  const seeds = cluster!.seeds.split(',').map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) }));
  const pub = await connect();
  // Not connect(): nothing awaited between a connection and its bus's start, as at a node's start.
  const subs = Array.from({ length: 8 }, () => connectCluster(seeds));
  clients.push(...subs);
  const buses = subs.map((sub, i) => new RedisBus({ pub, sub, prefix, slices, nodeId: `n${i}` }));
  const heard = buses.map(() => new Set<string>());
  buses.forEach((bus, i) => bus.subscribe((roomId) => heard[i]!.add(roomId)));
  try {
    await Promise.all(buses.map((bus) => bus.start()));
    const sender = new RedisBus({ pub, sub: await connect(), prefix, slices, nodeId: 'sender' });
    await sender.start();
    const rooms = slices.prefixes.map((_, k) => slices.newRoomId('bus', `ready-${k}`));
    for (const roomId of rooms) sender.publish(roomId, []);
    await until(() => heard.every((h) => rooms.every((r) => h.has(r))), 'every bus heard every slice', 5_000);
    await sender.close();
  } finally {
    for (const bus of buses) await bus.close();
  }
});
