// What the shipped Agora Meeting clients need, checked the way their code reads it: the socket
// frames are fed to small re-statements of the clients' own handlers (spec §5.2, §5.3), and the
// order of an answer and its push is measured on the receiving side over real sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { WebSocket } from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { roomPrefix, type AgoraMember, type MeetingClient } from '../../client/agora.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Frame {
  type: string;
  cmd?: number;
  seq: number;
  data: any;
  /** Position on the test's receiving clock (shared with HTTP answers). */
  at: number;
}

/** One receiving clock for answers and frames: what arrived first has the smaller number. */
let clock = 0;

/** A raw socket that records every frame on arrival (no client library in between). */
async function listen(s: TestServer, token: string) {
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}/v1/realtime?token=${encodeURIComponent(token)}`);
  const frames: Frame[] = [];
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    if (m.type !== 'snapshot') frames.push({ ...m, at: clock++ });
  });
  const snapshot = new Promise<void>((resolve) => ws.once('message', () => resolve()));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  await snapshot;
  return {
    ws,
    frames,
    take: () => frames.splice(0),
    async until(pred: (f: Frame) => boolean, ms = 3000): Promise<Frame> {
      const deadline = Date.now() + ms;
      for (;;) {
        const f = frames.find(pred);
        if (f) return f;
        if (Date.now() > deadline) throw new Error(`no matching frame within ${ms} ms: ${JSON.stringify(frames.map((x) => [x.type, x.cmd]))}`);
        await sleep(2);
      }
    },
  };
}

async function meeting(t: { after: (fn: () => unknown) => void }, names: string[]) {
  const s = await startTestServer();
  t.after(() => s.close());
  const members: MeetingClient[] = [];
  for (const name of names) {
    const c = s.client();
    await c.enter({ roomName: 'Compat', roomUuid: 'compat', userName: name, userUuid: name.toLowerCase(), enableAudio: 1, enableVideo: 0 });
    members.push(c);
  }
  return { s, members };
}

// Web `stores/room.ts`: a cmd 4 member is applied only when `rawUser.state === 1`.
function webApplyCmd4(users: Map<string, AgoraMember>, me: { userId: string; audio: number; video: number }, raw: AgoraMember & { state?: number }) {
  if (raw.state !== 1) return;
  users.set(raw.userId, raw);
  if (raw.userId === me.userId) {
    me.audio = raw.enableAudio;
    me.video = raw.enableVideo;
  }
}

// Android `RtmEventHandler`: every role-1 entry of cmd 7 joins the host list (state unread);
// a role-2 entry leaves it. The "first host" is the list's head.
function androidApplyCmd7(hosts: string[], entries: { userId: string; role: number }[]) {
  for (const e of entries) {
    const i = hosts.indexOf(e.userId);
    if (e.role === 1 && i < 0) hosts.push(e.userId);
    if (e.role === 2 && i >= 0) hosts.splice(i, 1);
  }
}

// Web `updateHostChange`: drops state-0 entries and files the rest by role.
function webApplyCmd7(hosts: Set<string>, entries: { userId: string; role: number; state: number }[]) {
  for (const e of entries) {
    if (e.state === 0) {
      hosts.delete(e.userId);
      continue;
    }
    if (e.role === 1) hosts.add(e.userId);
    else hosts.delete(e.userId);
  }
}

test('cmd 4 carries state 1, so the Web client applies other members\' and its own changes', async (t) => {
  const { s, members } = await meeting(t, ['Host', 'Pat']);
  const [host, pat] = members as [MeetingClient, MeetingClient];
  const hostWs = await listen(s, host.userToken);
  const patWs = await listen(s, pat.userToken);
  t.after(() => (hostWs.ws.close(), patWs.ws.close()));

  const hostView = new Map<string, AgoraMember>();
  const hostMe = { userId: host.userId, audio: 1, video: 0 };
  const patMe = { userId: pat.userId, audio: 0, video: 0 };
  await pat.changeUser(pat.userId, { enableVideo: 1 });
  await host.changeUser(host.userId, { enableVideo: 1, enableAudio: 0 });
  await host.changeUser(pat.userId, { enableVideo: 0 });
  await hostWs.until((f) => f.cmd === 4 && f.data.userId === pat.userId && f.data.enableVideo === 0);
  await patWs.until((f) => f.cmd === 4 && f.data.userId === pat.userId && f.data.enableVideo === 0);
  const cmd4 = (w: typeof hostWs) => w.take().filter((f) => f.type === 'channel' && f.cmd === 4);
  const forHost = cmd4(hostWs);
  const forPat = cmd4(patWs);
  assert.equal(forHost.length, 3);
  for (const f of [...forHost, ...forPat]) assert.equal(f.data.state, 1, 'every cmd 4 member carries state 1');
  for (const f of forHost) webApplyCmd4(hostView, hostMe, f.data);
  for (const f of forPat) webApplyCmd4(new Map(), patMe, f.data);
  assert.equal(hostView.get(pat.userId)?.enableVideo, 0, "the host's Web client follows Pat's video");
  assert.deepEqual([hostMe.audio, hostMe.video], [0, 1], "the host's own me.audio/me.video follow its change");
  assert.deepEqual([patMe.audio, patMe.video], [1, 0], "Pat's me follows the host's change of Pat");

  // Members inside cmd 5 and cmd 6 carry state as well.
  await pat.screen(pat.userId, 1);
  await pat.board(pat.userId, 1);
  const six = await hostWs.until((f) => f.cmd === 6);
  const five = await hostWs.until((f) => f.cmd === 5);
  assert.equal(six.data.shareScreenUsers[0].state, 1);
  assert.equal(five.data.shareBoardUsers[0].state, 1);
});

test('cmd 7 lists each member with its role after the change: Android keeps no departed host', async (t) => {
  const { s, members } = await meeting(t, ['Host', 'Ann', 'Bob']);
  const [host, ann, bob] = members as [MeetingClient, MeetingClient, MeetingClient];
  const bobWs = await listen(s, bob.userToken);
  t.after(() => bobWs.ws.close());
  const android: string[] = [host.userId];
  const web = new Set([host.userId]);

  // Host passes the role on: both entries present, old host role 2.
  await host.transferHost(ann.userId);
  const passed = await bobWs.until((f) => f.cmd === 7);
  assert.deepEqual(
    passed.data.map((e: AgoraMember & { state: number }) => [e.userId, e.role, e.state]).sort(),
    [[ann.userId, 1, 1], [host.userId, 2, 1]].sort(),
  );
  androidApplyCmd7(android, passed.data);
  webApplyCmd7(web, passed.data);
  assert.deepEqual(android, [ann.userId]);
  assert.deepEqual([...web], [ann.userId]);

  // The host leaves: it is listed as role 2, state 0; the heir as role 1, state 1.
  bobWs.take();
  await ann.exit();
  const left = await bobWs.until((f) => f.cmd === 7);
  const departed = left.data.find((e: AgoraMember) => e.userId === ann.userId);
  assert.deepEqual([departed.role, departed.state], [2, 0], 'a departed host is role 2');
  androidApplyCmd7(android, left.data);
  webApplyCmd7(web, left.data);
  const heir = left.data.find((e: AgoraMember & { state: number }) => e.state === 1);
  assert.deepEqual(android, [heir.userId], "Android's host list holds only the present host");
  assert.equal(android[0], (await bob.info()).room.hosts[0]!.userId, 'its "first host" is the real host');
  assert.deepEqual([...web], [heir.userId]);
});

test('a board apply reaches the board owner; other applies reach the host', async (t) => {
  const { s, members } = await meeting(t, ['Host', 'Owner', 'Asker']);
  const [host, owner, asker] = members as [MeetingClient, MeetingClient, MeetingClient];
  const hostWs = await listen(s, host.userToken);
  const ownerWs = await listen(s, owner.userToken);
  t.after(() => (hostWs.ws.close(), ownerWs.ws.close()));
  await owner.board(owner.userId, 1);
  await sleep(50);
  hostWs.take();
  ownerWs.take();

  // Both clients call …/user/{ownerUserId}/audience/apply with type 3.
  await asker.apply(owner.userId, 3, 1);
  const got = await ownerWs.until((f) => f.type === 'peer' && f.cmd === 2);
  assert.deepEqual(got.data, { userId: asker.userId, userName: 'Asker', type: 3, action: 1 });
  // The owner may grant it (E9 as board creator); the host heard nothing of it.
  await owner.board(asker.userId, 1);
  await sleep(50);
  assert.deepEqual(hostWs.frames.filter((f) => f.type === 'peer'), [], 'the host is not asked');

  // Audio is not the owner's to grant: naming the owner asks the host.
  ownerWs.take();
  await asker.apply(owner.userId, 1, 1);
  const toHost = await hostWs.until((f) => f.type === 'peer' && f.cmd === 2);
  assert.deepEqual(toHost.data, { userId: asker.userId, userName: 'Asker', type: 1, action: 1 });
  assert.deepEqual(ownerWs.frames.filter((f) => f.type === 'peer'), [], 'the owner is not asked for audio');
});

/** POST with node:http: `at` is taken when the answer's head arrives, on the same clock as frames. */
function post(s: TestServer, path: string, token: string, body: unknown): Promise<{ at: number; body: any }> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${s.url}${roomPrefix(undefined, s.creds.appId)}${path}`);
    const req = http.request(url, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${s.creds.customerId}:${s.creds.customerSecret}`).toString('base64')}`,
        token,
        'content-type': 'application/json',
      },
    });
    req.on('response', (res) => {
      const at = clock++;
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ at, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test("a command's HTTP answer reaches the caller before its pushed message (60 commands)", async (t) => {
  const { s, members } = await meeting(t, ['Host', 'Pat']);
  const [host, pat] = members as [MeetingClient, MeetingClient];
  const wsOf = new Map([
    [host.userId, await listen(s, host.userToken)],
    [pat.userId, await listen(s, pat.userToken)],
  ]);
  t.after(() => [...wsOf.values()].forEach((w) => w.ws.close()));
  const roomId = host.roomId;
  let hostNow = host;
  const other = (c: MeetingClient) => (c === host ? pat : host);
  const late: string[] = [];
  const commands = 60;
  for (let i = 0; i < commands; i++) {
    // The kinds the Web client acts on: its own change (cmd 4), chat (cmd 1), a room change (cmd 3)
    // and the host transfer (cmd 7) whose answer it applies first.
    const kind = ['chat', 'video', 'room', 'transfer'][i % 4]!;
    const caller = kind === 'video' ? pat : hostNow;
    const ws = wsOf.get(caller.userId)!;
    const before = Math.max(0, ...ws.frames.map((f) => f.seq));
    let answer: { at: number; body: any };
    if (kind === 'chat') answer = await post(s, `/${roomId}/chat`, caller.userToken, { message: `m${i}`, type: 1 });
    else if (kind === 'video') answer = await post(s, `/${roomId}/user/${pat.userId}`, caller.userToken, { enableVideo: i % 8 < 4 ? 1 : 0 });
    else if (kind === 'room') answer = await post(s, `/${roomId}`, caller.userToken, { muteAllChat: i % 8 < 4 ? 1 : 0 });
    else {
      const target = other(hostNow);
      answer = await post(s, `/${roomId}/user/${target.userId}/host`, caller.userToken, {});
      hostNow = target;
    }
    assert.equal(answer.body.code, 0, `${kind}: ${JSON.stringify(answer.body)}`);
    const frame = await ws.until((f) => f.seq > before);
    if (frame.at < answer.at) late.push(`${i} ${kind}: push before answer`);
  }
  assert.deepEqual(late, [], `answers that arrived after their push: ${late.length} of ${commands}`);
});

test('the push still reaches the other members right away', async (t) => {
  const { s, members } = await meeting(t, ['Host', 'Pat']);
  const [host, pat] = members as [MeetingClient, MeetingClient];
  const patWs = await listen(s, pat.userToken);
  t.after(() => patWs.ws.close());
  const delays: number[] = [];
  for (let i = 0; i < 30; i++) {
    const sent = performance.now();
    await host.chat(`hi ${i}`);
    await patWs.until((f) => f.cmd === 1 && f.data.message === `hi ${i}`);
    delays.push(performance.now() - sent);
  }
  delays.sort((a, b) => a - b);
  assert.ok(delays[Math.floor(delays.length * 0.9)]! < 250, `p90 from request to push ${delays.join(', ')}`);
});
