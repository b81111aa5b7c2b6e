// Breakout rooms through the client API and the socket (domain/breakouts.ts): 30 members into 5
// rooms at random, every socket switched by the server (cmd 121, then the room's snapshot) with no
// second token; a move while the rooms chat loses and repeats nothing; the timer closes them and
// everyone is back; each breakout's log is gap-free. On SQLite, and on two cluster nodes sharing Redis.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { startRedisNodes, startTestServer, type ConveneNode } from '../helpers/server.ts';
import { redisSkip } from '../helpers/redis.ts';
import { AgoraApiError, MeetingClient, type BreakoutRound, type ClientOptions } from '../../client/agora.ts';
import { RealtimeClient } from '../../client/realtime.ts';
import type { MeetingService } from '../../src/service/meeting.ts';
import { qiniuServer, raw } from '../helpers/qiniu.ts';
import { WebhookReceiver } from '../helpers/webhooks.ts';
import { startNetlessStandIn } from '../helpers/netless-standin.ts';

async function enter(opts: ClientOptions, room: string, name: string): Promise<MeetingClient> {
  const c = new MeetingClient(opts);
  await c.enter({ roomName: room, roomUuid: room, userName: name, userUuid: `${room}-${name}` });
  return c;
}

async function socket(opts: ClientOptions, c: MeetingClient): Promise<RealtimeClient> {
  const rt = new RealtimeClient({ baseUrl: opts.baseUrl, token: c.userToken, reconnect: false });
  const snapshot = rt.waitFor((m) => m.type === 'snapshot');
  await rt.connect();
  await snapshot;
  return rt;
}

/** Every frame of one socket as it came (no client-side dedupe): what the server really sent. */
async function rawSocket(opts: ClientOptions, token: string): Promise<{ frames: Record<string, any>[]; ws: WebSocket }> {
  const ws = new WebSocket(`${opts.baseUrl.replace(/^http/, 'ws')}/v1/realtime?token=${encodeURIComponent(token)}`);
  const frames: Record<string, any>[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(String(d))));
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  return { frames, ws };
}

