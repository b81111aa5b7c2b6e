// Convene's lobby (domain/lobby.ts) through the client API, the server API and the socket, on
// SQLite and on two cluster nodes sharing Redis: a knock is seen by two moderators at once and by
// one who arrives later; a waiting member's socket gets the lobby state only, no room event; deny
// with a reason; an admission goes on on the same socket as a member's; sent back, left; admit-all
// of 200 waiting members in one commit with one membership message per socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedisNodes, startTestServer, type ConveneNode } from '../helpers/server.ts';
import { redisSkip } from '../helpers/redis.ts';
import { qiniu, qiniuServer, raw } from '../helpers/qiniu.ts';
import { callAgora, LOBBY_WAITING, MeetingClient, type ClientOptions } from '../../client/agora.ts';
import { RealtimeClient, type RealtimeMessage } from '../../client/realtime.ts';

type Channel = Extract<RealtimeMessage, { type: 'channel' }>;
const isCmd = (cmd: number) => (m: RealtimeMessage): m is Channel => m.type === 'channel' && m.cmd === cmd;

interface Watched {
  rt: RealtimeClient;
  seen: RealtimeMessage[];
  closed: Promise<{ code: number; reason: string }>;
}

async function watch(opts: ClientOptions, token: string): Promise<Watched> {
  const rt = new RealtimeClient({ baseUrl: opts.baseUrl, token, reconnect: false });
  const seen: RealtimeMessage[] = [];
  rt.on((m) => seen.push(m));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => rt.onClose((code, reason) => resolve({ code, reason })));
  await rt.connect();
  return { rt, seen, closed };
}

async function until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function member(opts: ClientOptions, room: string, name: string, extra: Record<string, unknown> = {}): Promise<MeetingClient> {
  const c = new MeetingClient(opts);
  await c.enter({ roomName: room, roomUuid: room, userName: name, userUuid: `${room}-${name}`, ...extra }, { wait: true });
  return c;
}

const roomToken = (cred: unknown, appId: string, room: string, user: string, permission: 'user' | 'admin') =>
  qiniu.room.getRoomToken({ appId, roomName: room, userId: user, expireAt: Math.floor(Date.now() / 1000) + 3600, permission }, cred) as string;

const knocks = (w: Watched) => w.seen.filter(isCmd(110)).flatMap((m) => (m.data.knocked as { userId: string }[]).map((k) => k.userId));

/**
 * Knock, tell, deny, admit, send back, leave: `a` and `b` are two nodes' clients (the same server on
 * SQLite). The host is on `a`, an admin-RoomToken moderator on `b`; members knock through both.
 */
