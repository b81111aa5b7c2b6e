// The pure rules: decide(room, command, now) with no I/O. Rooms are built by feeding entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, MAX_CHAT_RESTATED, RuleError, type Decision } from '../../src/domain/rules.ts';
import type { Command, EntryPolicy, RoomCommand } from '../../src/domain/commands.ts';
import type { Room } from '../../src/domain/room.ts';
import { currentHost, presentMembers } from '../../src/domain/room.ts';

let seqNo = 0;
const free: EntryPolicy = { maxUsers: 0, noAutoKickUser: false };

function enter(room: Room | null, userUuid: string, opts: { policy?: EntryPolicy; password?: string; audio?: boolean; now?: number } = {}) {
  seqNo++;
  const cmd: Command = {
    type: 'enter',
    appId: 'app',
    roomUuid: 'r',
    roomName: 'R',
    password: opts.password ?? '',
    userUuid,
    userName: userUuid.toUpperCase(),
    avatar: '',
    audio: opts.audio ?? true,
    video: true,
    policy: opts.policy ?? free,
    fresh: { roomId: 'room0000000000000000000', boardId: 'board', uid: 2 * seqNo + 1, session: `secret-${seqNo}` },
  };
  return decide(room, cmd, opts.now ?? 1000 + seqNo);
}

function ok(d: Decision | RuleError): Decision {
  if (d instanceof RuleError) throw d;
  return d;
}

function refused(d: Decision | RuleError, code: string) {
  assert.ok(d instanceof RuleError, 'expected a refusal');
  assert.equal(d.code, code);
}

/** A room with the given members entered in order; the first is host. */
function roomOf(...uuids: string[]): Room {
  let room: Room | null = null;
  for (const u of uuids) room = ok(enter(room, u)).room;
  return room!;
}

