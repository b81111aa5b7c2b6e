// Breakout rooms' pure rules (domain/breakouts.ts): the round in the main meeting, and a breakout's
// own commands; every step may run twice and changes nothing the second time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, RuleError, type Decision } from '../../src/domain/rules.ts';
import type { Command, RoomCommand } from '../../src/domain/commands.ts';
import { presentMembers, type Room } from '../../src/domain/room.ts';
import type { BreakoutsAction } from '../../src/domain/breakouts.ts';

let n = 0;
function enter(room: Room | null, userUuid: string): Room {
  n++;
  const cmd: Command = {
    type: 'enter', appId: 'app', roomUuid: 'r', roomName: 'R', password: '', userUuid, audio: false, video: false,
    policy: { maxUsers: 0, noAutoKickUser: false },
    fresh: { roomId: 'main', boardId: 'b', uid: 2 * n + 1, session: `s${n}` },
  };
  return ok(decide(room, cmd, 1000)).room;
}
function ok(d: Decision | RuleError): Decision {
  if (d instanceof RuleError) throw d;
  return d;
}
const run = (room: Room | null, cmd: RoomCommand, now = 5000) => decide(room, cmd, now);
const step = (actor: string | null, what: BreakoutsAction): RoomCommand => ({ type: 'breakouts', actor, do: what });

function mainOf(count: number): { room: Room; host: string; others: string[] } {
  let room: Room | null = null;
  for (let i = 0; i < count; i++) room = enter(room, `u${i}`);
  const [host, ...others] = presentMembers(room!).map((m) => m.userId);
  return { room: room!, host: host!, others };
}
const open = (names: string[], extra: Partial<Extract<BreakoutsAction, { action: 'open' }>> = {}): BreakoutsAction => ({
  action: 'open', names, assignment: 'random', durationMs: 60_000,
  fresh: { round: 'r1', roomIds: names.map((_, i) => `b${i}`), seed: 42 }, ...extra,
});

test('random assignment deals the participants evenly, the same for the same seed; hosts stay', () => {
  const { room, host, others } = mainOf(31);
  const d = ok(run(room, step(host, open(['a', 'b', 'c', 'd', 'e']))));
  const placed = d.room.breakouts!.placed;
  assert.equal(placed[host], undefined);
  assert.deepEqual(Object.keys(placed).sort(), [...others].sort());
  const sizes = ['b0', 'b1', 'b2', 'b3', 'b4'].map((r) => Object.values(placed).filter((x) => x === r).length);
  assert.deepEqual(sizes, [6, 6, 6, 6, 6]);
  assert.deepEqual(ok(run(room, step(host, open(['a', 'b', 'c', 'd', 'e'])))).room.breakouts!.placed, placed, 'pure: same seed, same deal');
  const other = ok(run(room, step(host, open(['a', 'b', 'c', 'd', 'e'], { fresh: { round: 'r1', roomIds: ['b0', 'b1', 'b2', 'b3', 'b4'], seed: 7 } })))).room.breakouts!.placed;
  assert.notDeepEqual(other, placed, 'another seed, another deal');
  assert.equal(d.room.breakouts!.endsAt, 5000 + 60_000);
  assert.equal(d.events[0]!.type, 'breakoutsChanged');
  // The same round again: nothing; another while open: busy; a participant: forbidden.
  assert.equal(ok(run(d.room, step(host, open(['a'])))).events.length, 0);
  assert.equal((run(d.room, step(host, open(['a'], { fresh: { round: 'r2', roomIds: ['x'], seed: 1 } }))) as RuleError).code, 'busy');
  assert.equal((run(room, step(others[0]!, open(['a']))) as RuleError).code, 'forbidden');
});

