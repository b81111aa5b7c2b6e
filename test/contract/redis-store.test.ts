// The Redis store against a real Redis: the shared contract on the server at 127.0.0.1:6379 (each
// store under its own key prefix), and outages on a private redis-server this file kills.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { RedisStore } from '../../src/store/redis/store.ts';
import { connectRedis, redisReady } from '../../src/store/redis/connection.ts';
import { StoreUnavailableError } from '../../src/store/store.ts';
import { decide, RuleError } from '../../src/domain/rules.ts';
import type { Room } from '../../src/domain/room.ts';
import type { LoggedEvent } from '../../src/domain/events.ts';
import { sharedStoreContract, storeContract, type StoreFactoryOptions } from './store-contract.ts';
import { outboxContract } from './outbox-contract.ts';
import { appFor, created, joined } from '../helpers/rooms.ts';
import { prefixesRemovedAfter, redisServerSkip, redisSkip, SHARED_REDIS_URL, startRedisServer } from '../helpers/redis.ts';

const skip = await redisSkip();
const newPrefix = prefixesRemovedAfter(skip);

async function storeOn(url: string, prefix: string, opts: StoreFactoryOptions = {}): Promise<RedisStore> {
  const redis = connectRedis(url);
  await redisReady(redis);
  return new RedisStore({ redis, prefix, ownsClient: true, ...opts });
}


storeContract('redis', (opts) => storeOn(SHARED_REDIS_URL, newPrefix(), opts), { skip });
outboxContract('redis', () => storeOn(SHARED_REDIS_URL, newPrefix()), { skip });

// Two nodes: two connections, one prefix.
sharedStoreContract(
  'redis two nodes',
  async () => {
    const p = newPrefix();
    return [await storeOn(SHARED_REDIS_URL, p), await storeOn(SHARED_REDIS_URL, p)];
  },
  { skip },
);

test('redis: keys stay under the prefix, and a store shares a client with other users', { skip }, async () => {
  const redis = connectRedis(SHARED_REDIS_URL);
  await redisReady(redis);
  const p = newPrefix();
  const s1 = new RedisStore({ redis, prefix: p });
  const s2 = new RedisStore({ redis, prefix: `${p}other:` });
  const a = created('app1', 'k');
  await s1.commit(a.room, 0, a.events);
  await s1.putApp(appFor('x'));
  await s1.setMetaIfAbsent('m', 'v');
  // Same client, another prefix: another deployment.
  assert.equal(await s2.findRunningRoom('app1', 'k'), null);
  assert.equal(await s2.getMeta('m'), null);
  const [, keys] = await redis.scan('0', 'MATCH', `${p}*`, 'COUNT', 10_000);
  assert.ok(keys.length > 0);
  await s1.close();
  // The store did not own the client: it still works.
  assert.equal(await redis.ping(), 'PONG');
  await redis.quit();
});

test('redis: a purge leaves no key of the meetings it deleted, and the index of ended meetings empty', { skip }, async () => {
  const redis = connectRedis(SHARED_REDIS_URL);
  await redisReady(redis);
  const p = newPrefix();
  const s = new RedisStore({ redis, prefix: p });
  try {
    const keep = created('app1', 'keep');
    await s.commit(keep.room, 0, keep.events);
    const before = new Set(await keysUnder(redis, p));
    const gone = await endedAt(s, created('app1', 'gone'), 5000);
    assert.ok((await keysUnder(redis, p)).some((k) => k.endsWith(gone.roomId)));
    assert.deepEqual(await redis.zrange(`${p}ended`, 0, -1, 'WITHSCORES'), [gone.roomId, '5000']);
    assert.equal(await s.purgeEnded(5000, 10), 1);
    // Only the meta flag of the one-time indexing (below) is new; the running meeting is whole.
    assert.deepEqual((await keysUnder(redis, p)).filter((k) => !before.has(k)), [`${p}meta`]);
    assert.equal(await redis.exists(`${p}ended`), 0);
    assert.deepEqual(await s.loadRoom(keep.room.roomId), keep.room);
  } finally {
    await s.close();
    await redis.quit();
  }
});

test('redis: meetings ended before the ended index existed are indexed once, then purged', { skip }, async () => {
  const redis = connectRedis(SHARED_REDIS_URL);
  await redisReady(redis);
  const p = newPrefix();
  try {
    const writer = new RedisStore({ redis, prefix: p });
    const old = await endedAt(writer, created('app1', 'old'), 3000);
    const older = await endedAt(writer, created('app1', 'older'), 2000);
    const running = created('app1', 'running');
    await writer.commit(running.room, 0, running.events);
    // As the previous release left them: ended, in no index.
    await redis.del(`${p}ended`);
    const s = new RedisStore({ redis, prefix: p });
    assert.equal(await s.purgeEnded(2500, 10), 1);
    assert.equal(await s.loadRoom(older.roomId), null);
    assert.deepEqual(await s.loadRoom(old.roomId), old);
    assert.equal(await redis.hget(`${p}meta`, 'endedIndexed'), '1');
    assert.equal(await s.purgeEnded(3000, 10), 1);
    assert.equal(await s.loadRoom(old.roomId), null);
    assert.deepEqual(await s.loadRoom(running.room.roomId), running.room);
  } finally {
    await redis.quit();
  }
});

