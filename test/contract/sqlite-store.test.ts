import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { decide, RuleError } from '../../src/domain/rules.ts';
import type { Room } from '../../src/domain/room.ts';
import type { LoggedEvent } from '../../src/domain/events.ts';
import { sharedStoreContract, storeContract } from './store-contract.ts';
import { outboxContract } from './outbox-contract.ts';
import { webhookStamp } from '../../src/store/store.ts';
import { newApp } from '../../src/service/apps.ts';
import { CHECKPOINTER_AFTER } from '../../src/store/sqlite/checkpointer.ts';

storeContract('sqlite :memory:', async (opts) => new SqliteStore({ path: ':memory:', ...opts }));
outboxContract('sqlite :memory:', async () => new SqliteStore({ path: ':memory:' }));

const dir = mkdtempSync(join(tmpdir(), 'convene-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let i = 0;
storeContract('sqlite file', async (opts) => new SqliteStore({ path: join(dir, `s${i++}.db`), ...opts }));

// Two connections on one file, as the server and an operator's CLI (or two processes) see it.
sharedStoreContract('sqlite two connections', async () => {
  const path = join(dir, `shared${i++}.db`);
  return [new SqliteStore({ path }), new SqliteStore({ path })];
});

// What the contract cannot see: the rows themselves, and databases made before rooms had ended_at.
const rows = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    const count = (table: string) => db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number;
    return { rooms: count('rooms'), members: count('members'), events: count('events') };
  } finally {
    db.close();
  }
};

test('sqlite: a purge deletes the rows of ended meetings (rooms, members, events) and no others', async () => {
  const path = join(dir, `rows${i++}.db`);
  const s = new SqliteStore({ path });
  try {
    const old = [await meeting(s, 'old-a', 5, 1000), await meeting(s, 'old-b', 3, 2000)];
    const recent = await meeting(s, 'recent', 4, 9000);
    const running = await meeting(s, 'running', 6, null);
    const all = [...old, recent, running];
    const sum = (rs: typeof all, k: 'members' | 'events') => rs.reduce((n, r) => n + r[k], 0);
    assert.deepEqual(rows(path), { rooms: 4, members: sum(all, 'members'), events: sum(all, 'events') });

    assert.equal(await s.purgeEnded(5000, 100), 2);
    const kept = [recent, running];
    assert.deepEqual(rows(path), { rooms: 2, members: sum(kept, 'members'), events: sum(kept, 'events') });
    assert.deepEqual(await s.loadRoom(recent.room.roomId), recent.room);
    assert.deepEqual(await s.loadRoom(running.room.roomId), running.room);

    assert.equal(await s.purgeEnded(Number.MAX_SAFE_INTEGER, 100), 1);
    assert.deepEqual(rows(path), { rooms: 1, members: running.members, events: running.events });
  } finally {
    await s.close();
  }
});

test('sqlite: the purge finds ended meetings through an index, not by reading every room', async () => {
  const path = join(dir, `plan${i++}.db`);
  await new SqliteStore({ path }).close();
  const db = new Database(path, { readonly: true });
  const plan = db
    .prepare('EXPLAIN QUERY PLAN SELECT room_id FROM rooms WHERE ended = 1 AND ended_at <= ? ORDER BY ended_at LIMIT ?')
    .all(1, 1) as { detail: string }[];
  db.close();
  assert.match(plan.map((p) => p.detail).join('; '), /USING INDEX rooms_ended/);
});