test('manual, choose, move, extend, close and the timer that checks the stored end', () => {
  const { room, host, others } = mainOf(4);
  const [a, b, c] = others as [string, string, string];
  const m = ok(run(room, step(host, open(['x', 'y'], { assignment: 'manual', manual: { [a]: 0, [b]: 1 } })))).room;
  assert.deepEqual(m.breakouts!.placed, { [a]: 'b0', [b]: 'b1' });
  assert.equal((run(m, step(c, { action: 'move', target: c, to: 'b0' })) as RuleError).code, 'forbidden', 'members choose only in choose');
  assert.deepEqual(ok(run(m, step(a, { action: 'move', target: a, to: '' }))).room.breakouts!.placed, { [b]: 'b1' }, 'anyone may go back by itself');
  assert.equal((run(m, step(a, { action: 'move', target: b, to: '' })) as RuleError).code, 'forbidden');
  const moved = ok(run(m, step(host, { action: 'move', target: a, to: 'b1' })));
  assert.deepEqual(moved.room.breakouts!.placed, { [a]: 'b1', [b]: 'b1' });
  assert.equal(moved.room.breakouts!.rev, m.breakouts!.rev + 1, 'every change of the round is a new revision');
  assert.equal(ok(run(moved.room, step(host, { action: 'move', target: a, to: 'b1' }))).events.length, 0, 'a move done is done');
  const back = ok(run(moved.room, step(host, { action: 'move', target: a, to: 'main' }))).room;
  assert.deepEqual(back.breakouts!.placed, { [b]: 'b1' });
  const ext = ok(run(back, step(host, { action: 'extend', byMs: 30_000 }))).room;
  assert.equal(ext.breakouts!.endsAt, 5000 + 60_000 + 30_000);
  // The timer before the stored end changes nothing; after it, the round closes once.
  assert.equal(ok(run(ext, step(null, { action: 'expire' }), 70_000)).events.length, 0);
  const closing = ok(run(ext, step(null, { action: 'expire' }), 95_000)).room;
  assert.equal(closing.breakouts!.closing, true);
  assert.equal(ok(run(closing, step(null, { action: 'expire' }), 96_000)).events.length, 0);
  const done = ok(run(closing, step(null, { action: 'finish', round: 'r1' })));
  assert.equal(done.room.breakouts, undefined);
  assert.equal(ok(run(done.room, step(null, { action: 'finish', round: 'r1' }))).events.length, 0);
  // Choose: a member picks its own room.
  const ch = ok(run(room, step(host, open(['x'], { assignment: 'choose' })))).room;
  assert.deepEqual(ok(run(ch, step(c, { action: 'move', target: c, to: 'b0' }))).room.breakouts!.placed, { [c]: 'b0' });
});

test("a breakout seats, unseats toward a destination, ends; steps of another round do nothing; it cannot be entered", () => {
  const of = { mainRoomId: 'main', round: 'r1', name: 'x', endsAt: 9000 };
  const made = ok(run(null, { type: 'openBreakout', appId: 'app', roomUuid: 'breakout:r1:1', roomId: 'b0', boardId: 'bd', password: '', of })).room;
  assert.equal(made.breakoutOf?.mainRoomId, 'main');
  const seat = { userId: '7', userUuid: 'u7', userName: 'U7', avatar: '', role: 'participant' as const, uid: 7, screenId: 8, session: 's7', realtime: true, audio: false, video: false };
  const seated = ok(run(made, { type: 'seatBreakout', round: 'r1', rev: 1, seats: [seat] })).room;
  assert.equal(presentMembers(seated).length, 1);
  assert.equal(ok(run(seated, { type: 'seatBreakout', round: 'r1', rev: 1, seats: [seat] })).events.length, 0, 'seated once');
  assert.equal(ok(run(seated, { type: 'seatBreakout', round: 'r0', rev: 1, seats: [] })).events.length, 0);
  const left = ok(run(seated, { type: 'unseatBreakout', round: 'r1', rev: 1, keep: [], to: { '7': 'b1' }, mainRoomId: 'main' }));
  const e = left.events[0]!;
  assert.ok(e.type === 'membersChanged' && e.changes[0]!.why === 'moved' && e.changes[0]!.to === 'b1');
  const ended = ok(run(seated, { type: 'endBreakout', round: 'r1' })).room;
  assert.equal(ended.ended, true);
  assert.equal(ok(run(ended, { type: 'endBreakout', round: 'r1' })).events.length, 0);
  const entry = decide(seated, { type: 'enter', appId: 'app', roomUuid: 'breakout:r1:1', roomName: 'x', password: '', userUuid: 'z', audio: false, video: false, policy: { maxUsers: 0, noAutoKickUser: false }, fresh: { roomId: 'q', boardId: 'q', uid: 99, session: 'q' } }, 1);
  assert.equal((entry as RuleError).code, 'forbidden');
  // A step made from an older revision of the round than one applied (a slow sync): ignored.
  const at3 = ok(run(seated, { type: 'breakoutTimer', round: 'r1', rev: 3, endsAt: 9000 })).room;
  assert.equal(at3.breakoutOf!.rev, 3, 'a newer revision is recorded, though nothing else changed');
  assert.equal(ok(run(at3, { type: 'unseatBreakout', round: 'r1', rev: 2, keep: [], to: {}, mainRoomId: 'main' })).events.length, 0);
  assert.equal(ok(run(at3, { type: 'unseatBreakout', round: 'r1', rev: 3, keep: [], to: {}, mainRoomId: 'main' })).events.length, 1);
  // The empty-room timer leaves a breakout alone.
  const empty = ok(run(seated, { type: 'unseatBreakout', round: 'r1', rev: 1, keep: [], to: {}, mainRoomId: 'main' })).room;
  assert.equal(ok(run(empty, { type: 'close', emptySinceAtMost: 1e12 })).events.length, 0);
});
