// Resume: members drop and reconnect 200 times while another member makes 1,000 changes; every
// member ends with the complete gap-free sequence of what it may see and a state equal to room info.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { RealtimeClient, type RealtimeMessage } from '../../client/realtime.ts';
import type { MeetingClient } from '../../client/agora.ts';
import { recipientsOf, type LoggedEvent } from '../../src/domain/events.ts';

/** Deterministic pseudo-random numbers, so that a failure can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

async function roomInfoView(s: TestServer, c: MeetingClient) {
  const { room } = await c.info();
  const members = [];
  let nextId = '';
  for (;;) {
    const page = await c.page({ nextId });
    if (page.list.length === 0) break;
    members.push(...page.list);
    nextId = page.nextId;
  }
  void s;
  return {
    muteAllChat: room.muteAllChat,
    muteAllAudio: room.muteAllAudio,
    state: room.state,
    onlineUsers: room.onlineUsers,
    hosts: room.hosts.map((h) => h.userId),
    shareBoard: room.shareBoard,
    createBoardUserId: room.createBoardUserId,
    shareScreen: room.shareScreen,
    members: members.sort((a, b) => (a.userId < b.userId ? -1 : 1)),
  };
}

/** What `userId` may see of the log: everything broadcast, plus peer events addressed to it. */
function visibleSeqs(events: LoggedEvent[], userId: string): number[] {
  return events.filter((e) => {
    const to = recipientsOf(e.event);
    return to === null || to.includes(userId);
  }).map((e) => e.seq);
}

test('200 disconnect/reconnect cycles during 1,000 changes: no event lost or repeated', { timeout: 120_000 }, async (t) => {
  // Chat and invitations are this test's event generator: a script, so the per-member limits are off.
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_RATE_CHAT: '0', CONVENE_RATE_REQUESTS: '0' });
  t.after(() => s.close());
  const random = rng(42);
  const host = s.client();
  await host.enter({ roomName: 'Resume', roomUuid: 'resume', userName: 'Host', userUuid: 'host' });
  const members: MeetingClient[] = [];
  for (let i = 0; i < 5; i++) {
    const m = s.client();
    await m.enter({ roomName: 'Resume', roomUuid: 'resume', userName: `M${i}`, userUuid: `m${i}` });
    members.push(m);
  }

  // Each watcher keeps every seq it received, in order, across all of its sockets.
  const watchers = members.map((m) => {
    const seen: number[] = [];
    let rt = new RealtimeClient({ baseUrl: s.url, token: m.userToken, reconnectDelayMs: 5 });
    const record = (msg: RealtimeMessage) => {
      if (msg.type !== 'snapshot') seen.push(msg.seq);
    };
    rt.on(record);
    return {
      member: m,
      seen,
      get rt() {
        return rt;
      },
      /** A fresh client resuming explicitly from the last seq, keeping the state it had. */
      async replace() {
        const state = rt.state;
        await rt.close();
        const lastSeq = rt.lastSeq;
        rt = new RealtimeClient({ baseUrl: s.url, token: m.userToken, since: lastSeq, reconnectDelayMs: 5 });
        (rt as unknown as { state: typeof state }).state = state;
        rt.on(record);
        await rt.connect();
      },
    };
  });
  await Promise.all(watchers.map((w) => w.rt.connect()));
  t.after(() => Promise.all(watchers.map((w) => w.rt.close())));

  const everyone = [host, ...members];
  let cycles = 0;
  const chaos = (async () => {
    while (cycles < 200) {
      await new Promise((r) => setTimeout(r, 1 + Math.floor(random() * 8)));
      const w = watchers[Math.floor(random() * watchers.length)]!;
      if (random() < 0.7) w.rt.drop();
      else await w.replace();
      cycles++;
    }
  })();

  let board = false;
  let screenBy: MeetingClient | null = null;
  for (let i = 0; i < 1000; i++) {
    const r = random();
    const target = members[Math.floor(random() * members.length)]!;
    if (r < 0.2) await host.changeRoom({ muteAllAudio: Math.floor(random() * 3) });
    else if (r < 0.3) await host.changeRoom({ muteAllChat: Math.floor(random() * 3) });
    else if (r < 0.5) await host.chat(`message ${i}`);
    else if (r < 0.7) await host.changeUser(target.userId, { enableVideo: Math.round(random()), enableChat: Math.round(random()) });
    else if (r < 0.8) {
      await host.board(host.userId, board ? 0 : 1);
      board = !board;
    } else if (r < 0.9) {
      if (screenBy) await screenBy.screen(screenBy.userId, 0);
      else await target.screen(target.userId, 1);
      screenBy = screenBy ? null : target;
    } else await host.invite(target.userId, 1 + Math.floor(random() * 3), 1);
  }
  await chaos;
  assert.equal(cycles, 200);

  // Everyone reconnected: each socket is open and has caught up with the last committed seq.
  const room = (await s.meeting.room(host.roomId))!;
  const deadline = Date.now() + 15_000;
  while (watchers.some((w) => w.rt.lastSeq < room.seq) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const { events } = await s.store.eventsSince(host.roomId, 0, 100_000);
  assert.equal(events.at(-1)!.seq, room.seq);
  const expected = await roomInfoView(s, host);
  for (const w of watchers) {
    const since = w.seen[0]! - 1; // the first snapshot covered everything before
    const want = visibleSeqs(events, w.member.userId).filter((seq) => seq > since);
    assert.deepEqual(w.seen, want, `${w.member.userId}: complete, ordered, no duplicates`);
    assert.deepEqual(w.rt.state.view(), expected, `${w.member.userId}: state equals room info`);
  }
  void everyone;
});