test('sqlite: a database made before ended_at existed, with members and events clustered by room and keys without operator grants, is migrated, and its ended meetings purged', async () => {
  const path = join(dir, `old${i++}.db`);
  const s = new SqliteStore({ path });
  const ended = await meeting(s, 'ended-before', 3, 4000);
  const running = await meeting(s, 'running', 2, null);
  await s.putAccessKey({ accessKey: 'old-key', secretKey: 'sk', createdAt: 5 });
  await s.close();
  // Back to the schema of the previous release: no ended_at column, no index on it.
  const db = new Database(path);
  db.exec('DROP INDEX rooms_ended; ALTER TABLE rooms DROP COLUMN ended_at');
  // Access keys before operator keys existed.
  db.exec('ALTER TABLE access_keys DROP COLUMN operator');
  // Members and events as they were until 2026-12: WITHOUT ROWID tables keyed by room.
  db.exec(`DROP INDEX members_room; ALTER TABLE members RENAME TO m0;
    CREATE TABLE members (room_id TEXT NOT NULL, ord INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (room_id, ord)) WITHOUT ROWID;
    INSERT INTO members SELECT room_id, ord, data FROM m0 ORDER BY id DESC; DROP TABLE m0;
    DROP INDEX events_room; ALTER TABLE events RENAME TO e0;
    CREATE TABLE events (room_id TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (room_id, seq)) WITHOUT ROWID;
    INSERT INTO events SELECT room_id, seq, at, data FROM e0 ORDER BY id DESC; DROP TABLE e0;`);
  db.close();

  // Two connections open it at once (the server and the CLI): one migrates, neither fails.
  const [a, b] = [new SqliteStore({ path }), new SqliteStore({ path })];
  try {
    assert.deepEqual(await a.loadRoom(ended.room.roomId), ended.room);
    assert.equal(await a.purgeEnded(3999, 100), 0, 'kept until its retention has passed');
    assert.equal(await b.purgeEnded(4000, 100), 1);
    assert.deepEqual(rows(path), { rooms: 1, members: running.members, events: running.events });
    assert.equal(await a.loadRoom(ended.room.roomId), null);
    assert.deepEqual(await a.loadRoom(running.room.roomId), running.room);
    const log = await b.eventsSince(running.room.roomId, 0, 100);
    assert.deepEqual(log.events.map((e) => e.seq), Array.from({ length: running.events }, (_, k) => k + 1));
    const check = new Database(path, { readonly: true });
    const layouts = check.prepare("SELECT name FROM sqlite_schema WHERE sql LIKE '%WITHOUT ROWID%' AND name IN ('members', 'events')").pluck().all();
    check.close();
    assert.deepEqual(layouts, [], 'members and events are in insertion order now');
    assert.deepEqual(await a.getAccessKey('old-key'), { accessKey: 'old-key', secretKey: 'sk', createdAt: 5 }, 'an old key is kept, not an operator');
    await b.putAccessKey({ accessKey: 'new-key', secretKey: 'sk2', createdAt: 6, operator: true });
    assert.equal((await a.getAccessKey('new-key'))!.operator, true);
  } finally {
    await a.close();
    await b.close();
  }
});

/** A meeting of `size` members with a few messages, ended at `endedAt` (null: still running). */
async function meeting(s: SqliteStore, roomUuid: string, size: number, endedAt: number | null) {
  let room: Room | null = null;
  let events = 0;
  const apply = async (d: ReturnType<typeof decide>) => {
    if (d instanceof RuleError) throw d;
    const logged: LoggedEvent[] = d.events.map((event, k) => ({ seq: d.room.seq + 1 + k, at: 1, event }));
    const expected = room?.version ?? 0;
    d.room.version = expected + 1;
    d.room.seq += logged.length;
    assert.deepEqual(await s.commit(d.room, expected, logged), { ok: true });
    room = d.room;
    events += logged.length;
  };
  for (let m = 0; m < size; m++) {
    const fresh = { roomId: `${roomUuid}-${i}-${Date.now()}`.slice(0, 22), boardId: 'b', uid: 2 * m + 1, session: 's' };
    await apply(
      decide(
        room,
        { type: 'enter', appId: 'app1', roomUuid, roomName: roomUuid, password: '', userUuid: `u${m}`, userName: `u${m}`, avatar: '', audio: true, video: false, policy: { maxUsers: 0, noAutoKickUser: false }, fresh },
        (endedAt ?? 10_000) - 100,
      ),
    );
  }
  if (endedAt !== null) await apply(decide(room, { type: 'close', emptySinceAtMost: null }, endedAt));
  return { room: room!, members: size, events };
}

