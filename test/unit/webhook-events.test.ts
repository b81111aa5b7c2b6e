// What the webhooks say, derived from the rules' own events (pure), and how they are signed: checked
// by the `standardwebhooks` package a receiver would use; and which addresses count as private.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { decide, RuleError } from '../../src/domain/rules.ts';
import type { Command, RoomCommand } from '../../src/domain/commands.ts';
import type { Room } from '../../src/domain/room.ts';
import type { LoggedEvent } from '../../src/domain/events.ts';
import { webhookEvents, type WebhookEvent } from '../../src/webhooks/events.ts';
import { newWebhookSecret, secretProblem, signatureHeaders, signingKey } from '../../src/webhooks/signature.ts';
import { isPrivateAddress } from '../../src/webhooks/sender.ts';
import { checkEvents, checkUrl, withEventCallback, WebhookConfigError } from '../../src/webhooks/endpoints.ts';
import { webhookPayload } from '../../src/webhooks/outbox.ts';
import { newApp } from '../../src/service/apps.ts';

let n = 0;

/** Decides `cmds` on `room` as one commit, as the service does: the events logged, the room advanced. */
function commit(room: Room | null, ...cmds: Command[]): { before: Room | null; after: Room; logged: LoggedEvent[] } {
  let current = room;
  const events = [];
  for (const cmd of cmds) {
    const d = decide(current, cmd, 1000 + n);
    if (d instanceof RuleError) throw d;
    current = d.room;
    events.push(...d.events);
  }
  const seq0 = room?.seq ?? 0;
  const logged = events.map((event, i) => ({ seq: seq0 + 1 + i, at: 1_700_000_000_000 + i, event }));
  const after = { ...current!, seq: seq0 + logged.length, version: (room?.version ?? 0) + 1 };
  return { before: room, after, logged };
}

function enter(userUuid: string): Command {
  n++;
  return {
    type: 'enter', appId: 'app', roomUuid: 'standup', roomName: 'Standup', password: '', userUuid, userName: userUuid.toUpperCase(), avatar: '', audio: false, video: false,
    policy: { maxUsers: 0, noAutoKickUser: false },
    fresh: { roomId: 'room0000000000000000000', boardId: 'board', uid: 2 * n + 1, session: `s${n}` },
  };
}

const said = (events: WebhookEvent[]) => events.map((e) => [e.type, e.member?.userUuid ?? null, e.data.reason ?? null, e.seq, e.idx]);

test('each commit says what happened: start, joins, host, shares, chat, room state, departures with their reason, end', () => {
  const a = commit(null, enter('ann'), enter('bob'));
  assert.deepEqual(said(webhookEvents(a.before, a.after, a.logged)), [
    ['room.started', null, null, 1, 0],
    ['member.joined', 'ann', null, 1, 1],
    ['member.joined', 'bob', null, 2, 0],
  ]);
  let room = a.after;
  const id = (uuid: string) => room.members.find((m) => m.userUuid === uuid)!.userId;
  const step = (...cmds: RoomCommand[]) => {
    const c = commit(room, ...cmds);
    room = c.after;
    return said(webhookEvents(c.before, c.after, c.logged)).map(([t, u, r]) => [t, u, r]);
  };
  assert.deepEqual(step({ type: 'chat', actor: id('ann'), message: 'hi', chatType: 1 }), [['chat.sent', 'ann', null]]);
  assert.deepEqual(step({ type: 'shareScreen', actor: id('bob'), target: id('bob'), on: true }), [['screen.started', 'bob', null]]);
  assert.deepEqual(step({ type: 'shareBoard', actor: id('bob'), target: id('bob'), on: true }), [['board.started', 'bob', null]]);
  // Granting the board to another is no start: nothing said.
  assert.deepEqual(step({ type: 'shareBoard', actor: id('bob'), target: id('ann'), on: true }), []);
  assert.deepEqual(step({ type: 'changeRoom', actor: id('ann'), muteAllChat: 1 }), [['room.changed', null, null]]);
  assert.deepEqual(step({ type: 'transferHost', actor: id('ann'), target: id('bob') }), [['host.changed', 'bob', null]]);
  // The host (and sharer) leaves: its departure stops its shares and passes the host role on.
  assert.deepEqual(step({ type: 'leave', actor: id('bob') }), [
    ['member.left', 'bob', 'exit'],
    ['screen.stopped', 'bob', null],
    ['board.stopped', 'bob', null],
    ['host.changed', 'ann', null],
  ]);
  const c = commit(room, enter('cat'), enter('dan'));
  room = c.after;
  assert.deepEqual(step({ type: 'kick', actor: id('ann'), target: id('cat'), banMs: 60_000 }), [['member.left', 'cat', 'kick']]);
  assert.deepEqual(step({ type: 'realtimeConnected', actor: id('dan'), session: room.members.find((m) => m.userUuid === 'dan')!.session }), []);
  assert.deepEqual(step({ type: 'presenceExpired', target: id('dan'), httpOnlyStays: true }), [['member.left', 'dan', 'presence']]);
  // Someone enters and the meeting ends in the same commit: both present then leave with it.
  const e = commit(room, enter('eve'), { type: 'close', emptySinceAtMost: null });
  assert.deepEqual(said(webhookEvents(e.before, e.after, e.logged)).map(([t, u, r]) => [t, u, r]), [
    ['member.joined', 'eve', null],
    ['member.left', 'ann', 'end'],
    ['member.left', 'eve', 'end'],
    ['room.ended', null, null],
  ]);
});

