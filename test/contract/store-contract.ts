// The contract every RoomStore adapter must keep. Each adapter's test file calls storeContract
// with a factory for a fresh, empty store, and sharedStoreContract with a factory for two stores
// on one backend (two processes, or two nodes of a cluster).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RoomStore } from '../../src/store/store.ts';
import type { Room } from '../../src/domain/room.ts';
import type { LoggedEvent, MeetingEvent } from '../../src/domain/events.ts';
import type { RoomCommand } from '../../src/domain/commands.ts';
import { decide, RuleError } from '../../src/domain/rules.ts';
import { newApp } from '../../src/service/apps.ts';
import { extensionContract } from './extension-contract.ts';

export interface StoreFactoryOptions {
  eventRetention?: number;
}

export interface ContractOptions {
  /** Skip every case, visibly, with this reason (e.g. the backend is not running). */
  skip?: string;
}

let n = 0;
const fresh = () => {
  n++;
  return { roomId: `room${n}xxxxxxxxxxxxxxxx`.slice(0, 22), boardId: `board${n}`, uid: 2 * n + 1, session: `secret${n}` };
};

/** How a new room's id is drawn: a store that places rooms by id (a Redis Cluster's) gives its own. */
let roomIdFor: ((appId: string, roomUuid: string) => string) | null = null;
export function drawRoomIdsWith(draw: (appId: string, roomUuid: string) => string): void {
  roomIdFor = draw;
}

/** The id of a new room of (app, roomUuid): `otherwise`, unless the store draws its own. */
export function newRoomId(appId: string, roomUuid: string, otherwise: string): string {
  return roomIdFor ? roomIdFor(appId, roomUuid) : otherwise;
}

