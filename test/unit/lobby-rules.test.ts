// The lobby's pure rules (domain/lobby.ts): knocks, admissions as entries, denials, sending back,
// exemptions, and what the moderators are told. Rooms are built by feeding entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, RuleError, type Decision } from '../../src/domain/rules.ts';
import type { Command, EntryPolicy, RoomCommand } from '../../src/domain/commands.ts';
import type { LobbyAction } from '../../src/domain/lobby.ts';
import { isWaiting } from '../../src/domain/lobby.ts';
import { currentHost, findByUuid, onlineCount, type Room } from '../../src/domain/room.ts';
import type { MeetingEvent } from '../../src/domain/events.ts';

let n = 0;
const free: EntryPolicy = { maxUsers: 0, noAutoKickUser: false };

function enter(room: Room | null, userUuid: string, opts: { policy?: EntryPolicy; canKick?: boolean } = {}) {
  n++;
  const cmd: Command = {
    type: 'enter',
    appId: 'app',
    roomUuid: 'r',
    roomName: 'R',
    password: '',
    userUuid,
    userName: userUuid.toUpperCase(),
    audio: true,
    video: true,
    canKick: opts.canKick,
    policy: opts.policy ?? free,
    fresh: { roomId: 'room0000000000000000000', boardId: 'board', uid: 2 * n + 1, session: `secret-${n}` },
  };
  return decide(room, cmd, 1000 + n);
}

function ok(d: Decision | RuleError): Decision {
  if (d instanceof RuleError) throw d;
  return d;
}
const id = (room: Room, uuid: string) => findByUuid(room, uuid)!.userId;
const lobby = (room: Room, actor: string | null, what: LobbyAction, policy = free) =>
  decide(room, { type: 'lobby', actor, do: what, policy } as RoomCommand, 5000);
const of = <T extends MeetingEvent['type']>(d: Decision, type: T) => d.events.filter((e): e is Extract<MeetingEvent, { type: T }> => e.type === type);

/** A room with a host and the lobby on. */
function lobbyRoom(): Room {
  const host = ok(enter(null, 'host')).room;
  return ok(lobby(host, id(host, 'host'), { action: 'settings', on: true })).room;
}

test('an entry knocks while the lobby is on: not present, not counted, the moderators told', () => {
  let room = lobbyRoom();
  const d = ok(enter(room, 'ann'));
  room = d.room;
  assert.equal(d.entered?.waiting, true);
  const ann = findByUuid(room, 'ann')!;
  assert.equal(ann.present, false);
  assert.ok(isWaiting(ann));
  assert.equal(onlineCount(room), 1);
  assert.equal(of(d, 'membersChanged').length, 0, 'no room event for a knock');
  const [told] = of(d, 'lobbyChanged');
  assert.deepEqual(told?.to, [id(room, 'host')]);
  assert.deepEqual(told?.knocked.map((k) => k.userId), [ann.userId]);
  assert.deepEqual(told?.waiting.map((k) => k.userId), [ann.userId]);
  // Knocking again keeps the place, with a new session: told as a knock again.
  const again = ok(enter(room, 'ann'));
  assert.notEqual(findByUuid(again.room, 'ann')!.session, ann.session);
  assert.equal(findByUuid(again.room, 'ann')!.lobby!.at, ann.lobby!.at);
  assert.deepEqual(of(again, 'lobbyChanged')[0]?.waiting.length, 1);
  assert.deepEqual(of(again, 'lobbyChanged')[0]?.knocked.length, 1);
});

