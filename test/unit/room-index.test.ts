// The room's lookups and counts (positions by userId/userUuid, head count, host, the members a
// commit must write) are kept without passes over the members; checked here against the plain
// definitions over long random runs, with batches handing their drafts on (decide's `reuse`) as the
// meeting service does, refused decisions in the middle, and a stored copy that must never change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, RuleError } from '../../src/domain/rules.ts';
import type { Command, EntryPolicy } from '../../src/domain/commands.ts';
import { changedPositions, currentHost, findByUuid, findMember, onlineCount, saved, type Member, type Room } from '../../src/domain/room.ts';

const policy: EntryPolicy = { maxUsers: 40, noAutoKickUser: false };

/** A small deterministic generator (mulberry32), so that a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let ids = 0;
function randomCommand(room: Room | null, r: () => number): Command {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const present = room ? room.members.filter((m) => m.present) : [];
  const anyone = (): string => (present.length > 0 && r() < 0.9 ? pick(present).userId : `nobody-${ids}`);
  const k = r();
  if (!room || k < 0.4) {
    ids++;
    return {
      type: 'enter',
      appId: 'app',
      roomUuid: 'r',
      roomName: 'R',
      password: '',
      // Some come back (same userUuid): they keep their place.
      userUuid: `u${Math.floor(r() * 60)}`,
      audio: r() < 0.5,
      video: false,
      policy,
      fresh: { roomId: 'room', boardId: 'board', uid: 2 * ids + 1, session: `s${ids}` },
    };
  }
  if (k < 0.55) return { type: 'leave', actor: anyone() };
  if (k < 0.65) return { type: 'presenceExpired', target: anyone(), httpOnlyStays: r() < 0.5 };
  if (k < 0.75) return { type: 'kick', actor: r() < 0.5 ? null : anyone(), target: anyone() };
  if (k < 0.85) return { type: 'transferHost', actor: anyone(), target: anyone() };
  if (k < 0.95) return { type: 'chat', actor: anyone(), message: 'hi', chatType: 1 };
  return { type: 'realtimeConnected', actor: anyone(), session: 'x' };
}

/** The plain definitions, by passes over every member. */
function expected(room: Room) {
  const present = room.members.filter((m) => m.present);
  return { online: present.length, host: present.find((m) => m.role === 'host')?.userId };
}

function checkIndex(room: Room, where: string): void {
  const want = expected(room);
  assert.equal(onlineCount(room), want.online, `${where}: head count`);
  assert.equal(currentHost(room)?.userId, want.host, `${where}: host`);
  for (const m of room.members) {
    assert.equal(findMember(room, m.userId), m, `${where}: by userId`);
    assert.equal(findByUuid(room, m.userUuid), m, `${where}: by userUuid`);
  }
  assert.equal(findMember(room, 'nobody'), undefined);
}

for (const seed of [1, 2, 3, 4, 5]) {
  test(`lookups, counts and the members to write stay exact over a random run (seed ${seed})`, () => {
    const r = rng(seed);
    // What the store holds: the members as of the last commit, serialised (as a store would).
    let stored: Room | null = null;
    let storedMembers: string[] = [];
    let refusals = 0;
    let handedOn = 0;
    for (let batchNo = 0; batchNo < 150; batchNo++) {
      // A batch decides several commands in a row on one chain of drafts, then commits once.
      let current: Room | null = stored;
      const frozen: string = stored ? JSON.stringify(stored.members) : '';
      const size = 1 + Math.floor(r() * 8);
      for (let i = 0; i < size; i++) {
        const before: string = current ? JSON.stringify(current.members) : '';
        const reuse = current !== stored;
        const d = decide(current, randomCommand(current, r), 1000 + batchNo, reuse);
        if (d instanceof RuleError || (d.events.length === 0 && !d.changed)) {
          refusals++;
          // A refused (or empty) decision leaves the room it was given as it was, handed over or not.
          if (current) assert.equal(JSON.stringify(current.members), before, 'a refused decision changed nothing');
          if (!(d instanceof RuleError)) assert.equal(d.room, current);
          continue;
        }
        if (reuse) handedOn++;
        current = d.room;
        checkIndex(current, `batch ${batchNo} command ${i}`);
      }
      // The stored room is never touched by the batch's drafts.
      if (stored) assert.equal(JSON.stringify(stored.members), frozen, 'the stored room is unchanged');
      if (!current || current === stored) continue;
      // The commit writes only the positions the draft names: the result must equal all members.
      const changed = changedPositions(current);
      assert.ok(changed, 'a draft knows what it changed');
      const next = storedMembers.slice();
      for (const i of changed) if (i < current.members.length) next[i] = JSON.stringify(current.members[i]);
      next.length = current.members.length;
      assert.deepEqual(next, current.members.map((m: Member) => JSON.stringify(m)), `batch ${batchNo}: the positions written cover every change`);
      saved(current);
      stored = current;
      storedMembers = next;
      // A room as a store loads it (new objects, no history) gives the same answers.
      const loaded: Room = { ...current, members: current.members.map((m: Member) => ({ ...m })) };
      checkIndex(loaded, `batch ${batchNo} reloaded`);
    }
    assert.ok(refusals > 50 && handedOn > 100, `the run covers refusals (${refusals}) and handed-on drafts (${handedOn})`);
  });
}

test('two drafts from the same room (two nodes deciding on one version) do not disturb each other', () => {
  let room: Room | null = null;
  for (let i = 0; i < 5; i++) {
    const d = decide(room, { type: 'enter', appId: 'a', roomUuid: 'r', roomName: 'R', password: '', userUuid: `u${i}`, audio: false, video: false, policy, fresh: { roomId: 'room', boardId: 'b', uid: 2 * i + 1, session: `s${i}` } }, 1);
    assert.ok(!(d instanceof RuleError));
    room = d.room;
  }
  const base = room!;
  const enter = (uuid: string, uid: number) => decide(base, { type: 'enter', appId: 'a', roomUuid: 'r', roomName: 'R', password: '', userUuid: uuid, audio: false, video: false, policy, fresh: { roomId: 'room', boardId: 'b', uid, session: uuid } }, 2);
  const a = enter('x', 101);
  const b = enter('y', 103);
  assert.ok(!(a instanceof RuleError) && !(b instanceof RuleError));
  // Both appended at the same position; each finds its own and not the other's.
  assert.equal(findMember(a.room, '101')?.userUuid, 'x');
  assert.equal(findMember(a.room, '103'), undefined);
  assert.equal(findMember(b.room, '103')?.userUuid, 'y');
  assert.equal(findMember(b.room, '101'), undefined);
  assert.equal(findByUuid(b.room, 'x'), undefined);
  assert.equal(onlineCount(a.room), 6);
  assert.equal(onlineCount(b.room), 6);
  assert.equal(onlineCount(base), 5);
  assert.equal(base.members.length, 5);
});
