// The RTM relay against a stand-in of Agora's RTM RESTful API (test/helpers/rtm-standin.ts): every
// channel and peer message of a meeting is relayed once, in order, with the socket's envelope, to
// the room's channel or the recipient's RTM login, through faults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startRtmStandin, type RtmStandin } from '../helpers/rtm-standin.ts';
import { RealtimeClient, type RealtimeMessage } from '../../client/realtime.ts';
import type { MeetingClient } from '../../client/agora.ts';
import { expectedRelay, relayed, waitForRelay } from '../helpers/relay.ts';
import { MAX_PAYLOAD_BYTES } from '../../src/relay/messages.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex32 = () => randomBytes(16).toString('hex');

export async function relayedServer(standin: RtmStandin, cert: string, env: Record<string, string> = {}) {
  return startTestServer({
    CONVENE_PRESENCE_EXPIRY: 'off',
    CONVENE_APP_ID: standin.appId,
    CONVENE_APP_CERTIFICATE: cert,
    CONVENE_RTM_RELAY_URL: standin.url,
    CONVENE_RTM_RELAY_BACKOFF_MS: '20',
    CONVENE_RTM_RELAY_BACKOFF_MAX_MS: '200',
    CONVENE_RTM_RELAY_TIMEOUT_MS: '500',
    ...env,
  });
}

async function watch(baseUrl: string, c: MeetingClient) {
  const rt = new RealtimeClient({ baseUrl, token: c.userToken, reconnect: false });
  const inbox: Exclude<RealtimeMessage, { type: 'snapshot' }>[] = [];
  rt.on((m) => void (m.type !== 'snapshot' && inbox.push(m)));
  const snap = rt.waitFor((m) => m.type === 'snapshot');
  await rt.connect();
  await snap;
  return { rt, inbox };
}

/** A meeting of three through the client API: every kind of channel and peer message. */
async function meetingOfThree(s: TestServer, room: string) {
  const enter = async (name: string) => {
    const c = s.client();
    await c.enter({ roomName: room, roomUuid: room, userName: name, userUuid: `${room}-${name}` });
    return c;
  };
  const A = await enter('A');
  const B = await enter('B');
  const C = await enter('C');
  const sockets = await Promise.all([A, B, C].map((c) => watch(s.url, c)));
  await A.changeRoom({ muteAllAudio: 1 });
  await A.chat('hello everyone');
  await A.changeUser(B.userId, { enableVideo: 1, enableChat: 0 });
  await A.invite(B.userId, 1, 1);
  await C.apply(C.userId, 2, 1);
  await B.board(B.userId, 1);
  await C.screen(C.userId, 1);
  await A.transferHost(B.userId);
  await C.exit();
  await B.changeRoom({ state: 0 });
  await sleep(100);
  await Promise.all(sockets.map((w) => w.rt.close()));
  return { A, B, C, sockets };
}

async function checkRelayed(s: TestServer, standin: RtmStandin, roomId: string, sockets?: { inbox: { type: string; seq: number }[] }[]) {
  const want = await expectedRelay(s.store, roomId);
  const peers = want.count - want.channel.length;
  await waitForRelay(standin, want.count);
  const got = relayed(standin, want.room.channelName);
  assert.ok(want.channel.length >= 10, `the meeting made channel messages (${want.channel.length})`);
  assert.deepEqual(got.channel, want.channel, 'every channel message once, in order, as the socket has it');
  for (const [uid, list] of want.peer) assert.deepEqual(got.peer.get(uid), list, `every peer message to ${uid} once, in order`);
  assert.ok(peers >= 3, `the meeting made peer messages (${peers})`);
  // What each socket got is in what was relayed, in the same order.
  for (const w of sockets ?? []) {
    const channel = w.inbox.filter((m) => m.type === 'channel').map(({ type: _t, seq: _s, ...env }) => env);
    const at = channel.map((m) => got.channel.findIndex((r) => JSON.stringify(r) === JSON.stringify(m)));
    assert.ok(at.every((i, k) => i >= 0 && (k === 0 || i > at[k - 1]!)), 'each socket frame relayed, in order');
  }
  for (const [lane, n] of standin.laneHighWater) assert.ok(n <= 1, `one call in flight per RTM channel/peer (${lane}: ${n})`);
  for (const r of standin.accepted) assert.ok(Buffer.byteLength(r.payload) <= MAX_PAYLOAD_BYTES);
  return { want, got };
}