test('the creator, listed users and admin RoomTokens enter directly; the app default starts rooms with the lobby', () => {
  const policy = { ...free, lobby: true };
  let room = ok(enter(null, 'boss', { policy })).room;
  assert.equal(currentHost(room)?.userUuid, 'boss', 'the creator entered');
  room = ok(lobby(room, id(room, 'boss'), { action: 'settings', exempt: ['vip'] })).room;
  room = ok(enter(room, 'vip', { policy })).room;
  assert.equal(findByUuid(room, 'vip')!.present, true);
  room = ok(enter(room, 'admin', { policy, canKick: true })).room;
  assert.equal(findByUuid(room, 'admin')!.present, true);
  room = ok(enter(room, 'joe', { policy })).room;
  assert.equal(findByUuid(room, 'joe')!.present, false);
  // The creator leaves and comes back: still exempt.
  room = ok(decide(room, { type: 'leave', actor: id(room, 'boss') }, 6000)).room;
  room = ok(enter(room, 'boss', { policy })).room;
  assert.equal(findByUuid(room, 'boss')!.present, true);
  // Without exemptCreator the creator waits like anyone.
  room = ok(lobby(room, currentHost(room)!.userId, { action: 'settings', exemptCreator: false })).room;
  room = ok(decide(room, { type: 'leave', actor: id(room, 'boss') }, 7000)).room;
  assert.equal(ok(enter(room, 'boss', { policy })).entered?.waiting, true);
});

test('admit one is an entry: the same events, limits and lock; admit all admits as many as fit, in knock order', () => {
  let room = lobbyRoom();
  for (const u of ['a', 'b', 'c']) room = ok(enter(room, u)).room;
  const host = id(room, 'host');
  const full = { maxUsers: 2, noAutoKickUser: false };
  const one = ok(lobby(room, host, { action: 'admit', targets: [id(room, 'b')] }, full));
  assert.deepEqual(of(one, 'lobbyAdmitted')[0]?.to, [id(room, 'b')]);
  const joined = of(one, 'membersChanged')[0]!;
  assert.deepEqual(joined.changes.map((c) => [c.member.userUuid, c.present, c.member.role]), [['b', true, 'participant']]);
  assert.equal(findByUuid(one.room, 'b')!.audio, true, 'what the entry asked for');
  assert.deepEqual(of(one, 'lobbyChanged')[0]?.waiting.map((w) => w.userId), [id(room, 'a'), id(room, 'c')]);
  room = one.room;
  // Full: refused, nobody moves.
  const refused = lobby(room, host, { action: 'admit', targets: [id(room, 'a')] }, full);
  assert.ok(refused instanceof RuleError && refused.code === 'roomFull');
  // Locked: refused too.
  const locked = ok(decide(room, { type: 'lockRoom', locked: true }, 5000)).room;
  const l = lobby(locked, host, { action: 'admit', targets: null });
  assert.ok(l instanceof RuleError && l.code === 'locked');
  // All, with room for one more: the first who knocked.
  const all = ok(lobby(room, host, { action: 'admit', targets: null }, { maxUsers: 3, noAutoKickUser: false }));
  assert.deepEqual(of(all, 'lobbyAdmitted')[0]?.to, [id(room, 'a')]);
  assert.equal(findByUuid(all.room, 'c')!.present, false);
  assert.ok(isWaiting(findByUuid(all.room, 'c')!));
});

test('admit all of 200 is one membership change; deny tells the reason; participants may not moderate', () => {
  let room = lobbyRoom();
  for (let i = 0; i < 200; i++) room = ok(enter(room, `m${i}`)).room;
  const host = id(room, 'host');
  const d = ok(lobby(room, host, { action: 'admit', targets: null }));
  assert.equal(of(d, 'membersChanged').length, 1);
  assert.equal(of(d, 'membersChanged')[0]!.changes.length, 200);
  assert.equal(of(d, 'lobbyAdmitted')[0]!.to.length, 200);
  assert.equal(onlineCount(d.room), 201);
  room = ok(enter(d.room, 'late')).room;
  const p = lobby(room, id(room, 'm0'), { action: 'deny', target: id(room, 'late'), reason: 'no' });
  assert.ok(p instanceof RuleError && p.code === 'forbidden');
  const denied = ok(lobby(room, host, { action: 'deny', target: id(room, 'late'), reason: ' not today ' }));
  assert.deepEqual(of(denied, 'lobbyDenied')[0], { type: 'lobbyDenied', to: [id(room, 'late')], reason: 'not today', by: of(denied, 'lobbyDenied')[0]!.by });
  assert.equal(of(denied, 'lobbyDenied')[0]!.by?.userId, host);
  assert.equal(findByUuid(denied.room, 'late')!.lobby?.denied, 'not today');
  assert.deepEqual(of(denied, 'lobbyChanged')[0]!.waiting, []);
  assert.deepEqual(of(denied, 'lobbyChanged')[0]!.left, [], 'a denial is no departure');
});