const until = async (pred: () => boolean | Promise<boolean>, what: string, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** The room's whole log: seqs 1..n without a gap, n the room's seq. */
async function gapFree(meeting: MeetingService, roomId: string): Promise<number> {
  const room = await meeting.room(roomId);
  const { events } = await meeting.eventsSince(roomId, 0, 100_000);
  assert.deepEqual(events.map((e) => e.seq), Array.from({ length: room!.seq }, (_, i) => i + 1), `room ${roomId}'s log is gap-free`);
  return events.length;
}

/**
 * The scenario: `opts(i)` is the node member i talks to (-1: the host), `meeting` a node's service
 * (to read the logs).
 */
async function scenario(opts: (i: number) => ClientOptions, meeting: MeetingService, room: string): Promise<void> {
  const host = await enter(opts(-1), room, 'host');
  const members = await Promise.all(Array.from({ length: 30 }, (_, i) => enter(opts(i), room, `m${i}`)));
  const mainId = host.roomId;
  const sockets = await Promise.all(members.map((m, i) => socket(opts(i), m)));
  const hostSocket = await socket(opts(-1), host);
  try {
    // A participant may not open them; bad input changes nothing.
    await assert.rejects(members[0]!.openBreakouts({ rooms: ['a'], assignment: 'random' }), (e) => e instanceof AgoraApiError && e.code === 403);
    await assert.rejects(host.openBreakouts({ rooms: [], assignment: 'random' }), (e) => e instanceof AgoraApiError && e.code === 400);
    assert.deepEqual(await host.breakouts(), { open: 0 });

    const round = await host.openBreakouts({ rooms: ['r1', 'r2', 'r3', 'r4', 'r5'], assignment: 'random' });
    assert.equal(round.open, 1);
    assert.deepEqual(round.rooms!.map((r) => r.members.length), [6, 6, 6, 6, 6], '30 members dealt into 5 rooms');
    const placedIn = (r: BreakoutRound, userId: string) => r.rooms!.find((x) => x.members.includes(userId))?.roomId;
    const ids = new Set(round.rooms!.map((r) => r.roomId));
    assert.equal(ids.size, 5);
    assert.ok(!ids.has(mainId));
    // Every member's socket is switched to its breakout by the server, and starts from its snapshot.
    await until(() => sockets.every((rt, i) => rt.roomId === placedIn(round, members[i]!.userId)), 'every socket in its breakout');
    await until(() => sockets.every((rt) => rt.state.breakout !== null && rt.state.members.size === 6), 'every breakout snapshot has its 6 members');
    assert.equal(hostSocket.roomId, null, 'the host stays in the main meeting');
    await until(() => hostSocket.state.breakouts?.open === 1, 'the host sees the round');

    // A move while both rooms chat: the mover's frames as the server sent them.
    const [a, b] = round.rooms!;
    const inA = members.filter((m) => a!.members.includes(m.userId));
    const inB = members.filter((m) => b!.members.includes(m.userId));
    const mover = inA[0]!;
    const raw = await rawSocket(opts(members.indexOf(mover)), mover.userToken);
    await until(() => raw.frames.some((f) => f.type === 'channel' && f.cmd === 121 && f.data.roomId === a!.roomId), 'the mover socket placed in A');
    await until(() => raw.frames.some((f) => f.type === 'snapshot' && f.data.room.roomId === a!.roomId), "A's snapshot");
    let chatting = true;
    const sent: Record<string, string[]> = { [a!.roomId]: [], [b!.roomId]: [] };
    const talk = async (m: MeetingClient, roomId: string, tag: string) => {
      for (let k = 0; chatting; k++) {
        const text = `${tag}-${k}`;
        await m.chat(text, roomId);
        sent[roomId]!.push(text);
        await new Promise((r) => setTimeout(r, 40));
      }
    };
    const talkers = [talk(inA[1]!, a!.roomId, 'a1'), talk(inA[2]!, a!.roomId, 'a2'), talk(inB[0]!, b!.roomId, 'b0'), talk(inB[1]!, b!.roomId, 'b1')];
    await new Promise((r) => setTimeout(r, 150));
    await host.moveToBreakout(mover.userId, b!.roomId);
    await until(() => raw.frames.some((f) => f.type === 'snapshot' && f.data.room.roomId === b!.roomId), "the mover gets B's snapshot");
    await new Promise((r) => setTimeout(r, 150));
    chatting = false;
    await Promise.all(talkers);
    // Its chat goes to B now, with the same token; A refuses it.
    await mover.chat('hello B', b!.roomId);
    await assert.rejects(mover.chat('hello A', a!.roomId), (e) => e instanceof AgoraApiError);
    await until(() => raw.frames.some((f) => f.cmd === 1 && f.data.message === 'hello B'), 'the mover sees its own chat in B');

    // What the mover got: A's events, then cmd 121 and B's snapshot, then B's events; each room's
    // seqs rise by one, nothing twice.
    const snapA = raw.frames.findIndex((f) => f.type === 'snapshot' && f.data.room.roomId === a!.roomId);
    const moved = raw.frames.findIndex((f, i) => i > snapA && f.cmd === 121 && f.data.roomId === b!.roomId);
    const snapB = raw.frames.findIndex((f, i) => i > moved && f.type === 'snapshot');
    assert.equal(snapB, moved + 1, 'the snapshot right after cmd 121');
    const run = (from: number, to: number, first: number) => {
      const seqs = raw.frames.slice(from + 1, to).filter((f) => f.seq !== undefined).map((f) => f.seq);
      assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => first + 1 + i), 'consecutive, nothing twice');
      return raw.frames.slice(from + 1, to);
    };
    const inRoomA = run(snapA, moved, raw.frames[snapA]!.seq);
    const inRoomB = run(snapB, raw.frames.length, raw.frames[snapB]!.seq);
    // Every chat of B committed after B's snapshot reached it; A's chats it saw are A's, in order.
    const { events: logB } = await meeting.eventsSince(b!.roomId, raw.frames[snapB]!.seq, 100_000);
    const chatsB = logB.filter((e) => e.event.type === 'chatSent').map((e) => (e.event as { message: string }).message);
    assert.deepEqual(inRoomB.filter((f) => f.cmd === 1).map((f) => f.data.message), chatsB);
    const seenA = inRoomA.filter((f) => f.cmd === 1).map((f) => f.data.message);
    for (const t of seenA) assert.ok(sent[a!.roomId]!.includes(t));
    // Every chat accepted is in its room's log once.
    for (const roomId of [a!.roomId, b!.roomId]) {
      const { events } = await meeting.eventsSince(roomId, 0, 100_000);
      const logged = events.filter((e) => e.event.type === 'chatSent').map((e) => (e.event as { message: string }).message);
      for (const t of sent[roomId]!) assert.equal(logged.filter((x) => x === t).length, 1, `${t} once in its room`);
    }
    assert.ok(sent[b!.roomId]!.length > 0 && sent[a!.roomId]!.length > 0);
    // The round says where the mover is.
    assert.equal(placedIn(await host.breakouts(), mover.userId), b!.roomId);

    // Message every breakout, extend (it had no end): the timer closes them, everyone comes back.
    await host.messageBreakouts('two minutes left');
    await until(() => sockets.every((rt) => rt.state.inbox.length >= 0) && raw.frames.some((f) => f.cmd === 123 && f.data.text === 'two minutes left'), 'the message in B');
    const extended = await host.extendBreakouts(2);
    assert.ok(extended.endsAt! > Date.now());
    await until(() => sockets.every((rt) => rt.state.breakout?.endsAt === extended.endsAt), 'every breakout sees its end', 10_000);
    await until(() => sockets.every((rt) => rt.roomId === mainId), 'everyone back in the main meeting', 20_000);
    await until(() => raw.frames.some((f) => f.cmd === 121 && f.data.main === 1), 'the mover is back');
    await until(async () => (await host.breakouts()).open === 0, 'the round is over');
    for (const rt of sockets) assert.equal(rt.state.members.size, 31, 'the main meeting with everyone');
    const main = await meeting.room(mainId);
    assert.equal(main!.members.filter((m) => m.present).length, 31, 'nobody left the main meeting');
    for (const r of round.rooms!) {
      assert.equal((await meeting.room(r.roomId))!.ended, true);
      await gapFree(meeting, r.roomId);
    }
    await gapFree(meeting, mainId);
    raw.ws.close();
  } finally {
    await Promise.all([...sockets, hostSocket].map((rt) => rt.close()));
  }
}

