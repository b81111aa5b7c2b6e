// The meeting page's WebRTC signalling on the realtime socket (media=1), at the socket level: a
// signal reaches only its target, and only between two current members of one room; bad frames,
// floods and rooms above the mesh size are refused without closing the socket; nothing of it
// reaches the room's log; ICE servers with minted TURN credentials; two cluster nodes on Redis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { WebSocket } from 'ws';
import { startRedisNodes, startTestServer, type TestServer } from '../helpers/server.ts';
import { openSocket, type TestSocket } from '../helpers/socket.ts';
import { redisSkip } from '../helpers/redis.ts';
import { loadConfig, ConfigError } from '../../src/config.ts';
import { MeetingClient } from '../../client/agora.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Opened with `media=1` (or `query`), once its snapshot has come. */
async function openMedia(baseUrl: string, token: string, query = '&media=1'): Promise<TestSocket> {
  const s = await openSocket(baseUrl, token, query);
  await s.until(() => s.of('snapshot').length > 0, 5_000, 'the snapshot');
  return s;
}

async function members(s: { client: () => MeetingClient }, uuid: string, names: string[]): Promise<MeetingClient[]> {
  const out: MeetingClient[] = [];
  for (const name of names) {
    const c = s.client();
    await c.enter({ roomName: uuid, roomUuid: uuid, userName: name, userUuid: `${uuid}-${name}` });
    out.push(c);
  }
  return out;
}

const offer = { description: { type: 'offer', sdp: 'v=0\r\n' + 'a=x\r\n'.repeat(2000) } };
const signal = (to: string, body: Record<string, unknown> = offer, ref?: string) => ({ type: 'signal', to, ...(ref ? { ref } : {}), signal: body });
/** The signals a socket received (its frames of type signal). */
const received = (s: TestSocket) => s.of('signal').map((f) => ({ from: f.data.from, signal: f.data.signal }));
const errors = (s: TestSocket) => s.of('signalError').map((f) => f.data);

async function seqOf(s: TestServer, roomId: string): Promise<number> {
  return (await s.meeting.room(roomId))!.seq;
}

test('a signal reaches only its target, between members of one room; never a meeting event', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const [host, ann, bob] = await members(s, 'mesh', ['host', 'ann', 'bob']);
  const [other] = await members(s, 'elsewhere', ['eve']);
  const [hs, as, bs, es] = await Promise.all([host!, ann!, bob!, other!].map((c) => openMedia(s.url, c.userToken)));
  t.after(() => Promise.all([hs, as, bs, es].map((x) => x!.close())));
  for (const x of [hs!, as!, bs!]) {
    assert.equal(x.frames[0].type, 'media', 'told the mesh size and its ICE servers first');
    assert.deepEqual(x.frames[0].data, { meshMax: 6, iceServers: [] });
  }
  const seq = await seqOf(s, host!.roomId);

  hs!.send(signal(ann!.userId, offer, 'o1'));
  as!.send(signal(host!.userId, { description: { type: 'answer', sdp: 'v=0' } }));
  as!.send(signal(host!.userId, { candidate: { candidate: 'candidate:1 1 udp 1 10.0.0.1 5000 typ host', sdpMid: '0' } }));
  await as!.until(() => received(as!).length === 1, 5_000, 'the offer at ann');
  await hs!.until(() => received(hs!).length === 2, 5_000, 'the answer and the candidate at the host, in order');
  assert.deepEqual(received(as!), [{ from: host!.userId, signal: offer }]);
  assert.deepEqual(received(hs!).map((r) => Object.keys(r.signal)[0]), ['description', 'candidate']);

  // A member of another room cannot reach anyone here, whatever id it names.
  es!.send(signal(ann!.userId, offer, 'forged'));
  await es!.until(() => errors(es!).length === 1, 5_000, 'the refusal');
  assert.deepEqual(errors(es!)[0], { ref: 'forged', to: ann!.userId, code: 404, msg: `no member ${JSON.stringify(ann!.userId)} in this room` });
  await sleep(100);
  assert.equal(received(as!).length, 1, 'ann got nothing from the other room');
  assert.equal(received(bs!).length, 0, 'bob was never addressed and got nothing');
  assert.equal(es!.closeCode, null, 'a refusal does not close the socket');

  // Nothing of it is a meeting event: no seq, no log.
  assert.equal(await seqOf(s, host!.roomId), seq, 'the room log did not move');
  assert.equal(hs!.frames.filter((f) => f.type === 'signal' && 'seq' in f).length, 0);

  // A removed member can neither be reached nor (its socket closed) signal.
  await host!.exit(bob!.userId);
  await bs!.until(() => bs!.closeCode !== null, 5_000, 'the removed member closed');
  hs!.send(signal(bob!.userId, offer, 'to-gone'));
  await hs!.until(() => errors(hs!).length === 1, 5_000, 'the refusal');
  assert.equal(errors(hs!)[0].code, 404);

  // Leaving ends a member's signalling at once, checked at each signal.
  await ann!.exit();
  await as!.until(() => as!.closeCode !== null, 5_000, 'ann closed after leaving');
  hs!.send(signal(ann!.userId, offer, 'to-left'));
  await hs!.until(() => errors(hs!).length === 2, 5_000, 'the second refusal');
  assert.deepEqual(errors(hs!)[1], { ref: 'to-left', to: ann!.userId, code: 404, msg: `no member ${JSON.stringify(ann!.userId)} in this room` });
});

