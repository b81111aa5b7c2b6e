// What the RTM relay writes for a commit (pure): the v1 envelope as the socket has it, one call per
// channel message and per peer recipient, a long cmd 2 split within Agora's 32 KB, what cannot be
// split left out and told.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Member, Room } from '../../src/domain/room.ts';
import type { LoggedEvent, MeetingEvent } from '../../src/domain/events.ts';
import { agoraMessage, agoraRealtimeFormat } from '../../src/http/conf/views.ts';
import { kindOfRow, MAX_PAYLOAD_BYTES, payloadOf, relayRows, RTM_ENDPOINT, splitMembers } from '../../src/relay/messages.ts';

const format = agoraRealtimeFormat(() => ({ boardId: '', boardToken: '' }));

function member(i: number, name = `member ${i}`): Member {
  return {
    userId: String(1000 + 2 * i), userUuid: `u${i}`, userName: name, avatar: '', role: i === 0 ? 'host' : 'participant',
    audio: true, video: false, chat: true, boardGrant: false, sharingScreen: false, uid: 1000 + 2 * i, screenId: 1001 + 2 * i,
    present: true, order: i, joinedAt: 1, canKick: false, realtime: true, session: 'secret',
  };
}

function room(members: Member[]): Room {
  return {
    roomId: 'r1', appId: 'app', roomUuid: 'standup', roomName: 'Standup', channelName: 'chan-1', password: '', boardId: 'b',
    muteAllChat: 0, muteAllAudio: 0, ended: false, startTime: 1, endedAt: null, emptySince: null, boardShared: false,
    boardCreatorId: '0', screenSharerId: '', members, nextOrder: members.length, version: 1, seq: 10,
  };
}

const { session: _s, ...snap } = member(1);
const socketEnvelope = (e: LoggedEvent) => {
  const { type: _t, seq: _q, ...rest } = JSON.parse(format.event(e).toString()) as Record<string, unknown>;
  return rest;
};

test('channel and peer messages: the socket envelope, to the channel or String(uid); server messages stay on the socket', () => {
  const r = room([member(0), member(1)]);
  const logged: LoggedEvent[] = [
    { seq: 11, at: 1_700_000_000_001, event: { type: 'chatSent', from: snap, message: 'héllo', chatType: 1 } },
    { seq: 12, at: 1_700_000_000_002, event: { type: 'invited', to: '1002', from: snap, module: 'audio', action: 'invite' } },
    { seq: 13, at: 1_700_000_000_003, event: { type: 'serverMessage', to: null, msgId: 'm', text: 't' } },
    { seq: 14, at: 1_700_000_000_004, event: { type: 'roomChanged', muteAllChat: 1, muteAllAudio: 0, ended: false, locked: false } },
  ];
  const rows = relayRows(r, logged);
  assert.deepEqual(rows.map((x) => [x.endpointId, x.seq, x.idx, kindOfRow(x.id)]), [
    [RTM_ENDPOINT, 11, 0, 'channel'],
    [RTM_ENDPOINT, 12, 0, 'peer'],
    [RTM_ENDPOINT, 14, 0, 'channel'],
  ]);
  const [chat, peer, changed] = rows.map((x) => JSON.parse(x.payload) as Record<string, unknown>);
  assert.deepEqual(Object.keys(chat!), ['channel_name', 'enable_historical_messaging', 'payload']);
  assert.equal(chat!.channel_name, 'chan-1');
  assert.equal(chat!.enable_historical_messaging, false);
  assert.deepEqual(JSON.parse(chat!.payload as string), socketEnvelope(logged[0]!));
  assert.deepEqual(Object.keys(JSON.parse(chat!.payload as string)), ['cmd', 'version', 'timestamp', 'data']);
  assert.deepEqual(peer, { destination: '1002', enable_offline_messaging: false, enable_historical_messaging: false, payload: peer!.payload });
  assert.deepEqual(JSON.parse(peer!.payload as string), socketEnvelope(logged[1]!));
  assert.deepEqual(JSON.parse(changed!.payload as string), socketEnvelope(logged[3]!));
  assert.equal(payloadOf(rows[0]!.payload).timestamp, 1_700_000_000_001);
});

