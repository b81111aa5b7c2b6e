// The contract every RoomStore adapter must keep. Each adapter's test file calls storeContract
// with a factory for a fresh, empty store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RoomStore } from '../../src/store/store.ts';
import type { Room } from '../../src/domain/room.ts';
import type { LoggedEvent } from '../../src/domain/events.ts';
import { decide, RuleError } from '../../src/domain/rules.ts';
import { newApp } from '../../src/service/apps.ts';

let n = 0;
const fresh = () => {
  n++;
  return { roomId: `room${n}xxxxxxxxxxxxxxxx`.slice(0, 22), boardId: `board${n}`, userId: `user${n}`, session: `secret${n}` };
};

/** Enter `userUuid` into `room` (or a new room) and return the next room with its logged events. */
function entry(room: Room | null, appId: string, roomUuid: string, userUuid: string, now = 1000) {
  const d = decide(
    room,
    {
      type: 'enter',
      appId,
      roomUuid,
      roomName: roomUuid,
      password: '',
      userUuid,
      userName: userUuid,
      avatar: '',
      audio: true,
      video: false,
      policy: { maxUsers: 0, noAutoKickUser: false },
      fresh: fresh(),
    },
    now,
  );
  if (d instanceof RuleError) throw d;
  const expected = room?.version ?? 0;
  const next = d.room;
  const events: LoggedEvent[] = d.events.map((event, i) => ({ seq: next.seq + 1 + i, at: now, event }));
  next.version = expected + 1;
  next.seq += events.length;
  return { next, events, expected };
}

export function storeContract(name: string, make: () => Promise<RoomStore>): void {
  const withStore = (title: string, fn: (s: RoomStore) => Promise<void>) =>
    test(`${name}: ${title}`, async () => {
      const s = await make();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    });

  withStore('creates a room and reads it back with its events', async (s) => {
    const a = entry(null, 'app1', 'standup', 'ann');
    assert.deepEqual(await s.commit(a.next, 0, a.events), { ok: true });
    const loaded = await s.loadRoom(a.next.roomId);
    assert.deepEqual(loaded, a.next);
    assert.deepEqual((await s.findRunningRoom('app1', 'standup'))?.roomId, a.next.roomId);
    assert.equal(await s.findRunningRoom('app2', 'standup'), null);
    const range = await s.eventsSince(a.next.roomId, 0, 100);
    assert.deepEqual(range.events, a.events);
    assert.equal(range.oldestSeq, 1);
    assert.equal(await s.loadRoom('nosuchroom'), null);
  });

  withStore('refuses a second running room with the same key', async (s) => {
    const a = entry(null, 'app1', 'standup', 'ann');
    const b = entry(null, 'app1', 'standup', 'bob');
    assert.deepEqual(await s.commit(a.next, 0, a.events), { ok: true });
    assert.deepEqual(await s.commit(b.next, 0, b.events), { ok: false, reason: 'duplicateRoom' });
    assert.equal(await s.loadRoom(b.next.roomId), null);
    assert.equal((await s.eventsSince(b.next.roomId, 0, 10)).events.length, 0);
  });

  withStore('refuses a stale version and keeps the winner', async (s) => {
    const a = entry(null, 'app1', 'r', 'ann');
    await s.commit(a.next, 0, a.events);
    const b = entry(a.next, 'app1', 'r', 'bob');
    const c = entry(a.next, 'app1', 'r', 'cat');
    assert.deepEqual(await s.commit(b.next, b.expected, b.events), { ok: true });
    assert.deepEqual(await s.commit(c.next, c.expected, c.events), { ok: false, reason: 'conflict' });
    const loaded = await s.loadRoom(a.next.roomId);
    assert.deepEqual(loaded?.members.map((m) => m.userUuid), ['ann', 'bob']);
    const seqs = (await s.eventsSince(a.next.roomId, 0, 100)).events.map((e) => e.seq);
    assert.deepEqual(seqs, [1, 2]);
  });

  withStore('pages the event log', async (s) => {
    let room: Room | null = null;
    for (let i = 0; i < 10; i++) {
      const e = entry(room, 'app1', 'r', `u${i}`);
      assert.equal((await s.commit(e.next, e.expected, e.events)).ok, true);
      room = e.next;
    }
    const page = await s.eventsSince(room!.roomId, 4, 3);
    assert.deepEqual(page.events.map((e) => e.seq), [5, 6, 7]);
    assert.deepEqual((await s.eventsSince(room!.roomId, 10, 3)).events, []);
  });

  withStore('lists running rooms by app, prefix and activity', async (s) => {
    for (const key of ['alpha', 'alps', 'beta']) {
      const e = entry(null, 'app1', key, 'ann');
      await s.commit(e.next, 0, e.events);
    }
    const other = entry(null, 'app2', 'alpine', 'ann');
    await s.commit(other.next, 0, other.events);
    const all = await s.listRooms({ appId: 'app1', activeOnly: true, prefix: '', offset: 0, limit: 10 });
    assert.deepEqual(all.rooms.map((r) => r.roomUuid), ['alpha', 'alps', 'beta']);
    assert.equal(all.total, 3);
    const al = await s.listRooms({ appId: 'app1', activeOnly: true, prefix: 'al', offset: 1, limit: 10 });
    assert.deepEqual(al.rooms.map((r) => r.roomUuid), ['alps']);
    assert.equal(al.total, 2);
    // A prefix is literal: LIKE wildcards must not match.
    const wild = await s.listRooms({ appId: 'app1', activeOnly: true, prefix: '%', offset: 0, limit: 10 });
    assert.equal(wild.total, 0);
  });

  withStore('finds rooms empty since a cutoff', async (s) => {
    const a = entry(null, 'app1', 'r', 'ann', 1000);
    await s.commit(a.next, 0, a.events);
    const left = decide(a.next, { type: 'leave', actor: a.next.members[0]!.userId }, 5000);
    if (left instanceof RuleError) throw left;
    left.room.version = 2;
    left.room.seq += left.events.length;
    await s.commit(left.room, 1, left.events.map((event, i) => ({ seq: 2 + i, at: 5000, event })));
    assert.deepEqual(await s.emptyRoomsSince(4999), []);
    assert.deepEqual(await s.emptyRoomsSince(5000), [a.next.roomId]);
    const active = await s.listRooms({ appId: 'app1', activeOnly: true, prefix: '', offset: 0, limit: 10 });
    assert.equal(active.total, 0);
  });

  withStore('stores apps, access keys and meta values', async (s) => {
    const app = newApp({ appId: 'a'.repeat(32), owner: 'ak1', title: 't' }, 1);
    await s.putApp(app);
    assert.deepEqual(await s.getApp(app.appId), app);
    await s.putApp({ ...app, title: 't2' });
    assert.equal((await s.getApp(app.appId))?.title, 't2');
    assert.equal((await s.listApps('ak1')).length, 1);
    assert.equal((await s.listApps('ak2')).length, 0);
    assert.equal(await s.deleteApp(app.appId), true);
    assert.equal(await s.deleteApp(app.appId), false);
    assert.equal(await s.getApp(app.appId), null);
    await s.putAccessKey({ accessKey: 'ak1', secretKey: 'sk1', createdAt: 1 });
    assert.equal((await s.getAccessKey('ak1'))?.secretKey, 'sk1');
    assert.equal(await s.getAccessKey('nope'), null);
    assert.equal(await s.setMetaIfAbsent('k', 'v1'), 'v1');
    assert.equal(await s.setMetaIfAbsent('k', 'v2'), 'v1');
    assert.equal(await s.getMeta('k'), 'v1');
  });
}