test('a meeting of three is relayed to RTM: channel and peer messages once, in order, with the socket envelope (token auth)', async (t) => {
  const cert = hex32();
  const standin = await startRtmStandin({ appId: hex32(), appCertificate: cert, latencyMs: 5 });
  t.after(() => standin.close());
  const s = await relayedServer(standin, cert);
  t.after(() => s.close());
  const { A, sockets } = await meetingOfThree(s, 'relay-1');
  const { want } = await checkRelayed(s, standin, A.roomId, sockets);
  assert.ok(standin.accepted.every((r) => r.auth === 'token' && r.sender === 'convene'));
  // The apps' RTM logins are their uids: the peer messages went to members' String(uid).
  const uids = new Set(want.room.members.map((m) => String(m.uid)));
  assert.ok([...standin.peer.keys()].every((to) => uids.has(to)));
  assert.equal(standin.refused.length, 0, JSON.stringify(standin.refused.slice(0, 3)));
});

test('with 429 and 500 answers at times everything still arrives, in order, nothing twice (Basic auth)', async (t) => {
  const standin = await startRtmStandin({ appId: hex32(), customers: [{ id: 'cust', secret: 'sekrit' }] });
  t.after(() => standin.close());
  let n = 0;
  standin.failWhere(() => ++n % 3 === 0, { status: 500 });
  standin.failWhere(() => n % 7 === 1, { status: 429, retryAfter: 0 });
  standin.failWhere(() => n % 11 === 5, { timeout: true });
  const s = await relayedServer(standin, hex32(), { CONVENE_RTM_RELAY_CUSTOMER_ID: 'cust', CONVENE_RTM_RELAY_CUSTOMER_SECRET: 'sekrit' });
  t.after(() => s.close());
  const { A } = await meetingOfThree(s, 'relay-2');
  await checkRelayed(s, standin, A.roomId);
  assert.ok(standin.injected.length >= 5, `faults were injected (${standin.injected.length})`);
  assert.ok(standin.accepted.every((r) => r.auth === 'basic'));
  const metrics = await fetch(`${s.url}/metrics`).then((r) => r.text());
  assert.match(metrics, /convene_rtm_relay_retried_total [1-9]/);
  assert.match(metrics, /convene_rtm_relay_queue_depth 0/);
});

test('a refusal (401) is not retried: counted, and the next message goes on', async (t) => {
  const standin = await startRtmStandin({ appId: hex32(), customers: [{ id: 'cust', secret: 'right' }] });
  t.after(() => standin.close());
  const s = await relayedServer(standin, hex32(), { CONVENE_RTM_RELAY_CUSTOMER_ID: 'cust', CONVENE_RTM_RELAY_CUSTOMER_SECRET: 'wrong' });
  t.after(() => s.close());
  const a = s.client();
  await a.enter({ roomName: 'r', roomUuid: 'r', userName: 'A', userUuid: 'a' });
  await a.chat('one');
  const deadline = Date.now() + 5000;
  while (standin.refused.length < 2 && Date.now() < deadline) await sleep(10);
  await sleep(300);
  assert.equal(standin.accepted.length, 0);
  assert.deepEqual(standin.refused.map((r) => r.status), [401, 401], 'each message tried once, never again');
  const metrics = await fetch(`${s.url}/metrics`).then((r) => r.text());
  assert.match(metrics, /convene_rtm_relay_dropped_total\{reason="refused"\} 2/);
  assert.match(metrics, /convene_rtm_relay_queue_depth 0/);
});