const id = (room: Room, uuid: string) => room.members.find((m) => m.userUuid === uuid)!.userId;
const run = (room: Room, cmd: RoomCommand, now = 5000) => decide(room, cmd, now);
const deepFreeze = <T>(o: T): T => {
  if (o && typeof o === 'object') {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
};

test('the first to enter is host; others are participants with unique uids', () => {
  const room = roomOf('ann', 'bob', 'cat');
  assert.equal(currentHost(room)?.userUuid, 'ann');
  assert.deepEqual(room.members.map((m) => m.role), ['host', 'participant', 'participant']);
  const ids = room.members.flatMap((m) => [m.uid, m.screenId]);
  assert.equal(new Set(ids).size, ids.length);
  for (const x of ids) assert.ok(x >= 1 && x <= 2 ** 31 - 1);
});

test('re-entry with the same userUuid is the same member with a new session', () => {
  const room = roomOf('ann', 'bob');
  const bob = room.members[1]!;
  const d = ok(enter(room, 'bob'));
  const again = d.room.members.find((m) => m.userUuid === 'bob')!;
  assert.equal(again.userId, bob.userId);
  assert.equal(again.uid, bob.uid);
  assert.equal(again.screenId, bob.screenId);
  assert.notEqual(again.session, bob.session);
  assert.deepEqual(d.events.map((e) => e.type), ['memberChanged']);
  assert.equal(presentMembers(d.room).length, 2);
  refused(enter(room, 'bob', { policy: { maxUsers: 0, noAutoKickUser: true } }), 'duplicateLogin');
});

test('a returning member keeps its ids; a full room refuses newcomers', () => {
  const room = roomOf('ann', 'bob');
  const left = ok(run(room, { type: 'leave', actor: id(room, 'bob') })).room;
  const back = ok(enter(left, 'bob')).room;
  assert.equal(id(back, 'bob'), id(room, 'bob'));
  assert.equal(back.members.length, 2);
  refused(enter(room, 'cat', { policy: { maxUsers: 2, noAutoKickUser: false } }), 'roomFull');
  ok(enter(left, 'cat', { policy: { maxUsers: 2, noAutoKickUser: false } }));
});

test('a room password must match', () => {
  const room = ok(enter(null, 'ann', { password: 'pw' })).room;
  refused(enter(room, 'bob', { password: 'nope' }), 'wrongPassword');
  refused(enter(room, 'bob'), 'wrongPassword');
  ok(enter(room, 'bob', { password: 'pw' }));
});

test('host leaving or kicked: host passes to the earliest-joined present member', () => {
  const room = roomOf('ann', 'bob', 'cat');
  const d = ok(run(room, { type: 'leave', actor: id(room, 'ann') }));
  assert.equal(currentHost(d.room)?.userUuid, 'bob');
  const hc = d.events.find((e) => e.type === 'hostChanged');
  assert.ok(hc && hc.type === 'hostChanged');
  assert.deepEqual(hc.changes.map((c) => [c.member.userUuid, c.present]), [['ann', false], ['bob', true]]);
  assert.deepEqual(d.events.map((e) => e.type), ['membersChanged', 'hostChanged']);
  // The server kicks the host (admin API): same succession, kick event first.
  const k = ok(run(room, { type: 'kick', actor: null, target: id(room, 'ann') }));
  assert.deepEqual(k.events.map((e) => e.type), ['memberKicked', 'membersChanged', 'hostChanged']);
  assert.equal(currentHost(k.room)?.userUuid, 'bob');
  // After a host transfer, succession follows join order, not the previous host.
  const t = ok(run(room, { type: 'transferHost', actor: id(room, 'ann'), target: id(room, 'cat') })).room;
  const t2 = ok(run(t, { type: 'leave', actor: id(room, 'cat') })).room;
  assert.equal(currentHost(t2)?.userUuid, 'ann');
});

test('the last member leaving marks the room empty; close ends it only if still empty', () => {
  const room = roomOf('ann');
  const empty = ok(run(room, { type: 'leave', actor: id(room, 'ann') }, 7000)).room;
  assert.equal(empty.emptySince, 7000);
  assert.equal(ok(run(empty, { type: 'close', emptySinceAtMost: 6999 })).events.length, 0);
  const back = ok(enter(empty, 'bob')).room;
  assert.equal(back.emptySince, null);
  assert.equal(ok(run(back, { type: 'close', emptySinceAtMost: 9000 })).events.length, 0);
  const closed = ok(run(empty, { type: 'close', emptySinceAtMost: 7000 }));
  assert.equal(closed.room.ended, true);
});

test('mute all audio: 1 lets participants unmute, 2 forbids it, host untouched', () => {
  for (const level of [1, 2] as const) {
    const room = roomOf('ann', 'bob');
    const d = ok(run(room, { type: 'changeRoom', actor: id(room, 'ann'), muteAllAudio: level }));
    assert.deepEqual(d.events.map((e) => e.type), ['roomChanged']);
    assert.equal(d.room.members[0]!.audio, true);
    assert.equal(d.room.members[1]!.audio, false);
    const un = run(d.room, { type: 'changeMember', actor: id(room, 'bob'), target: id(room, 'bob'), audio: true });
    if (level === 1) assert.equal(ok(un).room.members[1]!.audio, true);
    else refused(un, 'unmuteForbidden');
    // Muting oneself is always allowed.
    ok(run(d.room, { type: 'changeMember', actor: id(room, 'bob'), target: id(room, 'bob'), video: false }));
    const entering = ok(enter(d.room, 'cat', { audio: true })).room;
    assert.equal(entering.members[2]!.audio, false);
  }
});

test('mute all chat blocks participants, not the host; a disabled member cannot chat', () => {
  const base = roomOf('ann', 'bob');
  for (const level of [0, 1, 2] as const) {
    const r = ok(run(base, { type: 'changeRoom', actor: id(base, 'ann'), muteAllChat: level })).room;
    ok(run(r, { type: 'chat', actor: id(base, 'ann'), message: 'hi', chatType: 1 }));
    const p = run(r, { type: 'chat', actor: id(base, 'bob'), message: 'hi', chatType: 1 });
    if (level === 0) ok(p);
    else refused(p, 'chatMuted');
  }
  const off = ok(run(base, { type: 'changeMember', actor: id(base, 'ann'), target: id(base, 'bob'), chat: false })).room;
  refused(run(off, { type: 'chat', actor: id(base, 'bob'), message: 'hi', chatType: 1 }), 'chatMuted');
  refused(run(off, { type: 'changeMember', actor: id(base, 'bob'), target: id(base, 'bob'), chat: true }), 'forbidden');
});

test('screen share: one at a time, stops when the sharer leaves', () => {
  const room = roomOf('ann', 'bob', 'cat');
  const s = ok(run(room, { type: 'shareScreen', actor: id(room, 'bob'), target: id(room, 'bob'), on: true }));
  // The sharer's state before the share (the Web client's order).
  assert.deepEqual(s.events.map((e) => e.type), ['memberChanged', 'screenChanged']);
  refused(run(s.room, { type: 'shareScreen', actor: id(room, 'cat'), target: id(room, 'cat'), on: true }), 'busy');
  refused(run(s.room, { type: 'shareScreen', actor: id(room, 'cat'), target: id(room, 'bob'), on: false }), 'forbidden');
  const left = ok(run(s.room, { type: 'leave', actor: id(room, 'bob') }));
  assert.deepEqual(left.events.map((e) => e.type), ['membersChanged', 'screenChanged']);
  assert.equal(left.room.screenSharerId, '');
  ok(run(left.room, { type: 'shareScreen', actor: id(room, 'cat'), target: id(room, 'cat'), on: true }));
});

test("a new member's userId is its uid in decimal; its screenId is uid + 1", () => {
  const room = roomOf('ann', 'bob');
  for (const m of room.members) {
    assert.equal(m.userId, String(m.uid));
    assert.equal(m.screenId, m.uid + 1);
  }
});

test("the board's creator answers board applications (invite/reject and grant), nothing else, and only while it is shared", () => {
  const room = roomOf('ann', 'bob', 'cat');
  const [bob, cat] = [id(room, 'bob'), id(room, 'cat')];
  const shared = ok(run(room, { type: 'shareBoard', actor: bob, target: bob, on: true })).room;
  const reject = ok(run(shared, { type: 'invite', actor: bob, target: cat, module: 'board', action: 'rejectApply' }));
  assert.deepEqual(reject.events.map((e) => [e.type, 'to' in e ? e.to : null]), [['invited', cat]]);
  ok(run(shared, { type: 'invite', actor: bob, target: cat, module: 'board', action: 'invite' }));
  refused(run(shared, { type: 'invite', actor: bob, target: cat, module: 'audio', action: 'invite' }), 'forbidden');
  refused(run(shared, { type: 'invite', actor: cat, target: bob, module: 'board', action: 'rejectApply' }), 'forbidden');
  const grant = ok(run(shared, { type: 'changeMember', actor: bob, target: cat, boardGrant: true }));
  assert.deepEqual(grant.events.map((e) => e.type), ['memberChanged', 'boardChanged', 'noticed']);
  assert.equal(grant.room.members.find((m) => m.userId === cat)!.boardGrant, true);
  ok(run(grant.room, { type: 'changeMember', actor: bob, target: cat, boardGrant: false }));
  refused(run(shared, { type: 'changeMember', actor: bob, target: cat, boardGrant: true, audio: false }), 'forbidden');
  refused(run(shared, { type: 'changeMember', actor: cat, target: bob, boardGrant: false }), 'forbidden');
  const stopped = ok(run(shared, { type: 'shareBoard', actor: bob, target: bob, on: false })).room;
  refused(run(stopped, { type: 'invite', actor: bob, target: cat, module: 'board', action: 'rejectApply' }), 'forbidden');
  refused(run(stopped, { type: 'changeMember', actor: bob, target: cat, boardGrant: true }), 'forbidden');
});

test("chat reopened for everyone restates each present participant whose chat is on (Android's lists), in join order", () => {
  let room = roomOf('ann', 'bob', 'cat', 'dan');
  const ann = id(room, 'ann');
  room = ok(run(room, { type: 'changeMember', actor: ann, target: id(room, 'cat'), chat: false })).room;
  room = ok(run(room, { type: 'leave', actor: id(room, 'dan') })).room;
  const muted = ok(run(room, { type: 'changeRoom', actor: ann, muteAllChat: 1 }));
  assert.deepEqual(muted.events.map((e) => e.type), ['roomChanged']);
  const again = ok(run(muted.room, { type: 'changeRoom', actor: ann, muteAllChat: 2 }));
  assert.deepEqual(again.events.map((e) => e.type), ['roomChanged'], 'from one mute level to another: nothing restated');
  const reopened = ok(run(again.room, { type: 'changeRoom', actor: ann, muteAllChat: 0 }));
  assert.deepEqual(
    reopened.events.map((e) => (e.type === 'memberChanged' ? [e.type, e.member.userUuid, e.member.chat] : [e.type])),
    [['roomChanged'], ['memberChanged', 'bob', true]],
  );
  const open = ok(run(room, { type: 'changeRoom', actor: ann, muteAllChat: 0 }));
  assert.deepEqual(open.events.map((e) => e.type), ['roomChanged'], 'already open: nothing restated');
  let big = roomOf('ann');
  for (let i = 0; i <= MAX_CHAT_RESTATED; i++) big = ok(enter(big, `p${i}`)).room;
  const bigHost = id(big, 'ann');
  const bigMuted = ok(run(big, { type: 'changeRoom', actor: bigHost, muteAllChat: 1 })).room;
  const bigOpen = ok(run(bigMuted, { type: 'changeRoom', actor: bigHost, muteAllChat: 0 }));
  assert.deepEqual(bigOpen.events.map((e) => e.type), ['roomChanged'], `over ${MAX_CHAT_RESTATED} participants: no burst`);
});

test('board: start, grant, revoke, and stop when its creator leaves', () => {
  const room = roomOf('ann', 'bob', 'cat');
  const b = ok(run(room, { type: 'shareBoard', actor: id(room, 'bob'), target: id(room, 'bob'), on: true })).room;
  assert.equal(b.boardCreatorId, id(room, 'bob'));
  const g = ok(run(b, { type: 'shareBoard', actor: id(room, 'bob'), target: id(room, 'cat'), on: true }));
  assert.deepEqual(g.events.map((e) => e.type), ['boardChanged', 'memberChanged']);
  const ev = g.events[0]!;
  assert.ok(ev.type === 'boardChanged');
  assert.deepEqual(ev.users.map((u) => u.userUuid).sort(), ['bob', 'cat']);
  refused(run(g.room, { type: 'shareBoard', actor: id(room, 'cat'), target: id(room, 'bob'), on: false }), 'forbidden');
  const gone = ok(run(g.room, { type: 'leave', actor: id(room, 'bob') }));
  assert.equal(gone.room.boardShared, false);
  assert.ok(gone.room.members.every((m) => !m.boardGrant));
});

test('ending the meeting removes everyone and refuses everything after, except leaving', () => {
  const room = roomOf('ann', 'bob');
  refused(run(room, { type: 'changeRoom', actor: id(room, 'bob'), end: true }), 'forbidden');
  const end = ok(run(room, { type: 'changeRoom', actor: id(room, 'ann'), end: true }));
  assert.equal(end.room.ended, true);
  assert.equal(presentMembers(end.room).length, 0);
  const ev = end.events.at(-1)!;
  assert.ok(ev.type === 'roomChanged' && ev.ended);
  refused(run(end.room, { type: 'chat', actor: id(room, 'ann'), message: 'x', chatType: 1 }), 'ended');
  refused(run(end.room, { type: 'kick', actor: null, target: id(room, 'bob') }), 'ended');
  refused(enter(end.room, 'cat'), 'ended');
  assert.equal(ok(run(end.room, { type: 'leave', actor: id(room, 'bob') })).events.length, 0);
});

test('a removed member acts no more; its leave is a no-op', () => {
  const room = roomOf('ann', 'bob');
  const k = ok(run(room, { type: 'kick', actor: id(room, 'ann'), target: id(room, 'bob') })).room;
  refused(run(k, { type: 'chat', actor: id(room, 'bob'), message: 'x', chatType: 1 }), 'notInRoom');
  assert.equal(ok(run(k, { type: 'leave', actor: id(room, 'bob') })).events.length, 0);
  refused(run(room, { type: 'kick', actor: id(room, 'bob'), target: id(room, 'ann') }), 'forbidden');
});

test('decide never mutates its input and events carry no session secret', () => {
  const room = deepFreeze(roomOf('ann', 'bob', 'cat'));
  const snapshot = JSON.stringify(room);
  const cmds: RoomCommand[] = [
    { type: 'changeRoom', actor: id(room, 'ann'), muteAllAudio: 2, muteAllChat: 1, shareBoard: true },
    { type: 'changeMember', actor: id(room, 'ann'), target: id(room, 'bob'), audio: false, video: false, chat: false, boardGrant: true },
    { type: 'shareScreen', actor: id(room, 'cat'), target: id(room, 'cat'), on: true },
    { type: 'transferHost', actor: id(room, 'ann'), target: id(room, 'cat') },
    { type: 'leave', actor: id(room, 'ann') },
    { type: 'kick', actor: null, target: id(room, 'cat') },
    { type: 'changeRoom', actor: id(room, 'ann'), end: true },
    { type: 'invite', actor: id(room, 'ann'), target: id(room, 'bob'), module: 'audio', action: 'invite' },
    { type: 'apply', actor: id(room, 'bob'), target: id(room, 'ann'), module: 'video', action: 'apply' },
    { type: 'serverMessage', targets: ['bob'], msgId: 'm', text: 't' },
  ];
  for (const cmd of cmds) {
    const d = ok(run(room, cmd));
    assert.ok(d.events.length > 0, cmd.type);
    const text = JSON.stringify(d.events);
    for (const m of room.members) assert.ok(!text.includes(m.session), `${cmd.type} leaks a session`);
  }
  assert.equal(JSON.stringify(room), snapshot);
});

test('a chat message may hold 4,000 characters counted as code points, as the edge counts them', () => {
  const room = roomOf('ann');
  const ann = id(room, 'ann');
  const chat = (message: string) => run(room, { type: 'chat', actor: ann, message, chatType: 1 });
  ok(chat('😀'.repeat(4000)));
  refused(chat('😀'.repeat(4001)), 'invalid');
  ok(chat('x'.repeat(4000)));
  refused(chat('x'.repeat(3999) + '😀😀'), 'invalid');
  refused(chat(''), 'invalid');
});