test('30 members into 5 breakouts at random, a move while chatting, the timer brings everyone back', { timeout: 60_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  await scenario(() => s.opts, s.meeting, 'bo30');
});

test('two cluster nodes on Redis: the same, members and sockets on both nodes', { skip: await redisSkip(), timeout: 90_000 }, async (t) => {
  const { nodes, opts: on } = await startRedisNodes(t, 2);
  await scenario((i) => on(nodes[(i + 2) % 2]!), (nodes[1] as ConveneNode).meeting, 'bo30c');
});

/** Server API calls to `port`; members on `member(i)` (-1: the host). */
async function serverApi(t: TestContext, port: number, keys: { ak: string; sk: string }, appId: string, member: (i: number) => ClientOptions): Promise<void> {
  const receiver = new WebhookReceiver();
  await receiver.start();
  t.after(() => receiver.stop());
  const call = (method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) =>
    raw(port, { method, path: `/v3/apps/${appId}/rooms/bsrv${path}`, ...(body === undefined ? {} : { body: JSON.stringify(body) }), keys });
  const hook = await raw(port, { method: 'POST', path: `/v3/apps/${appId}/webhooks`, body: JSON.stringify({ url: receiver.url('/hook'), events: ['breakouts.opened', 'breakouts.moved', 'breakouts.messaged', 'breakouts.closing', 'breakouts.closed', 'member.left'] }), keys });
  assert.equal(hook.status, 200, hook.body);

  const host = await enter(member(-1), 'bsrv', 'host');
  const [ann, bob] = await Promise.all(['ann', 'bob'].map((n, i) => enter(member(i), 'bsrv', n)));
  const annSocket = await socket(member(0), ann!);
  t.after(() => annSocket.close());
  assert.equal((await call('GET', '/breakouts')).json.open, false);
  // Bad input is refused in Qiniu's way and changes nothing.
  assert.equal((await call('POST', '/breakouts', { rooms: [], assignment: 'random' })).status, 400);
  assert.equal((await call('POST', '/breakouts', { rooms: ['x'], assignment: 'sideways' })).status, 400);
  assert.equal((await call('POST', '/breakouts', { rooms: ['x'], assignment: 'manual', assign: { nobody: 0 } })).status, 612);
  assert.equal((await raw(port, { method: 'GET', path: `/v3/apps/${appId}/rooms/nope/breakouts`, keys })).status, 615);
  assert.equal((await call('GET', '/breakouts')).json.open, false);

  const opened = await call('POST', '/breakouts', { rooms: ['left', 'right'], assignment: 'manual', assign: { 'bsrv-ann': 0 }, durationSeconds: 600 });
  assert.equal(opened.status, 200, opened.body);
  const [left, right] = opened.json.rooms as { roomId: string; users: string[] }[];
  assert.deepEqual(left!.users, ['bsrv-ann']);
  assert.deepEqual(right!.users, []);
  await until(() => annSocket.roomId === left!.roomId, 'ann is in the left room');
  // A second round while one is open: refused.
  assert.equal((await call('POST', '/breakouts', { rooms: ['x'], assignment: 'random' })).status, 400);
  // Only the host (or the server) moves others while members may not choose.
  await assert.rejects(bob!.moveToBreakout(bob!.userId, right!.roomId), (e) => e instanceof AgoraApiError && e.code === 403);
  const moved = await call('POST', '/breakouts/move', { userId: 'bsrv-ann', roomId: right!.roomId });
  assert.equal(moved.status, 200, moved.body);
  await until(() => annSocket.roomId === right!.roomId, 'ann is in the right room');
  assert.equal((await call('POST', '/breakouts/move', { userId: 'bsrv-nobody', roomId: right!.roomId })).status, 612);
  const msg = await call('POST', '/breakouts/message', { text: 'wrap up' });
  assert.equal(msg.status, 200, msg.body);
  await until(() => annSocket.state.breakout !== null && ann!.userId !== '' && annSocket.lastSeq > 0, 'ann still in a breakout');
  const closed = await call('DELETE', '/breakouts');
  assert.equal(closed.status, 200, closed.body);
  await until(() => annSocket.roomId === host.roomId, 'ann is back');
  await until(async () => (await call('GET', '/breakouts')).json.open === false, 'the round is over');

  // The webhooks: each step once, in order, in the main meeting; ann left each breakout 'moved'.
  await until(() => receiver.deliveries.filter((d) => d.json.type === 'breakouts.closed').length === 1, 'breakouts.closed delivered');
  const mainSteps = receiver.deliveries.filter((d) => d.json.data.roomId === host.roomId).map((d) => d.json.type);
  assert.deepEqual(mainSteps, ['breakouts.opened', 'breakouts.moved', 'breakouts.messaged', 'breakouts.closing', 'breakouts.closed']);
  const step = (type: string) => receiver.deliveries.find((d) => d.json.type === type)!.json.data as Record<string, any>;
  assert.equal(step('breakouts.opened').by, null, 'the server did it');
  assert.deepEqual(step('breakouts.moved').moved, { from: left!.roomId, to: right!.roomId });
  assert.equal(step('breakouts.moved').member.userUuid, 'bsrv-ann');
  const annLeft = receiver.deliveries.filter((d) => d.json.type === 'member.left' && d.json.data.member?.userUuid === 'bsrv-ann');
  assert.deepEqual(annLeft.map((d) => [d.json.data.roomId, d.json.data.reason]), [[left!.roomId, 'moved'], [right!.roomId, 'end']]);

  // Members choose: bob picks a room himself, with the main meeting's token.
  const bobSocket = await socket(member(1), bob!);
  t.after(() => bobSocket.close());
  const choose = await host.openBreakouts({ rooms: ['one', 'two'], assignment: 'choose' });
  assert.deepEqual(choose.rooms!.map((r) => r.members), [[], []]);
  await bob!.moveToBreakout(bob!.userId, choose.rooms![1]!.roomId);
  await until(() => bobSocket.roomId === choose.rooms![1]!.roomId, 'bob is in the room he chose');
  await assert.rejects(bob!.moveToBreakout(ann!.userId, choose.rooms![0]!.roomId), (e) => e instanceof AgoraApiError && e.code === 403);
  // And goes back himself (his main token works from the breakout too).
  await bob!.moveToBreakout(bob!.userId, '');
  await until(() => bobSocket.roomId === host.roomId, 'bob is back');
  await host.closeBreakouts();
}

