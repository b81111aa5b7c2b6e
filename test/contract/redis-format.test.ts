// The store format on Redis (src/store/redis/format.ts): a deployment is marked with the format it
// holds, a newer or unknown one is refused by name, a room written in a newer format is refused
// before anything of it is read or written, one written before the marker is read as format 1, and
// a newer node's bus messages are not read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisStore } from '../../src/store/redis/store.ts';
import { RedisBus } from '../../src/bus/redis.ts';
import { connectRedis, redisReady } from '../../src/store/redis/connection.ts';
import { StoreFormatError } from '../../src/store/redis/format.ts';
import { StoreUnavailableError } from '../../src/store/store.ts';
import { appFor, created, joined } from '../helpers/rooms.ts';
import { prefixesRemovedAfter, redisSkip, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { until } from '../helpers/frames.ts';

const skip = await redisSkip();
const newPrefix = prefixesRemovedAfter(skip);

async function open(): Promise<{ store: RedisStore; prefix: string }> {
  const prefix = newPrefix();
  const redis = connectRedis(SHARED_REDIS_URL);
  await redisReady(redis);
  return { store: new RedisStore({ redis, prefix, ownsClient: true }), prefix };
}

test('redis format: a deployment is marked 1; a newer, older or unknown marker is refused by name', { skip }, async () => {
  const { store, prefix } = await open();
  await store.checkFormat('here');
  assert.equal(await store.getMeta('format'), '1');
  const redis = connectRedis(SHARED_REDIS_URL);
  await redisReady(redis);
  try {
    const refusals: [string, RegExp][] = [
      ['2', /^here is in store format 2, written by a newer Convene; this release reads formats 1 to 1: upgrade this node/],
      ['x', /^here is in store format x, written by a newer Convene/],
      ['0', /^here is in store format 0, older than this release reads \(1 to 1\): upgrade through the releases in between$/],
    ];
    for (const [marker, message] of refusals) {
      await redis.hset(`${prefix}meta`, 'format', marker);
      await assert.rejects(store.checkFormat('here'), (err: Error) => err instanceof StoreFormatError && message.test(err.message));
    }
  } finally {
    redis.disconnect();
    await store.close();
  }
});

test('redis format: a room written in a newer format is refused as unavailable, never read or overwritten; one written before the marker reads as 1', { skip }, async () => {
  const { store, prefix } = await open();
  const redis = connectRedis(SHARED_REDIS_URL);
  await redisReady(redis);
  try {
    await store.putApp(appFor('fmt'));
    const a = created('fmt', 'k');
    assert.deepEqual(await store.commit(a.room, 0, a.events), { ok: true });
    const key = `${prefix}room:${a.room.roomId}`;
    assert.equal(await redis.hget(key, 'f'), '1', 'a commit names its format');

    // As the previous release wrote it: no marker. Read and written on as format 1.
    await redis.hdel(key, 'f');
    const other = new RedisStore({ redis, prefix });
    assert.equal((await other.loadRoom(a.room.roomId))?.version, 1);
    const b = joined(a.room, 'bob');
    assert.deepEqual(await other.commit(b.room, 1, b.events), { ok: true });
    assert.equal(await redis.hget(key, 'f'), '1');

    // Written by a newer release: every call on it is refused, naming the room and the format.
    await redis.hset(key, 'f', '2');
    const before = await redis.hgetall(key);
    const fresh = new RedisStore({ redis, prefix });
    const refused = (err: Error) => err instanceof StoreFormatError && err instanceof StoreUnavailableError && err.message.startsWith(`room ${a.room.roomId} is in store format 2`);
    await assert.rejects(fresh.loadRoom(a.room.roomId), refused);
    await assert.rejects(store.loadRoom(a.room.roomId), refused, 'also for a store holding the room in its cache');
    await assert.rejects(fresh.findRunningRoom('fmt', 'k'), (err: Error) => err instanceof StoreFormatError && /^the running room k of app fmt is in store format 2/.test(err.message));
    const c = joined(b.room, 'cat');
    await assert.rejects(store.commit(c.room, 2, c.events), refused);
    assert.deepEqual(await redis.hgetall(key), before, 'nothing of it was written');
    assert.equal((await store.eventsSince(a.room.roomId, 0, 100)).events.length, a.events.length + b.events.length);
  } finally {
    redis.disconnect();
    await store.close();
  }
});

test('redis format: bus messages name their format; a newer node\'s are not read (said once), older ones without a format are', { skip }, async () => {
  const prefix = uniquePrefix();
  const conns = await Promise.all([0, 1, 2].map(async () => {
    const r = connectRedis(SHARED_REDIS_URL);
    await redisReady(r);
    return r;
  }));
  const [pub, sub, raw] = conns as [ReturnType<typeof connectRedis>, ReturnType<typeof connectRedis>, ReturnType<typeof connectRedis>];
  const errors: string[] = [];
  const bus = new RedisBus({ pub, sub, prefix, nodeId: 'me', onError: (err) => errors.push((err as Error).message) });
  const got: string[] = [];
  bus.subscribe((roomId) => got.push(roomId));
  try {
    await bus.start();
    const seen: string[] = [];
    const watcher = connectRedis(SHARED_REDIS_URL);
    await redisReady(watcher);
    watcher.on('message', (_c: string, text: string) => seen.push(text));
    await watcher.subscribe(`${prefix}events`);
    bus.publish('mine', []);
    await until(() => seen.length === 1, 'the publish reached Redis', 2_000);
    assert.equal(JSON.parse(seen[0]!).v, 1, 'a message names the format it is in');
    watcher.disconnect();

    for (const v of [2, 3]) await raw.publish(`${prefix}events`, JSON.stringify({ v, n: 'newer', r: `newer-${v}`, e: [] }));
    await raw.publish(`${prefix}events`, JSON.stringify({ n: 'older', r: 'older', e: [] }));
    await raw.publish(`${prefix}events`, JSON.stringify({ v: 1, n: 'same', r: 'same', e: [] }));
    await until(() => got.includes('same'), 'the readable messages arrived', 2_000);
    assert.deepEqual(got, ['mine', 'older', 'same']);
    assert.equal(errors.filter((e) => /store format 2 from a newer node are not read/.test(e)).length, 1, `said once: ${errors.join(' | ')}`);
  } finally {
    await bus.close();
    for (const c of conns) c.disconnect();
  }
});
