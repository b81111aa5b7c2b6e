// The uid allocator on a real store (SQLite :memory:): unique pairs across an app, blocks reserved
// ahead so that a storm of entries costs one store write per block.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { UID_BASE, UID_BLOCK, UidAllocator } from '../../src/service/uids.ts';

/** A real store whose reserveUids calls are counted. */
function countedStore() {
  const store = new SqliteStore({ path: ':memory:' });
  let calls = 0;
  const reserve = store.reserveUids.bind(store);
  const counted = {
    reserveUids: (appId: string, count: number) => {
      calls++;
      return reserve(appId, count);
    },
  };
  return { store, counted, calls: () => calls };
}

test('pairs are unique per app, camera uid odd and screen uid + 1, above UID_BASE', async () => {
  const { store, counted } = countedStore();
  const uids = new UidAllocator(counted);
  const a = await Promise.all(Array.from({ length: 700 }, () => uids.pair('a')));
  const b = await Promise.all(Array.from({ length: 10 }, () => uids.pair('b')));
  const all = new Set(a.flatMap((u) => [u, u + 1]));
  assert.equal(all.size, 1400, 'no uid handed out twice in app a');
  for (const u of [...a, ...b]) {
    assert.ok(u > UID_BASE && u < 2 ** 31 - 1, `${u} in range`);
    assert.equal((u - UID_BASE) % 2, 1, `${u}: the block's pairs stay aligned`);
  }
  assert.deepEqual(b.slice(0, 3), [UID_BASE + 1, UID_BASE + 3, UID_BASE + 5], 'another app counts on its own');
  await store.close();
});

test('a storm of entries costs one store write per block, and a second allocator (node) never repeats a uid', async () => {
  const { store, counted, calls } = countedStore();
  const one = new UidAllocator(counted);
  const two = new UidAllocator(counted);
  const pairs = 5 * (UID_BLOCK / 2);
  const got: number[] = [];
  for (let i = 0; i < pairs; i++) got.push(await (i % 3 === 0 ? two : one).pair('app'));
  assert.equal(new Set(got).size, pairs);
  // Each allocator reserves what it hands out, plus at most the block it asked for early.
  assert.ok(calls() <= 5 + 2 + 2, `${calls()} store writes for ${pairs} entries`);
  await store.close();
});

test('a failed reservation fails the entries waiting for it; the next entry tries again', async () => {
  // A real failure: the store's database is closed; then the same file is opened again.
  const dir = mkdtempSync(join(tmpdir(), 'uids-'));
  const path = join(dir, 'convene.db');
  const closed = new SqliteStore({ path });
  await closed.close();
  let store = closed;
  const uids = new UidAllocator({ reserveUids: (appId, count) => store.reserveUids(appId, count) }, 4);
  await assert.rejects(Promise.all([uids.pair('a'), uids.pair('a')]), /not open/);
  store = new SqliteStore({ path });
  assert.deepEqual([await uids.pair('a'), await uids.pair('a'), await uids.pair('a')], [UID_BASE + 1, UID_BASE + 3, UID_BASE + 5]);
  assert.throws(() => new UidAllocator(store, 3), RangeError);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});