test('the server API: by hand with userUuids, members choose, move, message, close; webhooks for each step', { timeout: 60_000 }, async (t) => {
  const { s, port, keys } = await qiniuServer(t);
  await serverApi(t, port, keys, s.bootstrapped.appId, () => s.opts);
});

test('two cluster nodes on Redis: the server API on one node, the members on both', { skip: await redisSkip(), timeout: 90_000 }, async (t) => {
  const { nodes, opts: on } = await startRedisNodes(t, 2);
  const b = nodes[0]!.bootstrapped;
  await serverApi(t, Number(new URL(nodes[0]!.url).port), { ak: b.accessKey, sk: b.secretKey }, b.appId, (i) => on(nodes[(i + 2) % 2]!));
});

test('a node that died between two commits: the sweep (any node) finishes a half-done move and a half-done close', { timeout: 60_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const host = await enter(s.opts, 'bhalf', 'host');
  const members = await Promise.all(['a', 'b', 'c'].map((n) => enter(s.opts, 'bhalf', n)));
  const sockets = await Promise.all(members.map((m) => socket(s.opts, m)));
  t.after(() => Promise.all(sockets.map((rt) => rt.close())));
  const [a, b, c] = members as [MeetingClient, MeetingClient, MeetingClient];
  const round = await host.openBreakouts({ rooms: ['x', 'y'], assignment: 'manual', assign: { [a.userId]: 0, [b.userId]: 0, [c.userId]: 1 } });
  const [x, y] = round.rooms!.map((r) => r.roomId) as [string, string];
  await until(() => sockets[0]!.roomId === x && sockets[1]!.roomId === x && sockets[2]!.roomId === y, 'everyone placed');

  /** The main meeting's round as a node wrote it just before dying: recorded, nothing after it. */
  const recordOnly = async (change: (r: NonNullable<Awaited<ReturnType<MeetingService['room']>>>) => void) => {
    const main = (await s.meeting.room(host.roomId))!;
    const next = structuredClone(main);
    change(next);
    next.version = main.version + 1;
    assert.deepEqual(await s.store.commit(next, main.version, []), { ok: true });
  };
  await recordOnly((r) => (r.breakouts!.placed[a.userId] = y));
  assert.equal(sockets[0]!.roomId, x, 'nothing followed yet');
  await s.meeting.breakouts.sweep();
  await until(() => sockets[0]!.roomId === y, 'the move finished: a is in y');
  const inX = (await s.meeting.room(x))!.members.filter((m) => m.present).map((m) => m.userId);
  const inY = (await s.meeting.room(y))!.members.filter((m) => m.present).map((m) => m.userId);
  assert.deepEqual(inX, [b.userId]);
  assert.deepEqual(inY.sort(), [a.userId, c.userId].sort());

  await recordOnly((r) => (r.breakouts!.closing = true));
  await s.meeting.breakouts.sweep();
  await until(() => sockets.every((rt) => rt.roomId === host.roomId), 'the close finished: everyone back');
  assert.equal((await s.meeting.room(host.roomId))!.breakouts, undefined, 'the round is over');
  for (const id of [x, y]) {
    assert.equal((await s.meeting.room(id))!.ended, true);
    await gapFree(s.meeting, id);
  }
  // Run again: nothing more happens.
  const seq = (await s.meeting.room(host.roomId))!.seq;
  await s.meeting.breakouts.sweep();
  assert.equal((await s.meeting.room(host.roomId))!.seq, seq);
});