test('a kick names who kicked and until when; ids are unique per (room, seq, idx)', () => {
  const a = commit(null, enter('ann'), enter('bob'));
  const bob = a.after.members.find((m) => m.userUuid === 'bob')!.userId;
  const k = commit(a.after, { type: 'kick', actor: null, target: bob, banMs: 60_000 });
  const [left] = webhookEvents(k.before, k.after, k.logged);
  assert.deepEqual(left!.data, { reason: 'kick', kickedBy: null, bannedUntil: 1000 + n + 60_000 });
  const body = JSON.parse(webhookPayload(a.after, left!));
  assert.deepEqual(Object.keys(body), ['id', 'type', 'timestamp', 'data']);
  assert.equal(body.id, `evt_${a.after.roomId}_${left!.seq}_${left!.idx}`);
  assert.deepEqual(
    { ...body.data, member: undefined },
    { appId: 'app', roomId: a.after.roomId, roomUuid: 'standup', seq: left!.seq, member: undefined, reason: 'kick', kickedBy: null, bannedUntil: left!.data.bannedUntil },
  );
  assert.deepEqual(body.data.member, { userId: bob, userUuid: 'bob', userName: 'BOB', role: 'participant' });
  assert.match(body.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test('signatures verify with the standardwebhooks package, for whsec_ keys and raw ones; another key fails', () => {
  const body = '{"id":"evt_r_1_0","type":"member.joined"}';
  const now = Date.now();
  const secret = newWebhookSecret();
  assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.equal(secretProblem(secret), null);
  const headers = signatureHeaders(signingKey(secret), 'evt_r_1_0', body, now);
  assert.equal(headers['webhook-timestamp'], String(Math.floor(now / 1000)));
  assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body));
  assert.throws(() => new Webhook(newWebhookSecret()).verify(body, headers), /No matching signature/);
  assert.throws(() => new Webhook(secret).verify(body.replace('joined', 'left'), headers), /No matching signature/);
  assert.throws(() => new Webhook(secret).verify(body, { ...headers, 'webhook-id': 'evt_r_1_1' }), /No matching signature/);
  // A secret without the prefix (an eventCbSecret) is the key's raw bytes.
  const rawSecret = 'my-callback-secret';
  const rawHeaders = signatureHeaders(signingKey(rawSecret), 'evt_r_1_0', body, now);
  assert.ok(new Webhook(Buffer.from(rawSecret), { format: 'raw' }).verify(body, rawHeaders));
  assert.throws(() => new Webhook(Buffer.from('other'), { format: 'raw' }).verify(body, rawHeaders), /No matching signature/);
  for (const bad of ['whsec_', 'whsec_!!!!', 'whsec_AAAA', 'has space', 'x'.repeat(257)]) assert.ok(secretProblem(bad), bad);
});

test('private, loopback and link-local addresses are told from public ones, IPv4 written as IPv6 too', () => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:a9fe:a9fe', '224.0.0.1']) {
    assert.equal(isPrivateAddress(a), true, a);
  }
  for (const a of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8']) assert.equal(isPrivateAddress(a), false, a);
});

test('endpoint settings are checked: URL scheme and address, event types; eventCb* make the eventcb endpoint', () => {
  assert.equal(checkUrl('https://hooks.example.com/x', false), 'https://hooks.example.com/x');
  assert.equal(checkUrl('http://127.0.0.1:9/cb', true), 'http://127.0.0.1:9/cb');
  for (const [url, why] of [
    ['ftp://example.com/', /http/],
    ['not a url', /absolute/],
    ['http://127.0.0.1/cb', /not a public address/],
    ['http://[::1]:80/', /not a public address/],
    ['http://localhost:8080/', /not a public address/],
  ] as const) {
    assert.throws(() => checkUrl(url, false), (e: unknown) => e instanceof WebhookConfigError && why.test(e.message), url);
  }
  assert.ok(!checkEvents(undefined).includes('chat.sent'), 'chat is opt-in');
  assert.deepEqual(checkEvents(['chat.sent', 'chat.sent']), ['chat.sent']);
  assert.throws(() => checkEvents(['member.danced']), /unknown event type "member.danced"/);

  const app = { ...newApp({ appId: 'a1' }, 1), eventCallback: { url: 'http://127.0.0.1:9/cb', secret: '', version: '1' } };
  const set = withEventCallback(app, true, 5);
  assert.equal(set.webhooks?.length, 1);
  assert.equal(set.webhooks![0]!.id, 'eventcb');
  assert.match(set.webhooks![0]!.secret, /^whsec_/, 'a secret is made when none is given');
  assert.equal(set.eventCallback?.secret, set.webhooks![0]!.secret, 'and kept as the app’s');
  const again = withEventCallback({ ...set, eventCallback: { ...set.eventCallback!, url: 'http://127.0.0.1:10/cb' } }, true, 6);
  assert.equal(again.webhooks![0]!.secret, set.webhooks![0]!.secret, 'kept when the URL changes');
  assert.deepEqual(withEventCallback({ ...again, eventCallback: { ...again.eventCallback!, url: '' } }, true, 7).webhooks, []);
});
