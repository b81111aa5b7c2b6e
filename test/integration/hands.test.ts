// Convene's hand queue (domain/hands.ts) through the client API and the socket: raise and lower
// one's own hand, the host lowers one or all and answers the next (an invitation to speak that
// works under mute all); the shipped apps' application to speak raises a hand and the host's
// answers lower it; who sees the queue; its order under 50 raises at once, on SQLite and on two
// cluster nodes sharing Redis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedisNodes, startTestServer } from '../helpers/server.ts';
import { redisSkip } from '../helpers/redis.ts';
import { AgoraApiError, MeetingClient, type ClientOptions } from '../../client/agora.ts';
import { RealtimeClient, type RealtimeMessage } from '../../client/realtime.ts';

async function enter(opts: ClientOptions, room: string, name: string): Promise<MeetingClient> {
  const c = new MeetingClient(opts);
  await c.enter({ roomName: room, roomUuid: room, userName: name, userUuid: `${room}-${name}` });
  return c;
}

async function socket(opts: ClientOptions, c: MeetingClient): Promise<{ rt: RealtimeClient; lists: string[][] }> {
  const rt = new RealtimeClient({ baseUrl: opts.baseUrl, token: c.userToken, reconnect: false });
  const lists: string[][] = [];
  rt.on((m: RealtimeMessage) => {
    if (m.type === 'channel' && m.cmd === 101) lists.push((m.data.list as { userId: string }[]).map((h) => h.userId));
  });
  const snapshot = rt.waitFor((m) => m.type === 'snapshot');
  await rt.connect();
  await snapshot;
  return { rt, lists };
}

async function refused(p: Promise<unknown>, code: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof AgoraApiError && e.code === code);
}

const ids = (list: { userId: string }[]) => list.map((h) => h.userId);
const until = async (pred: () => boolean, what: string, ms = 5000) => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('raise, lower, answer: the queue through the client API and the socket', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const host = await enter(s.opts, 'hq', 'host');
  const [ann, bob, cat] = await Promise.all(['ann', 'bob', 'cat'].map((n) => enter(s.opts, 'hq', n)));
  const hs = await socket(s.opts, host);
  const cs = await socket(s.opts, cat!);
  t.after(() => Promise.all([hs.rt.close(), cs.rt.close()]));

  await ann!.raiseHand();
  await bob!.raiseHand();
  await ann!.raiseHand(); // already up: no change
  assert.deepEqual(ids((await host.hands()).list), [ann!.userId, bob!.userId]);
  await until(() => hs.rt.state.hands.list.length === 2, 'the host socket sees two hands');
  assert.deepEqual(hs.lists, [[ann!.userId], [ann!.userId, bob!.userId]], 'one message per change, in order');
  // A member not in the queue sees none of it while the queue is for the hosts.
  assert.deepEqual(await cat!.hands(), { public: 0, list: [] });
  assert.deepEqual(cs.lists, []);
  // A member in it sees its own hand only.
  assert.deepEqual(ids((await bob!.hands()).list), [bob!.userId]);

  await refused(host.raiseHand(), 403);
  await refused(cat!.lowerHand(ann!.userId), 403);
  await refused(cat!.lowerAllHands(), 403);
  await refused(cat!.answerNextHand(), 403);
  await refused(cat!.setHandsPublic(true), 403);

  // Public: everyone sees it, and is told.
  await host.setHandsPublic(true);
  await until(() => cs.lists.length === 1, 'cat is told once the queue is public');
  assert.deepEqual(cs.lists[0], [ann!.userId, bob!.userId]);
  assert.equal((await cat!.hands()).public, 1);

  // Answer the next under mute all (members may not unmute): Ann is invited and may speak.
  await host.changeRoom({ muteAllAudio: 2 });
  const invited = new RealtimeClient({ baseUrl: s.url, token: ann!.userToken, reconnect: false });
  await invited.connect();
  t.after(() => invited.close());
  const invitation = invited.waitFor((m) => m.type === 'peer' && m.cmd === 1 && m.data.type === 1 && m.data.action === 1);
  assert.deepEqual(await host.answerNextHand(), { userId: ann!.userId, userName: 'ann' });
  await invitation;
  await ann!.changeUser(ann!.userId, { enableAudio: 1 });
  assert.deepEqual(ids((await host.hands()).list), [bob!.userId]);

  // Own lowering; the host lowering one, then all; nothing to answer.
  await bob!.lowerHand();
  assert.deepEqual((await host.hands()).list, []);
  await cat!.raiseHand();
  await bob!.raiseHand();
  await host.lowerHand(cat!.userId);
  assert.deepEqual(ids((await host.hands()).list), [bob!.userId]);
  await host.lowerAllHands();
  assert.deepEqual((await host.hands()).list, []);
  await refused(host.answerNextHand(), 404);
  await refused(host.lowerHand('nobody'), 404);
});

test("the apps' application to speak raises a hand; the host's answers and a departure lower it", async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const host = await enter(s.opts, 'ha', 'host');
  const [ann, bob, cat] = await Promise.all(['ann', 'bob', 'cat'].map((n) => enter(s.opts, 'ha', n)));
  for (const m of [ann!, bob!, cat!]) await m.apply(host.userId, 1, 1);
  await ann!.apply(host.userId, 2, 1); // a camera application is no hand
  assert.deepEqual(ids((await host.hands()).list), [ann!.userId, bob!.userId, cat!.userId]);
  await host.invite(ann!.userId, 1, 2); // rejected
  await host.changeUser(bob!.userId, { enableAudio: 1 }); // given the floor
  assert.deepEqual(ids((await host.hands()).list), [cat!.userId]);
  await cat!.exit();
  assert.deepEqual((await host.hands()).list, []);
});

/** 50 members raise at once; every hosts' message extends the last by one hand, and ends as the queue. */
async function fiftyAtOnce(hostOpts: ClientOptions, memberOpts: (i: number) => ClientOptions, room: string): Promise<void> {
  const host = await enter(hostOpts, room, 'host');
  const hs = await socket(hostOpts, host);
  try {
    const members = await Promise.all(Array.from({ length: 50 }, (_, i) => enter(memberOpts(i), room, `m${i}`)));
    await Promise.all(members.map((m) => m.raiseHand()));
    const final = ids((await host.hands()).list);
    assert.equal(new Set(final).size, 50);
    await until(() => hs.lists.length > 0 && hs.lists.at(-1)!.length === 50, 'the host socket sees all 50 hands');
    assert.equal(hs.lists.length, 50, 'one message per raise');
    hs.lists.forEach((list, i) => {
      assert.equal(list.length, i + 1);
      if (i > 0) assert.deepEqual(list.slice(0, i), hs.lists[i - 1], 'a raise goes to the end; nobody moves');
    });
    assert.deepEqual(hs.lists.at(-1), final);
    // The times agree with the order.
    const at = (await host.hands()).list.map((h) => h.at);
    assert.deepEqual(at, [...at].sort((a, b) => a - b));
  } finally {
    await hs.rt.close();
  }
}

test('the queue keeps the order of 50 raises at once', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  await fiftyAtOnce(s.opts, () => s.opts, 'h50');
});

test('two cluster nodes on Redis: 50 raises at once through both keep one order', { skip: await redisSkip(), timeout: 60_000 }, async (t) => {
  const { nodes, opts: on } = await startRedisNodes(t, 2);
  await fiftyAtOnce(on(nodes[0]!), (i) => on(nodes[i % 2]!), 'h50c');
});