test('send back: the member leaves the room and waits with its session; leaving the lobby and presence', () => {
  let room = lobbyRoom();
  room = ok(lobby(room, id(room, 'host'), { action: 'settings', on: false })).room;
  room = ok(enter(room, 'bob')).room;
  const bob = findByUuid(room, 'bob')!;
  const back = ok(lobby(room, null, { action: 'sendBack', target: bob.userId }));
  const left = of(back, 'membersChanged')[0]!;
  assert.deepEqual(left.changes.map((c) => [c.member.userId, c.present, c.why]), [[bob.userId, false, 'lobby']]);
  const waiting = findByUuid(back.room, 'bob')!;
  assert.ok(isWaiting(waiting));
  assert.equal(waiting.session, bob.session);
  assert.deepEqual(of(back, 'lobbyChanged')[0]!.knocked, [], 'sent back is no knock');
  // Its socket connects, then goes away for the grace period: it leaves the lobby.
  room = ok(decide(back.room, { type: 'realtimeConnected', actor: bob.userId, session: bob.session }, 6000)).room;
  const gone = ok(decide(room, { type: 'presenceExpired', target: bob.userId, httpOnlyStays: true }, 7000));
  assert.deepEqual(of(gone, 'lobbyChanged')[0]!.left.map((l) => [l.userId, l.why]), [[bob.userId, 'presence']]);
  assert.equal(findByUuid(gone.room, 'bob')!.lobby, undefined);
  // A host who arrives later (the role passed on) is sent the list.
  room = ok(lobby(gone.room, id(gone.room, 'host'), { action: 'settings', on: true })).room;
  room = ok(enter(room, 'cat')).room;
  room = ok(enter(room, 'dan')).room;
  const passed = ok(decide(room, { type: 'leave', actor: id(room, 'host') }, 8000));
  assert.equal(currentHost(passed.room), undefined, 'nobody present to inherit it');
  room = ok(lobby(room, id(room, 'host'), { action: 'admit', targets: [id(room, 'cat')] })).room;
  const handed = ok(decide(room, { type: 'transferHost', actor: id(room, 'host'), target: id(room, 'cat') }, 9000));
  const told = of(handed, 'lobbyChanged')[0];
  assert.deepEqual(told?.to, [id(room, 'cat')]);
  assert.deepEqual(told?.waiting.map((w) => w.userId), [id(room, 'dan')]);
});

test('turning the lobby off lets everyone waiting in; the meeting ending empties it', () => {
  let room = lobbyRoom();
  for (const u of ['a', 'b']) room = ok(enter(room, u)).room;
  const off = ok(lobby(room, id(room, 'host'), { action: 'settings', on: false }));
  assert.equal(of(off, 'lobbyAdmitted')[0]?.to.length, 2);
  assert.equal(onlineCount(off.room), 3);
  room = ok(enter(room, 'c')).room;
  const end = ok(decide(room, { type: 'close', emptySinceAtMost: null }, 9000));
  const told = of(end, 'lobbyChanged')[0]!;
  assert.deepEqual(told.left.map((l) => l.why), ['end', 'end', 'end']);
  assert.deepEqual(told.to, []);
});