async function knockAndAnswer(a: ClientOptions, b: ClientOptions, cred: unknown, keys: { ak: string; sk: string }, room: string): Promise<void> {
  const appId = a.appId;
  const host = await member(a, room, 'host');
  const pat = await member(b, room, 'pat');
  // A moderator: entered with an admin RoomToken (the right to remove others).
  const mod = new MeetingClient(b);
  await mod.enter({ roomName: room, roomUuid: room, userName: 'mod', userUuid: `${room}-mod`, roomToken: roomToken(cred, appId, room, `${room}-mod`, 'admin') } as never);
  const hs = await watch(a, host.userToken);
  const ms = await watch(b, mod.userToken);
  const ps = await watch(a, pat.userToken);
  const sockets: Watched[] = [hs, ms, ps];
  try {
    assert.equal((await callAgora(a, 'POST', `/${host.roomId}/lobby`, { on: 1 }, pat.userToken)).code, 403, 'only a moderator turns it on');
    await host.setLobby({ on: 1 });

    // A knock through E1 answers 1012 in the Agora envelope, with the token of its lobby socket.
    const body = { roomName: room, roomUuid: room, userName: 'ann', userUuid: `${room}-ann` };
    const env = await callAgora<{ roomId: string; userId: string; userToken: string; waiting: number }>(b, 'POST', '/entry', body);
    assert.equal(env.code, LOBBY_WAITING, JSON.stringify(env));
    assert.equal(env.data.waiting, 1);
    assert.equal((await callAgora(a, 'GET', `/${env.data.roomId}`, undefined, env.data.userToken)).code, 401, 'no room info while waiting');
    const ann = Object.assign(new MeetingClient(b), { roomId: env.data.roomId, userId: env.data.userId, userToken: env.data.userToken });
    // Told at once to both moderators, on both nodes; not to the other member.
    await until(() => knocks(hs).includes(ann.userId) && knocks(ms).includes(ann.userId), 'both moderators told of the knock');
    assert.deepEqual(hs.rt.state.lobby.list.map((k) => k.userId), [ann.userId]);
    assert.deepEqual(ms.rt.state.lobby.list.map((k) => k.userId), [ann.userId]);
    assert.deepEqual((await host.lobby()).list.map((k) => k.userId), [ann.userId]);
    const waitingView = await ann.lobby();
    assert.deepEqual([waitingView.state, waitingView.list], ['waiting', []], 'a waiting member sees its own state, not the list');

    // Its socket: the lobby state only, with seq 0.
    const as = await watch(a, ann.userToken);
    sockets.push(as);
    await until(() => as.seen.length > 0, 'the waiting socket is told it waits');
    assert.deepEqual(as.seen.map((m) => [m.type, (m as Channel).cmd, m.seq, (m as Channel).data.state]), [['channel', 111, 0, 'waiting']]);

    // A moderator who arrives later has the list in its snapshot.
    const late = new MeetingClient(a);
    await late.enter({ roomName: room, roomUuid: room, userName: 'late', userUuid: `${room}-late`, roomToken: roomToken(cred, appId, room, `${room}-late`, 'admin') } as never);
    const ls = await watch(a, late.userToken);
    sockets.push(ls);
    await until(() => ls.seen.some((m) => m.type === 'snapshot'), 'the late moderator has its snapshot');
    assert.deepEqual(ls.rt.state.lobby.list.map((k) => k.userId), [ann.userId]);
    // A RoomToken entry through the server API's auth knocks too: 202.
    const bobToken = roomToken(cred, appId, room, `${room}-bob`, 'user');
    const port = Number(new URL(b.baseUrl).port);
    const auth = await raw(port, { method: 'GET', path: `/v3/apps/${appId}/rooms/${room}/auth?user=${room}-bob&token=${encodeURIComponent(bobToken)}`, auth: null, contentType: null });
    assert.equal(auth.status, 202, auth.body);
    assert.equal(auth.json.waiting, true);
    const bs = await watch(b, auth.json.accessToken);
    sockets.push(bs);
    // A RoomToken straight on the socket knocks as well.
    const cs = await watch(a, roomToken(cred, appId, room, `${room}-cat`, 'user'));
    sockets.push(cs);
    await until(() => hs.rt.state.lobby.list.length === 3 && ms.rt.state.lobby.list.length === 3 && ls.rt.state.lobby.list.length === 3, 'every moderator sees three waiting');
    const [, bobId, catId] = hs.rt.state.lobby.list.map((k) => k.userId);

    // The room goes on; the waiting members hear nothing of it.
    await host.chat('hello');
    await host.changeRoom({ muteAllChat: 1 });
    await host.changeRoom({ muteAllChat: 0 });
    await until(() => ps.seen.filter(isCmd(1)).length === 1 && ps.seen.filter(isCmd(3)).length === 2, 'the member hears the room');
    assert.equal(ps.seen.filter((m) => isCmd(110)(m) || isCmd(111)(m)).length, 0, 'no lobby message to other members');
    for (const w of [as, bs, cs]) assert.deepEqual(w.seen.map((m) => [(m as Channel).cmd, m.seq]), [[111, 0]], 'a waiting socket gets no room event');

    // Deny with a reason (server API): the member is told, its socket closed with it.
    const denied = bs.rt.waitFor(isCmd(111));
    const deny = await raw(port, { method: 'POST', path: `/v3/apps/${appId}/rooms/${room}/lobby/deny`, body: JSON.stringify({ user: `${room}-bob`, reason: 'not on the list' }), keys });
    assert.equal(deny.status, 200, deny.body);
    assert.deepEqual((await denied).data, { state: 'denied', reason: 'not on the list', by: null });
    assert.deepEqual(await bs.closed, { code: 4425, reason: 'denied: not on the list' });
    const bobState = await callAgora<{ state: string; reason: string }>(b, 'GET', `/${host.roomId}/lobby`, undefined, auth.json.accessToken);
    assert.deepEqual([bobState.data.state, bobState.data.reason], ['denied', 'not on the list']);
    assert.ok(!hs.rt.state.lobby.list.some((k) => k.userId === bobId));

    // Admit one (client API): the same socket goes on as a member's, from a snapshot.
    const admittedNote = as.rt.waitFor((m) => isCmd(111)(m) && m.data.state === 'admitted');
    const snap = as.rt.waitFor((m) => m.type === 'snapshot');
    const joined = ps.rt.waitFor((m) => isCmd(2)(m) && (m.data.list as { userId: string }[]).some((x) => x.userId === ann.userId));
    assert.deepEqual(await host.admit([ann.userId]), { admitted: [ann.userId], waiting: 1 });
    assert.equal((await admittedNote).data.by.userId, host.userId);
    await snap;
    await joined;
    assert.equal((await ann.info()).user.state, 1, 'the knock token is now a member token: no second entry');
    const chat = as.rt.waitFor(isCmd(1));
    await pat.chat('welcome');
    assert.equal((await chat).data.message, 'welcome');
    assert.equal(as.seen.filter(isCmd(2)).length, 0, 'no membership message on top of the snapshot');

    // Sent back: its socket is closed to reconnect, which gets it the lobby state again.
    await host.sendToLobby(ann.userId);
    assert.equal((await as.closed).code, 4412);
    assert.equal((await ann.lobby()).state, 'waiting');
    await until(() => hs.rt.state.lobby.list.some((k) => k.userId === ann.userId), 'the moderators see it wait again');
    const again = await watch(b, ann.userToken);
    sockets.push(again);
    await until(() => again.seen.length === 1, 'the lobby state');
    assert.equal((again.seen[0] as Channel).data.state, 'waiting');

    // Leaves the lobby: the moderators are told.
    const left = hs.rt.waitFor((m) => isCmd(110)(m) && (m.data.left as { userId: string }[]).some((x) => x.userId === ann.userId));
    await ann.leaveLobby();
    assert.equal((await left).data.left[0].why, 'exit');
    assert.equal((await again.closed).code, 4409);

    // The server API: the lobby, and admit all (cat, who knocked on the socket).
    const lobby = await raw(port, { method: 'GET', path: `/v3/apps/${appId}/rooms/${room}/lobby`, keys });
    assert.deepEqual(lobby.json.users.map((u: { userId: string }) => u.userId), [`${room}-cat`]);
    const catIn = cs.rt.waitFor((m) => m.type === 'snapshot');
    const all = await raw(port, { method: 'POST', path: `/v3/apps/${appId}/rooms/${room}/lobby/admit`, body: '{}', keys });
    assert.deepEqual(all.json, { admitted: [`${room}-cat`], waiting: 0 });
    assert.ok((await catIn).data.members.some((x) => x.userId === catId));
  } finally {
    await Promise.all(sockets.map((w) => w.rt.close()));
  }
}

