// The contract of what the stores keep for Convene's extensions: meetings' audit logs (appended by
// commits, read in order, purged with the meeting) and the index of running rooms by metadata.
// Run by storeContract for every adapter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RoomStore } from '../../src/store/store.ts';
import type { Room } from '../../src/domain/room.ts';
import type { AuditEntry } from '../../src/domain/audit.ts';
import type { RoomCommand } from '../../src/domain/commands.ts';
import { entry, run, type ContractOptions, type StoreFactoryOptions } from './store-contract.ts';

const note = (n: number, at: number): AuditEntry => ({
  n,
  at,
  seq: n,
  action: 'room.lock',
  actor: { kind: 'server', by: 'key:AK' },
  target: null,
  before: { locked: n % 2 === 0 },
  after: { locked: n % 2 === 1 },
});

/** Commit `cmd` on `room` with `audit`; returns the committed room. */
async function commit(s: RoomStore, room: Room, cmd: RoomCommand, audit?: AuditEntry[]): Promise<Room> {
  const c = run(room, cmd);
  if (audit) c.next.audited = (room.audited ?? 0) + audit.length;
  assert.deepEqual(await s.commit(c.next, c.expected, c.events, undefined, audit), { ok: true });
  return c.next;
}

async function start(s: RoomStore, appId: string, roomUuid: string): Promise<Room> {
  const a = entry(null, appId, roomUuid, `${roomUuid}-host`);
  assert.deepEqual(await s.commit(a.next, 0, a.events), { ok: true });
  return a.next;
}

const tagged = async (s: RoomStore, appId: string, metadata: string, offset = 0, limit = 100) => {
  const { rooms, total } = await s.listRooms({ appId, activeOnly: true, prefix: 'ignored', offset, limit, metadata });
  return { uuids: rooms.map((r) => r.roomUuid), total };
};

export function extensionContract(name: string, make: (opts?: StoreFactoryOptions) => Promise<RoomStore>, opts: ContractOptions = {}): void {
  const withStore = (title: string, fn: (s: RoomStore) => Promise<void>) =>
    test(`${name}: ${title}`, { skip: opts.skip }, async () => {
      const s = await make();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    });

  withStore('keeps a meeting’s audit log in order, in pages, apart from other meetings, and purges it with the meeting', async (s) => {
    let room = await start(s, 'app1', 'audited');
    const other = await start(s, 'app1', 'elsewhere');
    room = await commit(s, room, { type: 'lockRoom', locked: true }, [note(1, 2000)]);
    await commit(s, other, { type: 'lockRoom', locked: true }, [note(1, 2000)]);
    room = await commit(s, room, { type: 'lockRoom', locked: false }, [note(2, 2000), note(3, 2000)]);
    // A commit without entries appends none.
    room = await commit(s, room, { type: 'lockRoom', locked: true });
    assert.equal((await s.loadRoom(room.roomId))?.audited, 3);
    assert.deepEqual(await s.auditLog(room.roomId, 0, 100), [note(1, 2000), note(2, 2000), note(3, 2000)]);
    assert.deepEqual(await s.auditLog(room.roomId, 1, 1), [note(2, 2000)]);
    assert.deepEqual(await s.auditLog(room.roomId, 3, 10), []);
    assert.equal((await s.auditLog(other.roomId, 0, 10)).length, 1);
    const ended = await commit(s, room, { type: 'close', emptySinceAtMost: null }, [note(4, 2000)]);
    assert.equal((await s.auditLog(ended.roomId, 0, 100)).length, 4, 'kept after the meeting ends');
    assert.equal(await s.purgeEnded(2000, 10), 1);
    assert.deepEqual(await s.auditLog(ended.roomId, 0, 100), [], 'purged with the meeting');
    assert.equal((await s.auditLog(other.roomId, 0, 10)).length, 1);
  });

  withStore('finds an app’s running rooms by their metadata, in roomUuid order, paged; changes and ends move them', async (s) => {
    const set = (room: Room, metadata: string) => commit(s, room, { type: 'metadata', actor: null, target: null, metadata });
    const b = await set(await start(s, 'app1', 'b-room'), 'team-a');
    const a = await set(await start(s, 'app1', 'a-room'), 'team-a');
    const c = await set(await start(s, 'app1', 'c-room'), 'team-a');
    await set(await start(s, 'app2', 'a-room'), 'team-a');
    await start(s, 'app1', 'plain');
    const big = 'x'.repeat(4096);
    await set(await start(s, 'app1', 'big'), big);
    assert.deepEqual(await tagged(s, 'app1', 'team-a'), { uuids: ['a-room', 'b-room', 'c-room'], total: 3 });
    assert.deepEqual(await tagged(s, 'app1', 'team-a', 1, 1), { uuids: ['b-room'], total: 3 });
    assert.deepEqual(await tagged(s, 'app1', big), { uuids: ['big'], total: 1 });
    assert.deepEqual(await tagged(s, 'app1', 'team'), { uuids: [], total: 0 }, 'the whole value, not a prefix');
    assert.deepEqual(await tagged(s, 'app1', ''), { uuids: [], total: 0 });
    await set(b, 'team-b');
    await set(c, '');
    await commit(s, a, { type: 'close', emptySinceAtMost: null });
    assert.deepEqual(await tagged(s, 'app1', 'team-a'), { uuids: [], total: 0 });
    assert.deepEqual(await tagged(s, 'app1', 'team-b'), { uuids: ['b-room'], total: 1 });
    assert.deepEqual(await tagged(s, 'app2', 'team-a'), { uuids: ['a-room'], total: 1 });
  });
}