test('a resume older than the log gets a snapshot, then the events after it', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_EVENT_RETENTION: '100', CONVENE_RATE_CHAT: '0' });
  t.after(() => s.close());
  const host = s.client();
  await host.enter({ roomName: 'Old', roomUuid: 'old', userName: 'Host', userUuid: 'host' });
  const m = s.client();
  await m.enter({ roomName: 'Old', roomUuid: 'old', userName: 'M', userUuid: 'm' });
  const rt = new RealtimeClient({ baseUrl: s.url, token: m.userToken });
  const first = rt.waitFor((x) => x.type === 'snapshot');
  await rt.connect();
  await first;
  const lastSeen = rt.lastSeq;
  await rt.close();
  for (let i = 0; i < 600; i++) await host.chat(`chat ${i}`);
  await host.changeRoom({ muteAllAudio: 2 });
  const { oldestSeq } = await s.store.eventsSince(host.roomId, 0, 1);
  assert.ok(oldestSeq > lastSeen + 1, `the log was trimmed (oldest ${oldestSeq})`);

  const again = new RealtimeClient({ baseUrl: s.url, token: m.userToken, since: lastSeen });
  t.after(() => again.close());
  const got: RealtimeMessage[] = [];
  again.on((x) => got.push(x));
  const snap = again.waitFor((x) => x.type === 'snapshot');
  await again.connect();
  await snap;
  assert.equal(got[0]!.type, 'snapshot', 'the snapshot comes first');
  const room = (await s.meeting.room(host.roomId))!;
  assert.equal(got[0]!.seq, room.seq);
  const after = again.waitFor((x) => x.type === 'channel' && x.cmd === 1 && x.data.message === 'after');
  await host.chat('after');
  await after;
  assert.equal(got.at(-1)!.seq, room.seq + 1);
  assert.deepEqual(again.state.view(), await roomInfoView(s, host));
});

test('a resume that misses nothing or a few events takes no catch-up turn: live events reach it while every turn is taken', async (t) => {
  // bench:fanout's tail (issue 17): sockets resuming from the room's seq waited for a catch-up turn
  // (CONVENE_MAX_CATCH_UPS at once) with nothing to catch up, and the live events queued behind it.
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_RATE_CHAT: '0', CONVENE_MAX_CATCH_UPS: '1' });
  t.after(() => s.close());
  const host = s.client();
  await host.enter({ roomName: 'Turns', roomUuid: 'turns', userName: 'Host', userUuid: 'host' });
  const m = s.client();
  await m.enter({ roomName: 'Turns', roomUuid: 'turns', userName: 'M', userUuid: 'm' });
  for (let i = 0; i < 3; i++) await host.chat(`before ${i}`);
  const seq = (await s.meeting.room(host.roomId))!.seq;
  // The only turn is taken, for as long as this test says: no catch-up can run meanwhile.
  const blocker = await (s.gateway as unknown as { pacer: { take(owner: string): Promise<{ end(): void }> } }).pacer.take('blocker');
  t.after(() => blocker.end());

  const upToDate = new RealtimeClient({ baseUrl: s.url, token: m.userToken, since: seq, reconnect: false });
  const behind = new RealtimeClient({ baseUrl: s.url, token: host.userToken, since: seq - 3, reconnect: false });
  const fresh = new RealtimeClient({ baseUrl: s.url, token: host.userToken, reconnect: false });
  t.after(() => Promise.all([upToDate.close(), behind.close(), fresh.close()]));
  const got = { upToDate: [] as number[], behind: [] as number[], fresh: [] as string[] };
  upToDate.on((x) => got.upToDate.push(x.seq));
  behind.on((x) => got.behind.push(x.seq));
  fresh.on((x) => got.fresh.push(x.type));
  await Promise.all([upToDate.connect(), behind.connect(), fresh.connect()]);
  const live = (c: RealtimeClient) => c.waitFor((x) => x.type === 'channel' && x.cmd === 1 && x.data.message === 'live', 5_000);
  const arrived = Promise.all([live(upToDate), live(behind)]);
  await host.chat('live');
  await arrived;
  assert.deepEqual(got.upToDate, [seq + 1], 'the up-to-date socket got the live event alone');
  assert.deepEqual(got.behind, [seq - 2, seq - 1, seq, seq + 1], 'the socket 3 behind got them, then the live one, in order');
  // A snapshot is a real catch-up: it waits for the turn, and the live event after it.
  assert.deepEqual(got.fresh, [], 'the snapshot waits for its turn');
  const snap = fresh.waitFor((x) => x.type === 'snapshot', 5_000);
  blocker.end();
  assert.equal((await snap).seq, seq + 1);
});