test('a placed member who leaves the main meeting leaves its breakout; a breakout cannot be entered by its key', { timeout: 30_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const host = await enter(s.opts, 'bleave', 'host');
  const ann = await enter(s.opts, 'bleave', 'ann');
  const rt = await socket(s.opts, ann);
  t.after(() => rt.close());
  const round = await host.openBreakouts({ rooms: ['x'], assignment: 'random' });
  const x = round.rooms![0]!.roomId;
  await until(() => rt.roomId === x, 'ann in x');
  const bx = (await s.meeting.room(x))!;
  await assert.rejects(
    new MeetingClient(s.opts).enter({ roomName: 'x', roomUuid: bx.roomUuid, userName: 'zed', userUuid: 'zed' }),
    (e) => e instanceof AgoraApiError && e.code === 403,
  );
  const closed = new Promise<number>((resolve) => rt.onClose((code) => resolve(code)));
  await ann.exit();
  assert.equal(await closed, 4409, "ann's socket closes as removed");
  await until(async () => !(await s.meeting.room(x))!.members.some((m) => m.present), 'ann left x too');
  assert.deepEqual((await host.breakouts()).rooms![0]!.members, []);
});

test('a socket that drops in a breakout resumes there (room= and since), or in the main meeting once the breakout ended', { timeout: 30_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const host = await enter(s.opts, 'bres', 'host');
  const [ann, bob] = await Promise.all(['ann', 'bob'].map((n) => enter(s.opts, 'bres', n)));
  const rt = new RealtimeClient({ baseUrl: s.url, token: ann!.userToken, reconnect: true, reconnectDelayMs: 20 });
  const snapshots: string[] = [];
  rt.on((m) => void (m.type === 'snapshot' && snapshots.push(m.data.room.roomId)));
  await rt.connect();
  t.after(() => rt.close());
  const round = await host.openBreakouts({ rooms: ['x'], assignment: 'random' });
  const x = round.rooms![0]!.roomId;
  await until(() => rt.roomId === x && rt.state.members.size === 2, 'ann in x with bob');
  const before = snapshots.length;
  rt.drop();
  await bob!.chat('while you were away', x);
  await until(() => rt.state.chat.some((c) => c.message === 'while you were away'), 'the missed chat, from the log');
  assert.equal(snapshots.length, before, 'resumed in x without a snapshot');
  assert.equal(rt.roomId, x);
  // Dropped again, and the round closes meanwhile: the resume starts over in the main meeting.
  rt.drop();
  await host.closeBreakouts();
  await until(() => snapshots.at(-1) === host.roomId && rt.state.breakout === null, 'a snapshot of the main meeting');
  assert.equal(rt.state.members.size, 3);
  assert.equal(rt.roomId, host.roomId, 'told it is in the main meeting (cmd 121)');
  // Its seq is the main meeting's now: the main meeting's next message is not taken for a repeat.
  // A `room` that is no roomId, or given twice: refused as a bad request.
  for (const q of ['room=no%20such', `room=${x}&room=${x}`]) {
    const ws = new WebSocket(`${s.url.replace(/^http/, 'ws')}/v1/realtime?token=${encodeURIComponent(ann!.userToken)}&${q}`);
    assert.equal(await new Promise<number>((resolve) => ws.on('close', (code) => resolve(code))), 4400, q);
  }
  await host.chat('welcome back');
  await until(() => rt.state.chat.some((c) => c.message === 'welcome back'), "the main meeting's chat");
});