test('a 600-member cmd 2 is split within 32 KB, in order, each part with the same total and timestamp', () => {
  const members = Array.from({ length: 600 }, (_, i) => member(i, `${'ü'.repeat(60)}${i}`));
  const r = room(members);
  const event: MeetingEvent = { type: 'membersChanged', total: 600, changes: members.map((m) => ({ member: m, present: true })) };
  const logged = [{ seq: 11, at: 1_700_000_000_000, event }];
  const rows = relayRows(r, logged);
  assert.ok(rows.length > 1, `split into ${rows.length}`);
  const parts = rows.map((x) => JSON.parse(x.payload) as { channel_name: string; payload: string });
  const list: unknown[] = [];
  rows.forEach((x, i) => {
    assert.equal(x.seq, 11);
    assert.equal(x.idx, i);
    const bytes = Buffer.byteLength(parts[i]!.payload);
    assert.ok(bytes <= MAX_PAYLOAD_BYTES, `part ${i}: ${bytes} bytes`);
    // Each part but the last is full: one more member would not fit.
    if (i < rows.length - 1) assert.ok(bytes > MAX_PAYLOAD_BYTES - 400, `part ${i} is full (${bytes})`);
    const env = JSON.parse(parts[i]!.payload) as { cmd: number; version: number; timestamp: number; data: { total: number; list: unknown[] } };
    assert.deepEqual([env.cmd, env.version, env.timestamp, env.data.total], [2, 1, 1_700_000_000_000, 600]);
    list.push(...env.data.list);
  });
  assert.deepEqual(list, (agoraMessage(event).data as { list: unknown[] }).list, 'every member, as the apps parse it');
  // On Convene's own socket a room of more than 100 counts without listing (one frame per socket).
  assert.deepEqual((socketEnvelope(logged[0]!) as { data: unknown }).data, { total: 600, list: [], omitted: 600 });
});

test('a message that cannot fit is left to the socket and told, never truncated', () => {
  const huge = member(1, 'x'.repeat(MAX_PAYLOAD_BYTES));
  const r = room([member(0), huge]);
  const { session: _x, ...hugeSnap } = huge;
  const told: unknown[] = [];
  const rows = relayRows(
    r,
    [
      { seq: 11, at: 1, event: { type: 'hostChanged', changes: [{ member: hugeSnap, present: true }] } },
      { seq: 12, at: 2, event: { type: 'membersChanged', total: 2, changes: [{ member: hugeSnap, present: true }] } },
      { seq: 13, at: 3, event: { type: 'chatSent', from: snap, message: 'after', chatType: 1 } },
    ],
    { tooLarge: (w) => told.push([w.seq, w.cmd]) },
  );
  assert.deepEqual(told, [[11, 7], [12, 2]]);
  assert.deepEqual(rows.map((x) => x.seq), [13]);
  assert.equal(splitMembers(1, 1, [{ name: 'y'.repeat(MAX_PAYLOAD_BYTES) }]), null);
  assert.equal(splitMembers(1, 0, [])!.length, 1, 'an empty list is one message');
});

test("breakout rooms are Convene's own: cmd 120-123 on the socket, never relayed to Agora RTM", () => {
  const r = room([member(0), member(1)]);
  const view = { round: 'r', assignment: 'random' as const, endsAt: 5, closing: false, rooms: [{ roomId: 'b1', name: 'x', members: ['1002'] }] };
  const events: MeetingEvent[] = [
    { type: 'breakoutsChanged', step: 'opened', by: snap, view },
    { type: 'breakoutChanged', mainRoomId: 'r1', name: 'x', endsAt: 5 },
    { type: 'breakoutsMessage', msgId: 'm', from: snap, text: 'hi' },
  ];
  const logged: LoggedEvent[] = events.map((event, i) => ({ seq: 11 + i, at: 1, event }));
  assert.deepEqual(relayRows(r, logged), []);
  assert.deepEqual(events.map((e) => agoraMessage(e).cmd), [120, 122, 123]);
  const moved = JSON.parse(format.moved({ roomId: 'b1', mainRoomId: 'r1', name: 'x' }).toString());
  assert.deepEqual([moved.cmd, moved.data], [121, { roomId: 'b1', mainRoomId: 'r1', main: 0, name: 'x' }]);
});