test('knock, tell two moderators and a late one, deny with a reason, admit, send back, leave (SQLite)', async (t) => {
  const { s, keys, cred } = await qiniuServer(t);
  await knockAndAnswer(s.opts, s.opts, cred, keys, 'lob');
});

test("the app's default starts rooms with the lobby; it persists without a host; a closed lobby socket leaves after the grace period", async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_GRACE: '1' });
  t.after(() => s.close());
  const port = Number(new URL(s.url).port);
  const { appId, accessKey: ak, secretKey: sk } = s.bootstrapped;
  const update = await raw(port, { method: 'POST', path: `/v3/apps/${appId}`, body: JSON.stringify({ lobby: true }), keys: { ak, sk } });
  assert.equal(update.status, 200, update.body);
  assert.equal(update.json.lobby, true);
  const host = await member(s.opts, 'dflt', 'host');
  assert.equal(host.waiting, false, 'the creator enters');
  const pat = await member(s.opts, 'dflt', 'pat');
  assert.equal(pat.waiting, true, 'the next one knocks');
  assert.equal((await host.lobby()).on, 1);
  await host.admit([pat.userId]);
  const ann = await member(s.opts, 'dflt', 'ann');
  const as = await watch(s.opts, ann.userToken);
  const ps = await watch(s.opts, pat.userToken);
  t.after(() => Promise.all([as.rt.close(), ps.rt.close()]));
  await until(() => as.seen.length === 1, 'ann waits');
  // The host leaves: the lobby stays; pat inherits the role and is sent the list.
  const told = ps.rt.waitFor((m) => isCmd(110)(m) && (m.data.list as { userId: string }[]).some((k) => k.userId === ann.userId));
  await host.exit();
  await told;
  assert.deepEqual((await pat.lobby()).list.map((k) => k.userId), [ann.userId]);
  assert.equal((await ann.lobby()).state, 'waiting');
  // Ann's lobby socket goes away: after the grace period she no longer waits.
  const left = ps.rt.waitFor((m) => isCmd(110)(m) && (m.data.left as { userId: string; why: string }[]).some((k) => k.userId === ann.userId && k.why === 'presence'), 8000);
  as.rt.drop();
  await left;
  assert.deepEqual((await pat.lobby()).list, []);
  assert.equal((await ann.lobby()).state, 'out', 'she no longer waits');
  assert.equal((await callAgora(s.opts, 'GET', `/${pat.roomId}`, undefined, ann.userToken)).code, 401, 'nor is she in');
  // A client that cannot wait gets the knock as an error, 1012, as the shipped apps do.
  await assert.rejects(new MeetingClient(s.opts).enter({ roomName: 'dflt', roomUuid: 'dflt', userName: 'x', userUuid: 'dflt-x' }), (e: Error & { code?: number }) => e.code === LOBBY_WAITING);
});