test('E11 in a breakout: leaving is going back to the main meeting; a host kick there removes from the meeting', { timeout: 30_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const host = await enter(s.opts, 'bexit', 'host');
  const [ann, bob] = await Promise.all(['ann', 'bob'].map((n) => enter(s.opts, 'bexit', n)));
  const [as, bs] = await Promise.all([socket(s.opts, ann!), socket(s.opts, bob!)]);
  t.after(() => Promise.all([as.close(), bs.close()]));
  const round = await host.openBreakouts({ rooms: ['x'], assignment: 'random' });
  const x = round.rooms![0]!.roomId;
  await host.moveToBreakout(host.userId, x);
  await until(() => as.roomId === x && bs.roomId === x, 'both in x');
  const inX = new MeetingClient(s.opts);
  Object.assign(inX, { roomId: x, userId: ann!.userId, userToken: ann!.userToken });
  await inX.exit();
  await until(() => as.roomId === host.roomId, 'ann is back in the main meeting');
  assert.ok((await s.meeting.room(host.roomId))!.members.find((m) => m.userId === ann!.userId)!.present, 'still in the meeting');
  const hostInX = new MeetingClient(s.opts);
  Object.assign(hostInX, { roomId: x, userId: host.userId, userToken: host.userToken });
  const closed = new Promise<number>((resolve) => bs.onClose((code) => resolve(code)));
  await hostInX.exit(bob!.userId);
  assert.equal(await closed, 4409);
  assert.equal((await s.meeting.room(host.roomId))!.members.find((m) => m.userId === bob!.userId)!.present, false, 'out of the meeting');
  await until(async () => !(await s.meeting.room(x))!.members.some((m) => m.userId === bob!.userId && m.present), 'and out of x');
});