async function endedAt(s: RedisStore, r: { room: Room; events: LoggedEvent[] }, at: number): Promise<Room> {
  assert.deepEqual(await s.commit(r.room, 0, r.events), { ok: true });
  const d = decide(r.room, { type: 'close', emptySinceAtMost: null }, at);
  if (d instanceof RuleError) throw d;
  const events = d.events.map((event, i) => ({ seq: r.room.seq + 1 + i, at, event }));
  d.room.version = r.room.version + 1;
  d.room.seq = r.room.seq + events.length;
  assert.deepEqual(await s.commit(d.room, r.room.version, events), { ok: true });
  return d.room;
}

async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, page] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    keys.push(...page);
    cursor = next;
  } while (cursor !== '0');
  return keys.sort();
}

const serverSkip = skip ?? (await redisServerSkip());

test('redis: unavailable at once while Redis is down, working again when it is back', { skip: serverSkip }, async (t) => {
  const server = await startRedisServer({ appendfsync: 'always' });
  t.after(() => server.dispose());
  const store = await storeOn(server.url, 'outage:');
  t.after(() => store.close());
  const a = created('app1', 'outage');
  assert.deepEqual(await store.commit(a.room, 0, a.events), { ok: true });

  await server.kill();
  const second = joined(a.room, 'bob');
  const calls: [string, () => Promise<unknown>][] = [
    ['ping', () => store.ping()],
    ['loadRoom', () => store.loadRoom(a.room.roomId)],
    ['findRunningRoom', () => store.findRunningRoom('app1', 'outage')],
    ['commit', () => store.commit(second.room, 1, second.events)],
    ['eventsSince', () => store.eventsSince(a.room.roomId, 0, 10)],
    ['getApp', () => store.getApp('x')],
  ];
  for (const [name, call] of calls) {
    const started = Date.now();
    await assert.rejects(call(), (err: unknown) => {
      assert.ok(err instanceof StoreUnavailableError, `${name}: ${String(err)}`);
      assert.ok(err.cause instanceof Error, `${name} keeps the cause`);
      return true;
    });
    assert.ok(Date.now() - started < 1000, `${name} failed within a second`);
  }

  await server.restart();
  await eventually(() => store.ping());
  // The same store works again; a fresh one (no cache) finds what was written before the crash.
  assert.deepEqual(await store.commit(second.room, 1, second.events), { ok: true });
  const fresh = await storeOn(server.url, 'outage:');
  t.after(() => fresh.close());
  assert.deepEqual(await fresh.loadRoom(a.room.roomId), second.room);
});

test('redis: a commit in flight when Redis dies fails as unavailable and is never sent again', { skip: serverSkip }, async (t) => {
  const server = await startRedisServer({ appendfsync: 'always' });
  t.after(() => server.dispose());
  const store = await storeOn(server.url, 'inflight:');
  t.after(() => store.close());
  const control = connectRedis(server.url);
  t.after(() => control.disconnect());
  await redisReady(control);
  const a = created('app1', 'inflight');
  await store.commit(a.room, 0, a.events);

  // Redis holds the next commit unanswered; then it dies.
  await control.call('CLIENT', 'PAUSE', '10000', 'WRITE');
  const second = joined(a.room, 'bob');
  let settled = false;
  const outcome = store.commit(second.room, 1, second.events).then(
    (r) => r,
    (err: unknown) => err,
  );
  void outcome.then(() => (settled = true));
  await sleep(100);
  assert.equal(settled, false, 'the commit waits for Redis');
  await server.kill();
  assert.ok((await outcome) instanceof StoreUnavailableError);

  await server.restart();
  await eventually(() => store.ping());
  await sleep(200);
  // Had the client re-sent the commit after reconnecting, version 2 would be stored.
  const fresh = await storeOn(server.url, 'inflight:');
  t.after(() => fresh.close());
  assert.equal((await fresh.loadRoom(a.room.roomId))?.version, 1);
  // The retry the service makes re-decides on the stored state and succeeds.
  assert.deepEqual(await store.commit(second.room, 1, second.events), { ok: true });
});

async function eventually(fn: () => Promise<unknown>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fn();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
