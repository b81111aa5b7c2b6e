// The Redis store through Sentinel (a private primary, replica and three Sentinels): the same store
// contract as on one Redis, with every write confirmed by the replica (CONVENE_REDIS_MIN_REPLICAS=1);
// and a write no replica confirms is refused with the retryable error, never acknowledged.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisStore } from '../../src/store/redis/store.ts';
import { connectRedis, redisReady } from '../../src/store/redis/connection.ts';
import { StoreUnavailableError } from '../../src/store/store.ts';
import type { AuditEntry } from '../../src/domain/audit.ts';
import { RedisBoardLog } from '../../src/board/redis.ts';
import { ReplicaWaits } from '../../src/store/redis/replicas.ts';
import { singleSlice } from '../../src/store/redis/slices.ts';
import type { RedisTarget } from '../../src/store/redis/target.ts';
import { outboxFixtures } from './outbox-contract.ts';
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

test('min replicas: another node serves nothing the replicas lack (a room, its log, its audit log, a webhook row, a board op) until they have it', { skip }, async () => {
  const prefix = uniquePrefix();
  const writer = await storeOn(target, { replicaTimeoutMs: 300 }, prefix);
  const reader = await storeOn(target, { replicaTimeoutMs: 300 }, prefix);
  const { started, messages, rowsOf, setUp } = outboxFixtures;
  // The whiteboard's log likewise (a connection of each node's own, as in a node).
  const boards = await Promise.all(
    [0, 1].map(async () => {
      const redis = connectRedis(target);
      await redisReady(redis);
      return { redis, log: new RedisBoardLog(redis, singleSlice(prefix), new ReplicaWaits(redis, 1, 300)) };
    }),
  );
  const [drawer, viewer] = boards.map((b) => b.log) as [RedisBoardLog, RedisBoardLog];
  const stroke = (id: string) => ({ op: 'draw' as const, stroke: { id, color: '#000', width: 2, points: [[0, 0], [1, 1]] as [number, number][] }, by: 'u1', at: 1 });
  try {
    const { appId, outbox } = await setUp(writer);
    const a = started(appId, 'r');
    const id = a.room.roomId;
    // Each commit also appends to the meeting's audit log.
    const note = (n: number, seq: number): AuditEntry => ({ n, at: 1, seq, action: 'room.lock', actor: { kind: 'server', by: 'cli' }, target: null, before: {}, after: {} });
    a.room.audited = 1;
    assert.deepEqual(await writer.commit(a.room, 0, a.events, outbox(rowsOf('ep1', id, a.events)), [note(1, a.room.seq)]), { ok: true });
    assert.equal((await reader.loadRoom(id))!.version, 1);
    const claimed = await reader.outbox.claim('t1', 60_000, 10, 10, new Map());
    assert.equal(claimed.length, 1);
    const second = await reader.outbox.advance(claimed[0]!, 't1', claimed[0]!.head, null, 60_000);
    assert.ok(second && second !== 'lost');
    assert.equal(await reader.outbox.advance(claimed[0]!, 't1', second, null, 60_000), null);
    assert.equal((await drawer.append('b1', stroke('s1'), 100)).ok, true);
    assert.equal((await viewer.head('b1')).seq, 1);

    // A commit that reached the primary only (its writer was told to retry).
    await set!.lagReplicas();
    const m = messages(a.room, 2);
    m.next.audited = 2;
    try {
      await assert.rejects(writer.commit(m.next, m.expected, m.events, outbox(rowsOf('ep1', id, m.events)), [note(2, m.next.seq)]), StoreUnavailableError);
      await assert.rejects(reader.loadRoom(id), StoreUnavailableError, 'a snapshot of the unconfirmed version');
      await assert.rejects(reader.eventsSince(id, a.room.seq, 100), StoreUnavailableError, 'its events');
      assert.deepEqual((await reader.eventsSince(id, 0, a.events.length)).events.map((e) => e.seq), a.events.map((e) => e.seq), 'what is confirmed is served');
      await assert.rejects(reader.auditLog(id, 0, 10), StoreUnavailableError, 'its audit entry');
      assert.deepEqual((await reader.auditLog(id, 0, 1)).map((e) => e.n), [1], 'the confirmed entry is served');
      await assert.rejects(reader.outbox.claim('t2', 200, 10, 10, new Map()), StoreUnavailableError, 'its webhook rows');
      await assert.rejects(drawer.append('b1', stroke('s2'), 100), StoreUnavailableError);
      await assert.rejects(viewer.head('b1'), StoreUnavailableError, 'a board past its confirmed ops');
      await assert.rejects(viewer.since('b1', 1, 10), StoreUnavailableError, 'the unconfirmed op');
      assert.deepEqual((await viewer.since('b1', 0, 1)).map((e) => e.seq), [1], 'the confirmed one is served');
    } finally {
      await set!.resumeReplicas();
    }
    // Once a replica has it, the reader confirms it by itself (the writer's mark is still behind).
    const deadline = Date.now() + 10_000;
    let room = null;
    while (!room) {
      room = await reader.loadRoom(id).catch((err: unknown) => {
        if (!(err instanceof StoreUnavailableError) || Date.now() > deadline) throw err;
        return new Promise<null>((r) => setTimeout(() => r(null), 100));
      });
    }
    assert.equal(room.version, 2);
    assert.deepEqual((await viewer.since('b1', 1, 10)).map((e) => e.seq), [2]);
    assert.equal((await viewer.head('b1')).seq, 2);
    assert.deepEqual((await reader.eventsSince(id, a.room.seq, 100)).events.map((e) => e.seq), m.events.map((e) => e.seq));
    assert.deepEqual((await reader.auditLog(id, 0, 10)).map((e) => e.n), [1, 2]);
    await new Promise((r) => setTimeout(r, 250)); // the refused claim's lease runs out
    const again = await reader.outbox.claim('t3', 60_000, 10, 10, new Map());
    assert.deepEqual(again.map((l) => l.head.id), [`evt_${id}_${m.events[0]!.seq}_0`]);
  } finally {
    await writer.close();
    await reader.close();
    for (const b of boards) b.redis.disconnect();
  }
});