test('two cluster nodes on Redis: the node that timed the round stops, another node closes it when its end has passed', { skip: await redisSkip(), timeout: 60_000 }, async (t) => {
  const { nodes, opts: on } = await startRedisNodes(t, 2);
  const [stays, goes] = nodes as [ConveneNode, ConveneNode];
  const host = await enter(on(goes), 'btimer', 'host');
  const members = await Promise.all(['a', 'b', 'c', 'd'].map((n) => enter(on(stays), 'btimer', n)));
  const sockets = await Promise.all(members.map((m) => socket(on(stays), m)));
  t.after(() => Promise.all(sockets.map((rt) => rt.close())));
  const round = await host.openBreakouts({ rooms: ['x', 'y'], assignment: 'random', durationSeconds: 2 });
  await until(() => sockets.every((rt) => round.rooms!.some((r) => r.roomId === rt.roomId)), 'everyone in a breakout');
  // The node whose timer would close the round goes away before the end.
  await goes.stop();
  await until(() => sockets.every((rt) => rt.roomId === host.roomId), 'everyone back, closed by the other node (its timer or its sweep)', 20_000);
  await until(async () => (await stays.meeting.room(host.roomId))!.breakouts === undefined, 'the round is over');
  for (const r of round.rooms!) await gapFree(stays.meeting, r.roomId);
});

test('presence: a member whose socket is in a breakout stays in the main meeting; one whose socket is gone leaves both', { timeout: 30_000 }, async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'auto', CONVENE_PRESENCE_GRACE: '1' });
  t.after(() => s.close());
  const host = await enter(s.opts, 'bpres', 'host');
  const [ann, bob] = await Promise.all(['ann', 'bob'].map((n) => enter(s.opts, 'bpres', n)));
  const [as, bs] = await Promise.all([socket(s.opts, ann!), socket(s.opts, bob!)]);
  t.after(() => as.close());
  const round = await host.openBreakouts({ rooms: ['x'], assignment: 'random' });
  const x = round.rooms![0]!.roomId;
  await until(() => as.roomId === x && bs.roomId === x, 'both in x');
  await bs.close();
  // Well past the grace period: bob is gone from both rooms, ann (her socket open in x) from neither.
  await until(async () => !(await s.meeting.room(host.roomId))!.members.find((m) => m.userId === bob!.userId)!.present, 'bob left the meeting', 10_000);
  await until(async () => !(await s.meeting.room(x))!.members.find((m) => m.userId === bob!.userId)!.present, 'bob left x', 10_000);
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok((await s.meeting.room(host.roomId))!.members.find((m) => m.userId === ann!.userId)!.present, 'ann is still in the meeting');
  assert.ok((await s.meeting.room(x))!.members.find((m) => m.userId === ann!.userId)!.present, 'and in x');
  assert.equal(as.roomId, x);
});

test('with Netless boards, each breakout gets a board of its own, banned when the breakout ends', { timeout: 30_000 }, async (t) => {
  const netless = await startNetlessStandIn();
  const s = await startTestServer({ CONVENE_BOARD_PROVIDER: 'netless', CONVENE_NETLESS_URL: netless.url, CONVENE_NETLESS_AK: netless.ak, CONVENE_NETLESS_SK: netless.sk, CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(async () => (await s.close(), await netless.close()));
  const host = await enter(s.opts, 'bnet', 'host');
  const round = await host.openBreakouts({ rooms: ['x', 'y'], assignment: 'choose' });
  const boards = await Promise.all(round.rooms!.map(async (r) => (await s.meeting.room(r.roomId))!.boardId));
  const mainBoard = (await s.meeting.room(host.roomId))!.boardId;
  for (const b of boards) assert.ok(netless.rooms.has(b), `board ${b} made at Netless`);
  assert.equal(new Set([mainBoard, ...boards]).size, 3, 'one board each');
  await host.closeBreakouts();
  await until(() => boards.every((b) => netless.banned.includes(b)), "the breakouts' boards banned as they end");
  assert.ok(!netless.banned.includes(mainBoard), "the main meeting's board stays");
});