test('bad input to the lobby is refused in each API\'s envelope and changes nothing', async (t) => {
  const { s, port, keys } = await qiniuServer(t);
  const appId = s.bootstrapped.appId;
  const host = await member(s.opts, 'bad', 'host');
  await host.setLobby({ on: 1 });
  const ann = await member(s.opts, 'bad', 'ann');
  const call = (method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, token = host.userToken) => callAgora(s.opts, method, `/${host.roomId}${path}`, body, token);
  for (const [path, body] of [
    ['/lobby', { on: 2 }],
    ['/lobby', { exempt: 'vip' }],
    ['/lobby', { exempt: Array.from({ length: 101 }, (_, i) => `u${i}`) }],
    ['/lobby/admit', { userIds: [] }],
    ['/lobby/deny', { reason: 'no user' }],
    ['/lobby/deny', { userId: ann.userId, reason: 'x'.repeat(257) }],
    ['/lobby/back', {}],
  ] as const) {
    const env = await call('POST', path, body);
    assert.equal(env.code, 400, `${path} ${JSON.stringify(body).slice(0, 60)}: ${JSON.stringify(env)}`);
    assert.match(env.msg, /invalid argument/);
  }
  assert.equal((await call('POST', '/lobby/admit', { userIds: ['nobody'] })).code, 404);
  assert.equal((await call('POST', '/lobby/back', { userId: host.userId })).code, 400, 'not oneself');
  assert.equal((await call('DELETE', '/lobby')).code, 404, 'the host does not wait');
  assert.equal((await call('POST', '/lobby/admit', {}, ann.userToken)).code, 401, 'a waiting member acts on nothing');
  const signed = (path: string, body: string) => raw(port, { method: 'POST', path: `/v3/apps/${appId}/rooms/bad/lobby${path}`, body, keys });
  for (const [path, body] of [
    ['', '{"on": "maybe"}'],
    ['', '{"exempt": "vip"}'],
    ['/admit', '{"users": []}'],
    ['/deny', '{}'],
    ['/deny', `{"user": "bad-ann", "reason": "${'x'.repeat(257)}"}`],
    ['/back', '{"user": 7}'],
  ] as const) {
    const r = await signed(path, body);
    assert.equal(r.status, 400, `${path} ${body.slice(0, 60)}: ${r.body}`);
  }
  assert.equal((await signed('/admit', '{"users": ["nobody"]}')).status, 612);
  assert.equal((await raw(port, { method: 'GET', path: `/v3/apps/${appId}/rooms/none/lobby`, keys })).status, 615);
  // An entry by password knocks only with the right one.
  const pw = await member(s.opts, 'pw', 'host', { password: 'sesame' });
  await pw.setLobby({ on: 1 });
  const entry = (password: string) => callAgora(s.opts, 'POST', '/entry', { roomName: 'pw', roomUuid: 'pw', userName: 'eve', userUuid: 'pw-eve', password });
  assert.equal((await entry('wrong')).code, 1002);
  assert.deepEqual((await pw.lobby()).list, []);
  assert.equal((await entry('sesame')).code, LOBBY_WAITING);
  // Nothing changed: ann still waits, the lobby still on.
  const state = await host.lobby();
  assert.deepEqual([state.on, state.list.map((k) => k.userId), state.exempt], [1, [ann.userId], []]);
});