test('bad frames, floods and oversized signals are refused with a reason; the socket stays open', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_SIGNAL_RATE: '5' });
  t.after(() => s.close());
  const [host, ann] = await members(s, 'bad', ['host', 'ann']);
  const [hs, as] = await Promise.all([host!, ann!].map((c) => openMedia(s.url, c.userToken)));
  t.after(() => Promise.all([hs!.close(), as!.close()]));
  const cases: [unknown, number, RegExp][] = [
    ['not json', 400, /not JSON/],
    [{ type: 'chat', text: 'hi' }, 400, /unknown message type/],
    [{ type: 'signal', signal: {} }, 400, /to must be/],
    [{ type: 'signal', to: ann!.userId, signal: 'sdp' }, 400, /signal must be an object/],
    [{ type: 'signal', to: ann!.userId, signal: {}, extra: 1 }, 400, /unknown field "extra"/],
  ];
  for (const [frame, code, msg] of cases) {
    const n = errors(hs!).length;
    hs!.send(frame);
    await hs!.until(() => errors(hs!).length === n + 1, 5_000, `the refusal of ${JSON.stringify(frame)}`);
    const e = errors(hs!)[n];
    assert.equal(e.code, code, JSON.stringify(e));
    assert.match(e.msg, msg);
    await sleep(220); // within the rate of 5 a second
  }
  // Larger than a signal may be (but within the socket's frame limit): 413.
  await sleep(1000);
  hs!.send(signal(ann!.userId, { description: { type: 'offer', sdp: 'x'.repeat(40_000) } }, 'big'));
  await hs!.until(() => errors(hs!).some((e) => e.ref === 'big'), 5_000, 'the 413');
  assert.equal(errors(hs!).find((e) => e.ref === 'big').code, 413);
  // A member does not signal itself.
  await sleep(300);
  hs!.send(signal(host!.userId, offer, 'self'));
  await hs!.until(() => errors(hs!).some((e) => e.ref === 'self'), 5_000, 'the refusal to signal oneself');
  assert.equal(errors(hs!).find((e) => e.ref === 'self').code, 400);

  // A flood: 20 at once with a rate of 5 a second; what passes is delivered, the rest is 429.
  await sleep(1100);
  const before = errors(hs!).length;
  for (let i = 0; i < 20; i++) hs!.send(signal(ann!.userId, { candidate: { n: i } }, `f${i}`));
  await hs!.until(() => errors(hs!).length - before + received(as!).length === 20, 5_000, 'every flooded frame answered or delivered');
  const refused = errors(hs!).slice(before);
  assert.ok(refused.length >= 14 && refused.every((e) => e.code === 429 && /at most 5 per second/.test(e.msg)), JSON.stringify(refused.slice(0, 3)));
  assert.deepEqual(received(as!).map((r) => r.signal.candidate.n), received(as!).map((_, i) => i), 'what passed arrives in order');
  assert.equal(hs!.closeCode, null);
  assert.equal(as!.closeCode, null);
});

test('above the mesh size no signal passes, with a reason naming the setting', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_WEB_MESH_MAX: '2' });
  t.after(() => s.close());
  const [host, ann, bob] = await members(s, 'big', ['host', 'ann', 'bob']);
  const [hs, as] = await Promise.all([host!, ann!].map((c) => openMedia(s.url, c.userToken)));
  t.after(() => Promise.all([hs!.close(), as!.close()]));
  assert.equal(hs!.frames[0].data.meshMax, 2);
  hs!.send(signal(ann!.userId, offer, 'o'));
  await hs!.until(() => errors(hs!).length === 1, 5_000, 'the refusal');
  assert.equal(errors(hs!)[0].code, 403);
  assert.match(errors(hs!)[0].msg, /this room has 3 members: .* at most 2 \(CONVENE_WEB_MESH_MAX\); larger rooms need an RTC service/);
  // Back within the size, signals pass again.
  await bob!.exit();
  hs!.send(signal(ann!.userId, offer, 'o2'));
  await as!.until(() => received(as!).length === 1, 5_000, 'the offer once the room is small again');
});