test('sqlite: a restarted server takes back at once the lanes its killed predecessor held (recover)', async () => {
  const path = join(dir, `recover${i++}.db`);
  const before = new SqliteStore({ path });
  const app = { ...newApp({ appId: 'recover' }, 1), webhooks: [{ id: 'ep1', url: 'http://127.0.0.1:9/', secret: 'k', events: ['*'], createdAt: 1 }] };
  await before.putApp(app);
  const d = decide(
    null,
    { type: 'enter', appId: 'recover', roomUuid: 'r', roomName: 'r', password: '', userUuid: 'ann', userName: 'Ann', avatar: '', audio: false, video: false, policy: { maxUsers: 0, noAutoKickUser: false }, fresh: { roomId: 'recoverroom00000000000', boardId: 'b', uid: 1, session: 's' } },
    1000,
  );
  if (d instanceof RuleError) throw d;
  d.room.version = 1;
  d.room.seq = 1;
  const events: LoggedEvent[] = [{ seq: 1, at: 1000, event: d.events[0]! }];
  const rows = [{ endpointId: 'ep1', id: 'evt_recoverroom00000000000_1_0', seq: 1, idx: 0, payload: '{}' }];
  assert.deepEqual(await before.commit(d.room, 0, events, { stamp: webhookStamp(app), rows }), { ok: true });
  assert.equal((await before.outbox.claim('killed:1', 60_000, 10, 10, new Map())).length, 1);
  await before.close();
  // The next server on the file: the lease of the one before is void (the file's lock says it is gone).
  const after = new SqliteStore({ path });
  try {
    assert.deepEqual(await after.outbox.claim('next:1', 60_000, 10, 10, new Map()), [], 'held until recovered');
    await after.outbox.recover();
    const [lane] = await after.outbox.claim('next:1', 60_000, 10, 10, new Map());
    assert.equal(lane?.head.id, rows[0]!.id);
  } finally {
    await after.close();
  }
});

test('sqlite: past its first commits a store copies its WAL into the database on a thread of its own, and lets the thread go when quiet', async () => {
  const path = join(dir, `checkpoints${i++}.db`);
  const s = new SqliteStore({ path });
  const size = () => statSync(path).size;
  try {
    const enter = (n: number) => {
      const d = decide(
        null,
        { type: 'enter', appId: 'ckpt', roomUuid: `r${n}`, roomName: 'r', password: '', userUuid: 'ann', userName: 'Ann', avatar: '', audio: false, video: false, policy: { maxUsers: 0, noAutoKickUser: false }, fresh: { roomId: `ckpt${String(n).padStart(18, '0')}`, boardId: 'b', uid: 1, session: 's' } },
        1000,
      );
      if (d instanceof RuleError) throw d;
      d.room.version = 1;
      d.room.seq = 1;
      return s.commit(d.room, 0, [{ seq: 1, at: 1000, event: d.events[0]! }]);
    };
    // Group commits of 100 write far fewer pages than the loop's own automatic checkpoint waits
    // for (20,000 frames): only the checkpointer moves pages into the file; until it starts,
    // they all stay in the WAL.
    const enterAll = async (from: number, to: number) => {
      for (let n = from; n < to; n += 100) {
        const batch = Array.from({ length: Math.min(100, to - n) }, (_, k) => enter(n + k));
        for (const r of await Promise.all(batch)) assert.deepEqual(r, { ok: true });
      }
    };
    await enterAll(0, CHECKPOINTER_AFTER - 100);
    await new Promise((r) => setTimeout(r, 300));
    const before = size();
    await enterAll(CHECKPOINTER_AFTER - 100, CHECKPOINTER_AFTER + 500);
    const deadline = Date.now() + 5000;
    while (size() < before + 500_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(size() >= before + 500_000, `the database file grew from ${before} to ${size()} bytes`);
    assert.equal((await s.loadRoom(`ckpt${String(CHECKPOINTER_AFTER + 499).padStart(18, '0')}`))?.members.length, 1);
    // A quiet store lets its thread go (it costs ~10 MB): within two idle periods of 2 s.
    const running = () => (s as unknown as { checkpointer: unknown }).checkpointer !== null;
    assert.ok(running(), 'a checkpointer while commits come');
    const idleBy = Date.now() + 6000;
    while (running() && Date.now() < idleBy) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!running(), 'stopped once no commit came for 2 s');
    await enterAll(CHECKPOINTER_AFTER + 500, 2 * CHECKPOINTER_AFTER + 500);
    assert.ok(running(), 'started again by as many commits');
  } finally {
    await s.close();
  }
  // Closed cleanly (the worker's connection too): the file opens and holds every room.
  assert.equal(rows(path).rooms, 2 * CHECKPOINTER_AFTER + 500);
});