/** 200 knock (spread over `opts`' nodes) and wait on their sockets; one admit-all lets them all in. */
async function admitAll200(opts: (i: number) => ClientOptions, meeting: ConveneNode['meeting'], room: string): Promise<void> {
  const host = await member(opts(0), room, 'host');
  const pat = await member(opts(0), room, 'pat');
  await host.setLobby({ on: 1 });
  const hs = await watch(opts(0), host.userToken);
  const ps = await watch(opts(1), pat.userToken);
  // Their snapshots first: a knock committed before the host's snapshot is in it, not in a cmd 110.
  await until(() => [hs, ps].every((w) => w.seen.some((m) => m.type === 'snapshot')), 'the host and the member have their snapshots');
  const waiting: Watched[] = [];
  try {
    const knocked = await Promise.all(Array.from({ length: 200 }, (_, i) => member(opts(i), room, `m${i}`)));
    assert.ok(knocked.every((k) => k.waiting));
    for (const [i, k] of knocked.entries()) waiting.push(await watch(opts(i + 1), k.userToken));
    await until(() => waiting.every((w) => w.seen.length === 1), 'every waiting socket is told it waits');
    await until(() => hs.rt.state.lobby.list.length === 200, 'the host sees 200 waiting');
    assert.ok(hs.seen.filter(isCmd(110)).length < 200 || knocks(hs).length === 200, 'every knock told');
    const told = new Set(knocks(hs));
    const missing = knocked.filter((k) => !told.has(k.userId)).map((k) => k.userId);
    const seqs110 = hs.seen.filter(isCmd(110)).map((m) => m.seq);
    assert.equal(told.size, 200, `the host's cmd 110 never named ${missing} (its cmd 110 seqs: ${seqs110.join(',')})`);
    const before = { host: hs.seen.length, pat: ps.seen.length };
    // The waiting sockets' own commands (their first socket) have settled: the room's version holds still.
    let stored = (await meeting.room(host.roomId))!;
    for (;;) {
      await new Promise((r) => setTimeout(r, 300));
      const now = (await meeting.room(host.roomId))!;
      if (now.version === stored.version) break;
      stored = now;
    }

    const r = await host.admit();
    assert.equal(r.admitted.length, 200);
    assert.equal(r.waiting, 0);
    // One commit: the version moved by one, and its events are the admission's three.
    const after = (await meeting.room(host.roomId))!;
    assert.equal(after.version, stored.version + 1);
    const logged = (await meeting.eventsSince(host.roomId, stored.seq, 10)).events.map((e) => e.event);
    assert.deepEqual(logged.map((e) => e.type), ['lobbyAdmitted', 'membersChanged', 'lobbyChanged']);
    assert.equal(logged[1]!.type === 'membersChanged' && logged[1]!.changes.length, 200);
    await until(() => waiting.every((w) => w.seen.some((m) => m.type === 'snapshot')), 'every admitted socket has its snapshot');
    await until(() => hs.rt.state.lobby.list.length === 0 && ps.seen.filter(isCmd(2)).length > 0, 'the host and the member are told');
    await new Promise((r) => setTimeout(r, 200));
    // One membership message per socket, for all 200 (a room over 100 lists them as omitted).
    for (const w of [hs, ps]) {
      const membership = w.seen.filter(isCmd(2));
      assert.equal(membership.length, 1, 'one membership message');
      assert.equal(membership[0]!.data.total, 202);
      assert.equal(membership[0]!.data.omitted, 200);
    }
    assert.equal(hs.seen.slice(before.host).filter(isCmd(110)).length, 1, 'one lobby message to the host');
    assert.equal(ps.seen.slice(before.pat).filter((m) => m.type === 'channel' && m.cmd !== 2).length, 0, 'nothing else to the member');
    // One commit: the admission's messages are consecutive in the log, and every admitted socket starts after them.
    const seqs = [hs.seen.filter(isCmd(2))[0]!.seq, hs.seen.filter(isCmd(110)).at(-1)!.seq];
    assert.equal(seqs[1] - seqs[0], 1);
    for (const w of waiting) {
      assert.deepEqual(w.seen.map((m) => (m.type === 'snapshot' ? 'snapshot' : (m as Channel).data.state)), ['waiting', 'admitted', 'snapshot']);
      assert.ok(w.seen[2]!.seq >= seqs[1]);
      assert.equal((w.seen[2] as Extract<RealtimeMessage, { type: 'snapshot' }>).data.room.onlineUsers, 202);
    }
    const info = await knocked[199]!.info();
    assert.equal(info.room.onlineUsers, 202);
  } finally {
    await Promise.all([hs, ps, ...waiting].map((w) => w.rt.close()));
  }
}

test('admit all of 200 waiting: one commit, one membership message per socket (SQLite)', { timeout: 60_000 }, async (t) => {
  const { s } = await qiniuServer(t);
  await admitAll200(() => s.opts, s.meeting, 'a200');
});

test('two cluster nodes on Redis: the lobby across nodes, and admit all of 200', { skip: await redisSkip(), timeout: 120_000 }, async (t) => {
  const { nodes, opts: on } = await startRedisNodes(t, 2);
  const b = nodes[0]!.bootstrapped as ConveneNode['bootstrapped'];
  await knockAndAnswer(on(nodes[0]!), on(nodes[1]!), new qiniu.Credentials(b.accessKey, b.secretKey), { ak: b.accessKey, sk: b.secretKey }, 'lobc');
  await admitAll200((i) => on(nodes[i % 2]!), nodes[1]!.meeting, 'a200c');
});