test('media=1 with the board: both on one socket; a bad media parameter is refused', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const [host, ann] = await members(s, 'both', ['host', 'ann']);
  await host!.board(host!.userId, 1);
  const { boardToken } = await host!.boardToken();
  const hs = await openMedia(s.url, host!.userToken, `&media=1&board=1&boardToken=${encodeURIComponent(boardToken)}`);
  const as = await openMedia(s.url, ann!.userToken);
  t.after(() => Promise.all([hs.close(), as.close()]));
  hs.send({ type: 'board', op: 'draw', stroke: { id: 'st1', color: '#000000', width: 2, points: [[0.1, 0.1]] } });
  await hs.until(() => hs.of('board').length === 1, 5_000, 'the stroke drawn on the media socket');
  hs.send(signal(ann!.userId, offer));
  await as.until(() => received(as).length === 1, 5_000, 'the signal');
  for (const q of ['&media=2', '&media=1&media=1']) {
    const ws = new WebSocket(`${s.url.replace(/^http/, 'ws')}/v1/realtime?token=${encodeURIComponent(ann!.userToken)}${q}`);
    const code = await new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)));
    assert.equal(code, 4400, q);
  }
  // A socket without media=1 takes nothing in: a signal sent on it reaches no one.
  const plain = await openMedia(s.url, ann!.userToken, '');
  t.after(() => plain.close());
  plain.send(signal(host!.userId, offer, 'plain'));
  await sleep(200);
  assert.equal(received(hs).length, 0);
  assert.equal(plain.of('media').length, 0, 'no media frame without media=1');
});

test('ICE servers: fixed ones as given, TURN credentials minted per member from a shared secret that is never sent', async (t) => {
  const servers = [
    { urls: 'stun:stun.example.com:3478' },
    { urls: ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349'], secret: 's3cret', ttl: 600 },
    { urls: 'turn:fixed.example.com', username: 'u', credential: 'p' },
  ];
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_ICE_SERVERS: JSON.stringify(servers) });
  t.after(() => s.close());
  const [host] = await members(s, 'ice', ['host']);
  const before = Math.floor(Date.now() / 1000);
  const hs = await openMedia(s.url, host!.userToken);
  t.after(() => hs.close());
  const ice = hs.frames[0].data.iceServers;
  assert.deepEqual(ice[0], { urls: ['stun:stun.example.com:3478'] });
  assert.deepEqual(ice[2], { urls: ['turn:fixed.example.com'], username: 'u', credential: 'p' });
  const [expiry, user] = ice[1].username.split(':');
  assert.equal(user, host!.userId);
  assert.ok(Number(expiry) >= before + 600 && Number(expiry) <= before + 602, ice[1].username);
  assert.equal(ice[1].credential, createHmac('sha1', 's3cret').update(ice[1].username).digest('base64'), 'what coturn computes');
  assert.ok(!JSON.stringify(hs.frames[0]).includes('s3cret'));
  assert.ok(!('secret' in ice[1]) && !('ttl' in ice[1]));
});

test('CONVENE_ICE_SERVERS and the mesh settings are checked at start', () => {
  const bad = ['nope', '{}', '[{"url":"stun:x"}]', '[{"urls":"http://x"}]', '[{"urls":"turn:x","secret":"a","username":"b","credential":"c"}]', '[{"urls":"turn:x","username":"b"}]', '[{"urls":"turn:x","ttl":60}]'];
  for (const v of bad) {
    assert.throws(() => loadConfig({ CONVENE_ICE_SERVERS: v }), (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.startsWith('CONVENE_ICE_SERVERS: ')), v);
  }
  assert.throws(() => loadConfig({ CONVENE_WEB_MESH_MAX: '40' }), /CONVENE_WEB_MESH_MAX/);
  assert.deepEqual(loadConfig({}).media, { meshMax: 6, signalRate: 50, iceServers: [] });
});

test('two cluster nodes on Redis: a signal from a member on one node reaches its target on the other', { skip: await redisSkip(), timeout: 60_000 }, async (t) => {
  const { nodes, opts: on } = await startRedisNodes(t, 2);
  const [A, B] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  const host = new MeetingClient(on(A));
  await host.enter({ roomName: 'c', roomUuid: 'c', userName: 'host', userUuid: 'c-host' });
  const bob = new MeetingClient(on(B));
  await bob.enter({ roomName: 'c', roomUuid: 'c', userName: 'bob', userUuid: 'c-bob' });
  const eve = new MeetingClient(on(B));
  await eve.enter({ roomName: 'd', roomUuid: 'd', userName: 'eve', userUuid: 'd-eve' });
  const ha = await openMedia(A.url, host.userToken);
  const bb = await openMedia(B.url, bob.userToken);
  const eb = await openMedia(B.url, eve.userToken);
  t.after(() => Promise.all([ha.close(), bb.close(), eb.close()]));
  for (let i = 0; i < 5; i++) ha.send(signal(bob.userId, { candidate: { n: i } }));
  bb.send(signal(host.userId, { want: true }));
  await bb.until(() => received(bb).length === 5, 5_000, 'the host signals on the other node');
  await ha.until(() => received(ha).length === 1, 5_000, "bob's signal on the other node");
  assert.deepEqual(received(bb).map((r) => r.signal.candidate.n), [0, 1, 2, 3, 4]);
  // Eve, on bob's node but in another room, reaches neither.
  eb.send(signal(host.userId, offer, 'x'));
  await eb.until(() => errors(eb).length === 1, 5_000, 'the refusal');
  assert.equal(errors(eb)[0].code, 404);
  await sleep(200);
  assert.equal(received(ha).length, 1);
});