test('the webhooks: lobby.knocked, lobby.admitted (then member.joined), lobby.denied, lobby.left', async () => {
  const { webhookEvents } = await import('../../src/webhooks/events.ts');
  const said = (before: Room, d: Decision) =>
    webhookEvents(before, d.room, d.events.map((event, i) => ({ seq: before.seq + 1 + i, at: 1, event }))).map((w) => [w.type, w.member?.userUuid ?? null, w.data]);
  let room = lobbyRoom();
  const knock = ok(enter(room, 'ann'));
  assert.deepEqual(said(room, knock), [['lobby.knocked', 'ann', { knockedAt: findByUuid(knock.room, 'ann')!.lobby!.at }]]);
  room = ok(enter(knock.room, 'bob')).room;
  room = ok(enter(room, 'cat')).room;
  const host = id(room, 'host');
  const admit = ok(lobby(room, host, { action: 'admit', targets: [id(room, 'ann')] }));
  const hostView = { userId: host, userUuid: 'host', userName: 'HOST', role: 'host' };
  assert.deepEqual(said(room, admit), [
    ['lobby.admitted', 'ann', { admittedBy: hostView }],
    ['member.joined', 'ann', {}],
  ]);
  room = admit.room;
  const deny = ok(lobby(room, null, { action: 'deny', target: id(room, 'bob'), reason: 'full up' }));
  assert.deepEqual(said(room, deny), [['lobby.denied', 'bob', { reason: 'full up', deniedBy: null }]]);
  room = deny.room;
  const leave = ok(decide(room, { type: 'leave', actor: id(room, 'cat') }, 6000));
  assert.deepEqual(said(room, leave), [['lobby.left', 'cat', { reason: 'exit' }]]);
  // Sent back: the member leaves the room with the reason 'lobby'.
  const back = ok(lobby(leave.room, host, { action: 'sendBack', target: id(room, 'ann') }));
  assert.deepEqual(said(leave.room, back).map(([type, who, data]) => [type, who, (data as { reason?: string }).reason]), [['member.left', 'ann', 'lobby']]);
});

test('convene rooms tail tells the lobby in words', async () => {
  const { EventNarrator } = await import('../../src/cli/describe.ts');
  let room = lobbyRoom();
  const knock = ok(enter(room, 'ann'));
  room = knock.room;
  const deny = ok(lobby(room, id(room, 'host'), { action: 'deny', target: id(room, 'ann'), reason: 'later' }));
  const narrator = new EventNarrator(deny.room);
  const lines = [...knock.events, ...deny.events].map((event, i) => narrator.line({ seq: i + 1, at: 0, event }).split('  ').slice(2).join('  '));
  assert.deepEqual(lines, ['lobby    knock ann; 1 waiting', 'lobby    denied by host ("HOST"): ann ("later")', 'lobby    0 waiting']);
});

test('nothing of the lobby is relayed to Agora RTM', async () => {
  const { relayRows } = await import('../../src/relay/messages.ts');
  let room = lobbyRoom();
  const steps: Decision[] = [];
  for (const u of ['ann', 'bob']) {
    steps.push(ok(enter(room, u)));
    room = steps.at(-1)!.room;
  }
  steps.push(ok(lobby(room, id(room, 'host'), { action: 'deny', target: id(room, 'bob'), reason: 'no' })));
  room = steps.at(-1)!.room;
  steps.push(ok(lobby(room, id(room, 'host'), { action: 'admit', targets: null })));
  room = steps.at(-1)!.room;
  const logged = steps.flatMap((d) => d.events).map((event, i) => ({ seq: i + 1, at: 1, event }));
  assert.ok(logged.some((e) => e.event.type.startsWith('lobby')));
  const rows = relayRows(room, logged);
  // The admission's membership change is relayed (ch 2), as any entry's; nothing else of it.
  assert.deepEqual(rows.map((r) => JSON.parse(JSON.parse(r.payload).payload).cmd), [2]);
});