/** Enter `userUuid` into `room` (or a new room) and return the next room with its logged events. */
export function entry(room: Room | null, appId: string, roomUuid: string, userUuid: string, now = 1000) {
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
      fresh: ((f) => ({ ...f, roomId: newRoomId(appId, roomUuid, f.roomId) }))(fresh()),
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

/** Run a room command as the service does: decide, then advance version and seq. */
export function run(room: Room, cmd: RoomCommand, now = 2000) {
  const d = decide(room, cmd, now);
  if (d instanceof RuleError) throw d;
  if (d.room === room) throw new Error(`${cmd.type} changed nothing`);
  const next = d.room;
  const events: LoggedEvent[] = d.events.map((event, i) => ({ seq: room.seq + 1 + i, at: now, event }));
  next.version = room.version + 1;
  next.seq = room.seq + events.length;
  return { next, events, expected: room.version };
}

/** A commit of `count` server messages on `room`, members unchanged. */
function messages(room: Room, count: number, now = 3000) {
  const events: LoggedEvent[] = [];
  for (let i = 0; i < count; i++) {
    const event: MeetingEvent = { type: 'serverMessage', to: null, msgId: `m${room.seq + 1 + i}`, text: 'hello' };
    events.push({ seq: room.seq + 1 + i, at: now, event });
  }
  return { next: { ...room, version: room.version + 1, seq: room.seq + count }, events, expected: room.version };
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** A meeting of two that ran and ended at `endedAt`, committed to `s`; returns its last state. */
async function endedMeeting(s: RoomStore, appId: string, roomUuid: string, endedAt: number): Promise<Room> {
  const a = entry(null, appId, roomUuid, 'ann', endedAt - 500);
  assert.deepEqual(await s.commit(a.next, 0, a.events), { ok: true });
  const b = entry(a.next, appId, roomUuid, 'bob', endedAt - 400);
  assert.deepEqual(await s.commit(b.next, b.expected, b.events), { ok: true });
  const m = messages(b.next, 5, endedAt - 300);
  assert.deepEqual(await s.commit(m.next, m.expected, m.events), { ok: true });
  const end = run(m.next, { type: 'close', emptySinceAtMost: null }, endedAt);
  assert.deepEqual(await s.commit(end.next, end.expected, end.events), { ok: true });
  assert.equal(end.next.endedAt, endedAt);
  return end.next;
}

/** Asserts that nothing of `room` is left for a reader. */
async function assertPurged(s: RoomStore, room: Room): Promise<void> {
  assert.equal(await s.loadRoom(room.roomId), null, `${room.roomUuid} is gone`);
  assert.deepEqual(await s.eventsSince(room.roomId, 0, 100), { events: [], oldestSeq: 0 }, `${room.roomUuid}'s log is gone`);
  assert.ok(!(await s.activeRoomIds()).includes(room.roomId));
  assert.ok(!(await s.emptyRoomsSince(Number.MAX_SAFE_INTEGER)).includes(room.roomId));
  for (const activeOnly of [true, false]) {
    const listed = await s.listRooms({ appId: room.appId, activeOnly, prefix: '', offset: 0, limit: 1000 });
    assert.ok(!listed.rooms.some((r) => r.roomId === room.roomId));
  }
}

export function storeContract(name: string, make: (opts?: StoreFactoryOptions) => Promise<RoomStore>, opts: ContractOptions = {}): void {
  extensionContract(name, make, opts);
  const withStore = (title: string, fn: (s: RoomStore) => Promise<void>, storeOpts?: StoreFactoryOptions) =>
    test(`${name}: ${title}`, { skip: opts.skip }, async () => {
      const s = await make(storeOpts);
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
    assert.equal(await s.getMeta('other'), null);
  });

  withStore('lists apps in the order they were added, an update keeping its place', async (s) => {
    const ids = ['c', 'a', 'b'].map((c) => c.repeat(32));
    for (const [i, appId] of ids.entries()) await s.putApp(newApp({ appId, owner: i === 1 ? null : 'ak1' }, i));
    await s.putApp({ ...(await s.getApp(ids[0]!))!, title: 'renamed' });
    assert.deepEqual((await s.listApps(null)).map((a) => a.appId), ids);
    assert.equal((await s.listApps(null))[0]!.title, 'renamed');
    // An owner sees its apps and the unowned ones.
    assert.deepEqual((await s.listApps('ak2')).map((a) => a.appId), [ids[1]]);
    assert.deepEqual((await s.listApps('ak1')).map((a) => a.appId), ids);
    await s.deleteApp(ids[1]!);
    assert.deepEqual((await s.listApps(null)).map((a) => a.appId), [ids[0], ids[2]]);
  });

  withStore('lists access keys by creation time, keeps their operator grant, and deletes them', async (s) => {
    await s.putAccessKey({ accessKey: 'ak3', secretKey: 's3', createdAt: 30 });
    await s.putAccessKey({ accessKey: 'ak1', secretKey: 's1', createdAt: 10 });
    await s.putAccessKey({ accessKey: 'ak2', secretKey: 's2', createdAt: 20, operator: true });
    assert.deepEqual(await s.listAccessKeys(), [
      { accessKey: 'ak1', secretKey: 's1', createdAt: 10 },
      { accessKey: 'ak2', secretKey: 's2', createdAt: 20, operator: true },
      { accessKey: 'ak3', secretKey: 's3', createdAt: 30 },
    ]);
    assert.deepEqual(await s.getAccessKey('ak2'), { accessKey: 'ak2', secretKey: 's2', createdAt: 20, operator: true }, 'an operator key stays one');
    await s.putAccessKey({ accessKey: 'ak2', secretKey: 's2', createdAt: 20, operator: false });
    assert.equal((await s.getAccessKey('ak2'))!.operator, undefined, 'and stops being one');
    assert.equal(await s.deleteAccessKey('ak2'), true);
    assert.equal(await s.deleteAccessKey('ak2'), false);
    assert.equal(await s.getAccessKey('ak2'), null);
    assert.deepEqual((await s.listAccessKeys()).map((k) => k.accessKey), ['ak1', 'ak3']);
  });

  withStore(
    'drops the oldest events beyond the retention and pages what it keeps',
    async (s) => {
      const a = entry(null, 'app1', 'r', 'ann');
      await s.commit(a.next, 0, a.events);
      let room = a.next;
      for (let i = 0; i < 14; i++) {
        const m = messages(room, 50);
        assert.deepEqual(await s.commit(m.next, m.expected, m.events), { ok: true });
        room = m.next;
      }
      const last = room.seq;
      const first = await s.eventsSince(room.roomId, 0, 1000);
      assert.ok(first.oldestSeq > 1, `old events are dropped (oldest ${first.oldestSeq})`);
      assert.ok(last - first.oldestSeq + 1 >= 300, `at least the retention is kept (oldest ${first.oldestSeq} of ${last})`);
      assert.equal(first.events[0]!.seq, first.oldestSeq);
      const seqs: number[] = [];
      for (let after = 0; ; ) {
        const page = await s.eventsSince(room.roomId, after, 100);
        assert.equal(page.oldestSeq, first.oldestSeq);
        if (page.events.length === 0) break;
        assert.ok(page.events.length <= 100);
        seqs.push(...page.events.map((e) => e.seq));
        after = page.events.at(-1)!.seq;
      }
      assert.deepEqual(seqs, Array.from({ length: last - first.oldestSeq + 1 }, (_, i) => first.oldestSeq + i));
      const tail = await s.eventsSince(room.roomId, last - 3, 10);
      assert.deepEqual(tail.events.map((e) => e.seq), [last - 2, last - 1, last]);
      assert.deepEqual(tail.events.at(-1)!.event, { type: 'serverMessage', to: null, msgId: `m${last}`, text: 'hello' });
      assert.deepEqual(await s.eventsSince('nosuchroom', 0, 10), { events: [], oldestSeq: 0 });
    },
    { eventRetention: 300 },
  );

  withStore('an ended meeting frees its key and leaves the active and empty lists', async (s) => {
    // One meeting ends with people in it, another after everyone left.
    const full = entry(null, 'app1', 'weekly', 'ann');
    await s.commit(full.next, 0, full.events);
    const lonely = entry(null, 'app1', 'lonely', 'bob');
    await s.commit(lonely.next, 0, lonely.events);
    const left = run(lonely.next, { type: 'leave', actor: lonely.next.members[0]!.userId }, 5000);
    await s.commit(left.next, left.expected, left.events);
    assert.deepEqual(await s.activeRoomIds(), [full.next.roomId]);
    assert.deepEqual(await s.emptyRoomsSince(9000), [lonely.next.roomId]);

    for (const room of [full.next, left.next]) {
      const end = run(room, { type: 'close', emptySinceAtMost: null }, 6000);
      assert.deepEqual(await s.commit(end.next, end.expected, end.events), { ok: true });
      assert.equal((await s.loadRoom(room.roomId))?.ended, true);
    }
    assert.equal(await s.findRunningRoom('app1', 'weekly'), null);
    assert.deepEqual(await s.activeRoomIds(), []);
    assert.deepEqual(await s.emptyRoomsSince(9000), []);
    for (const activeOnly of [true, false]) {
      assert.deepEqual(await s.listRooms({ appId: 'app1', activeOnly, prefix: '', offset: 0, limit: 10 }), { rooms: [], total: 0 });
    }

    const again = entry(null, 'app1', 'weekly', 'cat', 7000);
    assert.deepEqual(await s.commit(again.next, 0, again.events), { ok: true });
    assert.equal((await s.findRunningRoom('app1', 'weekly'))?.roomId, again.next.roomId);
    assert.deepEqual(await s.activeRoomIds(), [again.next.roomId]);
    assert.equal((await s.loadRoom(full.next.roomId))?.ended, true);
  });

  withStore('purges the meetings ended at or before the cutoff, with their members and log; the rest stay', async (s) => {
    const old1 = await endedMeeting(s, 'app1', 'old-one', 5000);
    const old2 = await endedMeeting(s, 'app2', 'old-two', 6000);
    const atCutoff = await endedMeeting(s, 'app1', 'at-cutoff', 8000);
    const recent = await endedMeeting(s, 'app1', 'recent', 8001);
    // Running meetings, however old: one with people in it, one empty for long.
    const busy = entry(null, 'app1', 'busy', 'ann', 100);
    await s.commit(busy.next, 0, busy.events);
    const quiet = entry(null, 'app1', 'quiet', 'bob', 100);
    await s.commit(quiet.next, 0, quiet.events);
    const left = run(quiet.next, { type: 'leave', actor: quiet.next.members[0]!.userId }, 200);
    await s.commit(left.next, left.expected, left.events);
    const recentEvents = (await s.eventsSince(recent.roomId, 0, 100)).events;
    assert.equal(recentEvents.length, recent.seq);

    assert.equal(await s.purgeEnded(8000, 100), 3);
    for (const room of [old1, old2, atCutoff]) await assertPurged(s, room);
    assert.deepEqual(await s.loadRoom(recent.roomId), recent);
    assert.deepEqual(await s.eventsSince(recent.roomId, 0, 100), { events: recentEvents, oldestSeq: 1 });
    assert.deepEqual(await s.loadRoom(busy.next.roomId), busy.next);
    assert.deepEqual(await s.loadRoom(left.next.roomId), left.next);
    assert.deepEqual((await s.eventsSince(left.next.roomId, 0, 100)).events, [...quiet.events, ...left.events]);
    assert.deepEqual(await s.activeRoomIds(), [busy.next.roomId]);
    assert.deepEqual(await s.emptyRoomsSince(200), [left.next.roomId]);
    const listed = await s.listRooms({ appId: 'app1', activeOnly: false, prefix: '', offset: 0, limit: 10 });
    assert.deepEqual(listed.rooms.map((r) => r.roomUuid), ['busy', 'quiet']);
    assert.equal((await s.findRunningRoom('app1', 'busy'))?.roomId, busy.next.roomId);

    // Again: nothing more to do. A later cutoff takes the recent one too, never a running one.
    assert.equal(await s.purgeEnded(8000, 100), 0);
    assert.equal(await s.purgeEnded(Number.MAX_SAFE_INTEGER, 100), 1);
    await assertPurged(s, recent);
    assert.equal(await s.purgeEnded(Number.MAX_SAFE_INTEGER, 100), 0);
    assert.deepEqual(await s.loadRoom(busy.next.roomId), busy.next);
    assert.deepEqual(await s.loadRoom(left.next.roomId), left.next);
  });

  withStore('purges at most `limit` meetings per call, the longest ended first', async (s) => {
    const rooms: Room[] = [];
    for (const [i, endedAt] of [4000, 2000, 5000, 1000, 3000].entries()) rooms.push(await endedMeeting(s, 'app1', `m${i}`, endedAt));
    const byEnd = [...rooms].sort((a, b) => a.endedAt! - b.endedAt!);
    assert.equal(await s.purgeEnded(10_000, 0), 0);
    assert.equal(await s.purgeEnded(10_000, 2), 2);
    for (const room of byEnd.slice(0, 2)) await assertPurged(s, room);
    for (const room of byEnd.slice(2)) assert.deepEqual(await s.loadRoom(room.roomId), room);
    assert.equal(await s.purgeEnded(10_000, 2), 2);
    assert.equal(await s.purgeEnded(10_000, 2), 1);
    assert.equal(await s.purgeEnded(10_000, 2), 0);
    for (const room of rooms) await assertPurged(s, room);
  });

  withStore('a key whose meeting was purged starts a new meeting; purging an older one leaves the new one', async (s) => {
    const first = await endedMeeting(s, 'app1', 'weekly', 5000);
    const second = await endedMeeting(s, 'app1', 'weekly', 7000);
    // The third meeting of the key runs while the first two are purged.
    const third = entry(null, 'app1', 'weekly', 'cat', 7500);
    assert.deepEqual(await s.commit(third.next, 0, third.events), { ok: true });
    assert.equal(await s.purgeEnded(6000, 100), 1);
    await assertPurged(s, first);
    assert.equal(await s.purgeEnded(7000, 100), 1);
    await assertPurged(s, second);
    assert.deepEqual(await s.findRunningRoom('app1', 'weekly'), third.next);
    assert.deepEqual(await s.activeRoomIds(), [third.next.roomId]);
    const listed = await s.listRooms({ appId: 'app1', activeOnly: true, prefix: '', offset: 0, limit: 10 });
    assert.deepEqual(listed.rooms.map((r) => r.roomId), [third.next.roomId]);
    const joined = entry(third.next, 'app1', 'weekly', 'dan', 7600);
    assert.deepEqual(await s.commit(joined.next, joined.expected, joined.events), { ok: true });
    assert.deepEqual(await s.loadRoom(third.next.roomId), joined.next);

    // All gone: the key starts afresh, and that meeting works as any other.
    const end = run(joined.next, { type: 'close', emptySinceAtMost: null }, 8000);
    await s.commit(end.next, end.expected, end.events);
    assert.equal(await s.purgeEnded(8000, 100), 1);
    const fourth = entry(null, 'app1', 'weekly', 'eve', 9000);
    assert.deepEqual(await s.commit(fourth.next, 0, fourth.events), { ok: true });
    assert.deepEqual(await s.findRunningRoom('app1', 'weekly'), fourth.next);
    assert.deepEqual((await s.eventsSince(fourth.next.roomId, 0, 100)).events, fourth.events);
    assert.equal(await s.purgeEnded(Number.MAX_SAFE_INTEGER, 100), 0);
  });

  withStore('reserves blocks of member uids per app: from 1, consecutive, never twice', async (s) => {
    assert.equal(await s.reserveUids('app1', 4), 1);
    assert.equal(await s.reserveUids('app1', 2), 5);
    assert.equal(await s.reserveUids('app2', 3), 1, 'each app counts on its own');
    assert.equal(await s.reserveUids('app1', 1), 7);
    for (const bad of [0, -1, 1.5, 70_000]) await assert.rejects(s.reserveUids('app1', bad), RangeError);
    assert.equal(await s.reserveUids('app1', 256), 8, 'a refused call reserves nothing');
    // Racing callers get disjoint blocks.
    const firsts = await Promise.all(Array.from({ length: 40 }, () => s.reserveUids('app3', 3)));
    assert.deepEqual([...firsts].sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => 1 + 3 * i));
  });

  withStore('lists rooms by key, byte order, with prefix, offset, limit and total', async (s) => {
    const keys = ['b', 'a', 'ab', 'a b', 'aé', 'A', 'zz', 'a%', 'a_c', 'é', 'a'.repeat(100), '🎉x'];
    const rooms = new Map<string, Room>();
    for (const [i, key] of keys.entries()) {
      const e = entry(null, 'list', key, 'ann', 1000 + i);
      await s.commit(e.next, 0, e.events);
      rooms.set(key, e.next);
    }
    const other = entry(null, 'list2', 'a', 'ann');
    await s.commit(other.next, 0, other.events);
    for (const key of ['ab', 'zz']) {
      const room = rooms.get(key)!;
      const left = run(room, { type: 'leave', actor: room.members[0]!.userId });
      await s.commit(left.next, left.expected, left.events);
    }
    const b = rooms.get('b')!;
    const end = run(b, { type: 'close', emptySinceAtMost: null });
    await s.commit(end.next, end.expected, end.events);

    const running = keys.filter((k) => k !== 'b').sort(byBytes);
    const active = running.filter((k) => k !== 'ab' && k !== 'zz');
    const list = (activeOnly: boolean, prefix: string, offset = 0, limit = 100) => s.listRooms({ appId: 'list', activeOnly, prefix, offset, limit });

    const all = await list(false, '');
    assert.deepEqual(all.rooms.map((r) => r.roomUuid), running);
    assert.equal(all.total, running.length);
    const zz = all.rooms.find((r) => r.roomUuid === 'zz')!;
    assert.deepEqual(zz, { roomId: rooms.get('zz')!.roomId, roomUuid: 'zz', online: 0, ended: false, startTime: rooms.get('zz')!.startTime });
    assert.equal(all.rooms.find((r) => r.roomUuid === 'A')!.online, 1);
    assert.deepEqual((await list(true, '')).rooms.map((r) => r.roomUuid), active);

    const withA = running.filter((k) => k.startsWith('a'));
    assert.equal(withA.length, 7);
    const page = await list(false, 'a', 2, 3);
    assert.deepEqual(page.rooms.map((r) => r.roomUuid), withA.slice(2, 5));
    assert.equal(page.total, 7);
    // A prefix outside the Basic Multilingual Plane (two UTF-16 units, one character).
    assert.deepEqual((await list(false, '🎉')).rooms.map((r) => r.roomUuid), ['🎉x']);
    const activeA = await list(true, 'a', 1, 100);
    assert.deepEqual(activeA.rooms.map((r) => r.roomUuid), active.filter((k) => k.startsWith('a')).slice(1));
    assert.equal(activeA.total, 6);
    assert.deepEqual((await list(false, 'a_')).rooms.map((r) => r.roomUuid), ['a_c']);
    assert.deepEqual((await list(false, 'é')).rooms.map((r) => r.roomUuid), ['é']);
    assert.deepEqual((await list(false, 'aé')).rooms.map((r) => r.roomUuid), ['aé']);
    assert.deepEqual(await list(false, 'a', 50, 10), { rooms: [], total: 7 });
    assert.deepEqual(await list(false, 'c'), { rooms: [], total: 0 });
    assert.deepEqual(await list(false, 'b'), { rooms: [], total: 0 });
    assert.deepEqual((await list(false, '', 0, 2)).rooms.map((r) => r.roomUuid), running.slice(0, 2));
  });
}

/**
 * The contract between two stores on one backend, as two nodes of a cluster (or two processes on
 * one SQLite file) see it: what one commits, the other reads at once; racing writers, one winner.
 */
export function sharedStoreContract(name: string, makePair: () => Promise<[RoomStore, RoomStore]>, opts: ContractOptions = {}): void {
  const withPair = (title: string, fn: (a: RoomStore, b: RoomStore) => Promise<void>) =>
    test(`${name}: ${title}`, { skip: opts.skip }, async () => {
      const [a, b] = await makePair();
      try {
        await fn(a, b);
      } finally {
        await a.close();
        await b.close();
      }
    });

  withPair('what one store commits the other reads at once, even with the room cached', async (a, b) => {
    const first = entry(null, 'app1', 'standup', 'ann');
    await a.commit(first.next, 0, first.events);
    const id = first.next.roomId;
    assert.deepEqual(await b.loadRoom(id), first.next);
    assert.deepEqual(await b.findRunningRoom('app1', 'standup'), first.next);

    const second = entry(first.next, 'app1', 'standup', 'bob');
    await a.commit(second.next, second.expected, second.events);
    assert.deepEqual(await b.loadRoom(id), second.next);
    const third = entry(second.next, 'app1', 'standup', 'cat');
    await a.commit(third.next, third.expected, third.events);
    assert.deepEqual(await b.findRunningRoom('app1', 'standup'), third.next);
    assert.deepEqual((await b.eventsSince(id, 0, 100)).events, [...first.events, ...second.events, ...third.events]);
    assert.deepEqual((await b.listRooms({ appId: 'app1', activeOnly: true, prefix: 'st', offset: 0, limit: 10 })).rooms.map((r) => [r.roomId, r.online]), [[id, 3]]);

    // And back: b writes on the state it read, a reads it.
    const b1 = await b.loadRoom(id);
    const left = run(b1!, { type: 'leave', actor: b1!.members[1]!.userId });
    assert.deepEqual(await b.commit(left.next, left.expected, left.events), { ok: true });
    assert.deepEqual(await a.loadRoom(id), left.next);
    assert.deepEqual(await a.findRunningRoom('app1', 'standup'), left.next);

    const end = run(left.next, { type: 'close', emptySinceAtMost: null });
    await b.commit(end.next, end.expected, end.events);
    assert.equal(await a.findRunningRoom('app1', 'standup'), null);
    assert.deepEqual(await a.loadRoom(id), end.next);
    assert.deepEqual(await a.activeRoomIds(), []);
  });

  withPair('a meeting purged by one store is gone for the other, which has read it before', async (a, b) => {
    const first = entry(null, 'app1', 'gone', 'ann', 1000);
    await a.commit(first.next, 0, first.events);
    assert.deepEqual(await b.loadRoom(first.next.roomId), first.next);
    const end = run(first.next, { type: 'close', emptySinceAtMost: null }, 2000);
    await a.commit(end.next, end.expected, end.events);
    assert.deepEqual(await b.loadRoom(first.next.roomId), end.next);
    assert.equal(await a.purgeEnded(2000, 10), 1);
    assert.equal(await b.loadRoom(first.next.roomId), null);
    assert.deepEqual(await b.eventsSince(first.next.roomId, 0, 10), { events: [], oldestSeq: 0 });
    // Both purging (two nodes each running the timer): each meeting is deleted once.
    const more = [await endedMeeting(a, 'app1', 'x', 3000), await endedMeeting(b, 'app1', 'y', 3000)];
    const [na, nb] = await Promise.all([a.purgeEnded(3000, 10), b.purgeEnded(3000, 10)]);
    assert.equal(na + nb, 2);
    for (const room of more) {
      assert.equal(await a.loadRoom(room.roomId), null);
      assert.equal(await b.loadRoom(room.roomId), null);
    }
  });

  withPair('a key reused after its meeting ended elsewhere leads to the new meeting', async (a, b) => {
    const old = entry(null, 'app1', 'daily', 'ann');
    await a.commit(old.next, 0, old.events);
    assert.equal((await a.findRunningRoom('app1', 'daily'))?.roomId, old.next.roomId);
    const end = run(old.next, { type: 'close', emptySinceAtMost: null });
    await b.commit(end.next, end.expected, end.events);
    // The new meeting has the version a last saw of the old one.
    const renewed = entry(null, 'app1', 'daily', 'bob');
    await b.commit(renewed.next, 0, renewed.events);
    assert.deepEqual(await a.findRunningRoom('app1', 'daily'), renewed.next);
    assert.deepEqual(await a.loadRoom(old.next.roomId), end.next);
  });

  withPair('a reader many versions behind, or whose room changed members, reads the current state', async (a, b) => {
    const first = entry(null, 'app1', 'big', 'host');
    await a.commit(first.next, 0, first.events);
    let room = first.next;
    assert.deepEqual(await b.loadRoom(room.roomId), room);
    // Members join and leave; b reads a few versions behind, then further behind than any log of
    // recent changes a store might keep.
    for (let i = 0; i < 160; i++) {
      const leaver = room.members.find((m, j) => j > 0 && m.present);
      const e = i % 3 === 2 && leaver ? run(room, { type: 'leave', actor: leaver.userId }) : entry(room, 'app1', 'big', `u${i}`);
      assert.deepEqual(await a.commit(e.next, e.expected, e.events), { ok: true });
      room = e.next;
      if (i < 60 && i % 7 === 0) assert.deepEqual(await b.loadRoom(room.roomId), room);
    }
    assert.deepEqual(await b.loadRoom(room.roomId), room);
    const more = entry(room, 'app1', 'big', 'one-more');
    await a.commit(more.next, more.expected, more.events);
    room = more.next;
    // b writes on a's state, not on one it read itself; a, which knows the version before, reads it.
    const fromA = run(room, { type: 'leave', actor: room.members.find((m, j) => j > 0 && m.present)!.userId });
    assert.deepEqual(await b.commit(fromA.next, fromA.expected, fromA.events), { ok: true });
    assert.deepEqual(await a.loadRoom(room.roomId), fromA.next);
    assert.deepEqual(await b.loadRoom(room.roomId), fromA.next);
    room = fromA.next;
    // One member changed in a large room.
    const index = room.members.findIndex((m, j) => j >= 40 && m.present);
    const left = run(room, { type: 'leave', actor: room.members[index]!.userId });
    assert.deepEqual(await a.commit(left.next, left.expected, left.events), { ok: true });
    const read = await b.loadRoom(room.roomId);
    assert.deepEqual(read, left.next);
    assert.equal(read!.members[index]!.present, false);
    // b writes on what it read; a, which wrote the version before, reads b's.
    const back = entry(read!, 'app1', 'big', 'late');
    assert.deepEqual(await b.commit(back.next, back.expected, back.events), { ok: true });
    assert.deepEqual(await a.loadRoom(room.roomId), back.next);
  });

  withPair('members changed in a 100-member meeting persist, seen by a store that never loaded it', async (a, b) => {
    let room: Room | null = null;
    for (let i = 0; i < 100; i++) {
      const e = entry(room, 'app1', 'hundred', `m${i}`);
      assert.equal((await a.commit(e.next, e.expected, e.events)).ok, true);
      room = e.next;
    }
    const left = run(room!, { type: 'leave', actor: room!.members[57]!.userId });
    await a.commit(left.next, left.expected, left.events);
    const read = await b.loadRoom(room!.roomId);
    assert.deepEqual(read, left.next);
    assert.equal(read!.members.length, 100);
    assert.deepEqual(read!.members.filter((m) => !m.present).map((m) => m.userUuid), ['m57']);
  });

  withPair('racing commits on one room: exactly one wins each version', async (a, b) => {
    const first = entry(null, 'app1', 'race', 'host');
    await a.commit(first.next, 0, first.events);
    const id = first.next.roomId;
    const winners: string[] = [];
    for (let round = 0; round < 50; round++) {
      const [ra, rb] = await Promise.all([a.loadRoom(id), b.loadRoom(id)]);
      assert.equal(ra!.version, rb!.version);
      const ea = entry(ra, 'app1', 'race', `a${round}`);
      const eb = entry(rb, 'app1', 'race', `b${round}`);
      const [xa, xb] = await Promise.all([a.commit(ea.next, ea.expected, ea.events), b.commit(eb.next, eb.expected, eb.events)]);
      const won = [xa, xb].filter((x) => x.ok);
      assert.equal(won.length, 1, `round ${round}: ${JSON.stringify([xa, xb])}`);
      assert.deepEqual(xa.ok ? xb : xa, { ok: false, reason: 'conflict' });
      winners.push(xa.ok ? `a${round}` : `b${round}`);
    }
    for (const s of [a, b]) {
      const room = await s.loadRoom(id);
      assert.deepEqual(room!.members.map((m) => m.userUuid), ['host', ...winners]);
      assert.equal(room!.version, 51);
      const seqs = (await s.eventsSince(id, 0, 1000)).events.map((e) => e.seq);
      assert.deepEqual(seqs, Array.from({ length: room!.seq }, (_, i) => i + 1));
    }
  });

  withPair('racing first entries into one key create one meeting', async (a, b) => {
    for (let round = 0; round < 20; round++) {
      const key = `dup-${round}`;
      const x = entry(null, 'app1', key, 'ann');
      const y = entry(null, 'app1', key, 'bob');
      const [rx, ry] = await Promise.all([a.commit(x.next, 0, x.events), b.commit(y.next, 0, y.events)]);
      assert.equal([rx, ry].filter((r) => r.ok).length, 1, `round ${round}: ${JSON.stringify([rx, ry])}`);
      assert.deepEqual(rx.ok ? ry : rx, { ok: false, reason: 'duplicateRoom' });
      const winner = rx.ok ? x.next : y.next;
      const loser = rx.ok ? y.next : x.next;
      assert.equal((await a.findRunningRoom('app1', key))?.roomId, winner.roomId);
      assert.equal((await b.findRunningRoom('app1', key))?.roomId, winner.roomId);
      assert.equal(await a.loadRoom(loser.roomId), null);
      assert.deepEqual((await b.eventsSince(loser.roomId, 0, 10)).events, []);
    }
    assert.equal((await a.listRooms({ appId: 'app1', activeOnly: false, prefix: 'dup-', offset: 0, limit: 100 })).total, 20);
    assert.equal((await a.activeRoomIds()).length, 20);
  });

  withPair('apps, access keys and meta values are shared', async (a, b) => {
    // Another writer's change to an app is seen from the next event-loop turn on (SQLite checks
    // other connections' writes once per turn, for rooms and apps alike).
    const nextTurn = () => new Promise((r) => setImmediate(r));
    const app = newApp({ appId: 'd'.repeat(32), owner: 'ak1', title: 'one' }, 1);
    await a.putApp(app);
    await nextTurn();
    assert.deepEqual(await b.getApp(app.appId), app);
    await a.putApp({ ...app, title: 'two' });
    await nextTurn();
    assert.equal((await b.getApp(app.appId))?.title, 'two');
    assert.deepEqual((await b.listApps('ak1')).map((x) => x.title), ['two']);
    assert.equal(await a.deleteApp(app.appId), true);
    await nextTurn();
    assert.equal(await b.getApp(app.appId), null);
    assert.equal(await b.deleteApp(app.appId), false);
    assert.deepEqual(await b.listApps(null), []);

    await a.putAccessKey({ accessKey: 'ak1', secretKey: 'sk1', createdAt: 1 });
    assert.deepEqual(await b.getAccessKey('ak1'), { accessKey: 'ak1', secretKey: 'sk1', createdAt: 1 });
    assert.deepEqual((await b.listAccessKeys()).map((k) => k.accessKey), ['ak1']);
    assert.equal(await b.deleteAccessKey('ak1'), true);
    assert.equal(await a.getAccessKey('ak1'), null);
    assert.deepEqual(await a.listAccessKeys(), []);

    assert.equal(await a.setMetaIfAbsent('secret', 'from-a'), 'from-a');
    assert.equal(await b.getMeta('secret'), 'from-a');
    assert.equal(await b.setMetaIfAbsent('secret', 'from-b'), 'from-a');
    // Racing first writers agree on one value.
    const [x, y] = await Promise.all([a.setMetaIfAbsent('race', 'x'), b.setMetaIfAbsent('race', 'y')]);
    assert.equal(x, y);
  });

  withPair('two stores (nodes) reserve disjoint blocks of one app\'s uids', async (a, b) => {
    const firsts = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).reserveUids('shared', 256)));
    assert.deepEqual([...firsts].sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => 1 + 256 * i));
    assert.equal(await b.reserveUids('shared', 1), 1 + 256 * 30);
  });
}