test('a 600-member cmd 2 storm: every message within 32 KB, the lists reassemble to the full list', { timeout: 90_000 }, async (t) => {
  const cert = hex32();
  const standin = await startRtmStandin({ appId: hex32(), appCertificate: cert });
  t.after(() => standin.close());
  // 600 members whose sockets close at once leave together when the grace ends: a few large cmd 2.
  // The default request timeout: with the suite's 500 ms, a busy machine (the whole suite at once)
  // answered some large posts later than that, and the relay's retry of a post the stand-in had
  // accepted showed as a part twice (at-least-once, as documented for a timeout).
  const s = await relayedServer(standin, cert, { CONVENE_PRESENCE_EXPIRY: 'always', CONVENE_PRESENCE_GRACE: '8', CONVENE_MAX_CONNECTIONS_PER_IP: '0', CONVENE_RTM_RELAY_TIMEOUT_MS: '5000' });
  t.after(() => s.close());
  const host = s.client();
  await host.enter({ roomName: 'big', roomUuid: 'big', userName: 'host', userUuid: 'host' });
  const hostSocket = await watch(s.url, host);
  t.after(() => hostSocket.rt.close());
  const long = 'ü'.repeat(60);
  // 50 at a time: each member's socket opens well within the grace after its entry even on a busy
  // machine (600 at once took over 8 s there, and members still entering expired); the sockets
  // still close at once below.
  const sockets: RealtimeClient[] = [];
  for (let from = 0; from < 600; from += 50) {
    sockets.push(
      ...(await Promise.all(
        Array.from({ length: 50 }, async (_, k) => {
          const i = from + k;
          const c = s.client();
          await c.enter({ roomName: 'big', roomUuid: 'big', userName: `${long}${i}`, userUuid: `member-${i}` });
          const rt = new RealtimeClient({ baseUrl: s.url, token: c.userToken, reconnect: false });
          await rt.connect();
          return rt;
        }),
      )),
    );
  }
  await Promise.all(sockets.map((rt) => rt.close()));
  const gone = Date.now() + 20_000;
  while ((await s.meeting.room(host.roomId))!.members.filter((m) => m.present).length > 1 && Date.now() < gone) await sleep(50);
  const want = await expectedRelay(s.store, host.roomId);
  const cmd2 = want.channel.filter((m) => (m as { cmd: number }).cmd === 2) as { timestamp: number; data: { total: number; list: { userId: string }[] } }[];
  const big = cmd2.filter((m) => Buffer.byteLength(JSON.stringify(m)) > MAX_PAYLOAD_BYTES);
  assert.ok(big.length > 0, 'some cmd 2 of the storm is over 32 KB');
  await waitForRelay(standin, 1, 5000);
  const deadline = Date.now() + 20_000;
  const members = () => (standin.channel.get(want.room.channelName) ?? []).flatMap((r) => (JSON.parse(r.payload) as { data: { list: unknown[] } }).data.list).length;
  const total = cmd2.reduce((n, m) => n + m.data.list.length, 0);
  while (members() < total && Date.now() < deadline) await sleep(20);
  const got = (standin.channel.get(want.room.channelName) ?? []).map((r) => JSON.parse(r.payload) as (typeof cmd2)[number]);
  for (const r of standin.channel.get(want.room.channelName) ?? []) assert.ok(Buffer.byteLength(r.payload) <= MAX_PAYLOAD_BYTES);
  // Runs of one cmd 2 share its timestamp and total; joined, they are the full list (the apps parse it).
  let i = 0;
  for (const m of cmd2) {
    const list: unknown[] = [];
    while (list.length < m.data.list.length) {
      const part = got[i++]!;
      assert.equal((part as { cmd?: number }).cmd, 2);
      assert.equal(part.timestamp, m.timestamp);
      assert.equal(part.data.total, m.data.total);
      list.push(...part.data.list);
    }
    assert.deepEqual(list, m.data.list);
  }
  assert.equal(i, got.length, 'nothing else, nothing twice');
});

test('a burst above the app\'s rate waits its turn: Agora\'s quota is never exceeded, nothing is dropped', { timeout: 60_000 }, async (t) => {
  const cert = hex32();
  const rate = 100;
  // The stand-in counts by the second as Agora does, and refuses (429) what is over the quota.
  const standin = await startRtmStandin({ appId: hex32(), appCertificate: cert, ratePerSecond: rate });
  t.after(() => standin.close());
  const s = await relayedServer(standin, cert, { CONVENE_RTM_RELAY_RATE: String(rate), CONVENE_RATE_CHAT: '0' });
  t.after(() => s.close());
  const members = await Promise.all(
    Array.from({ length: 10 }, async (_, r) => {
      const c = s.client();
      await c.enter({ roomName: `burst${r}`, roomUuid: `burst${r}`, userName: 'm', userUuid: `m${r}` });
      return c;
    }),
  );
  const started = Date.now();
  await Promise.all(members.map(async (c) => { for (let i = 0; i < 30; i++) await c.chat(`burst ${i}`); }));
  t.diagnostic(`310 messages committed in ${Date.now() - started} ms`);
  let total = 0;
  for (const c of members) total += (await expectedRelay(s.store, c.roomId)).count;
  await waitForRelay(standin, total, 30_000);
  assert.equal(standin.accepted.length, total, 'every message relayed');
  assert.deepEqual(standin.refused, [], 'no call over the quota');
  // Calls per second, in every second from the first call (as the stand-in counts), and in sliding seconds.
  const at = standin.accepted.map((r) => r.at).sort((a, b) => a - b);
  let busiest = 0;
  for (let i = 0, j = 0; i < at.length; i++) {
    while (at[i]! - at[j]! >= 1000) j++;
    busiest = Math.max(busiest, i - j + 1);
  }
  t.diagnostic(`${total} calls in ${at.at(-1)! - at[0]!} ms, at most ${busiest} in any second`);
  assert.ok(busiest <= rate, `at most ${rate} calls in any second (${busiest})`);
  for (const c of members) {
    const want = await expectedRelay(s.store, c.roomId);
    assert.deepEqual(relayed(standin, want.room.channelName).channel, want.channel, 'in order');
  }
});
