// Presence: online while a socket is open; a grace period after the last one closes; then the
// member leaves through the one write path (cmd 2 state 0, host passes on).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer } from '../helpers/server.ts';
import { RealtimeClient, type RealtimeMessage } from '../../client/realtime.ts';
import { callAgora } from '../../client/agora.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connected(baseUrl: string, token: string) {
  const rt = new RealtimeClient({ baseUrl, token, reconnect: false });
  const snap = rt.waitFor((m) => m.type === 'snapshot');
  await rt.connect();
  await snap;
  return rt;
}

const left = (m: RealtimeMessage, userId: string) =>
  m.type === 'channel' && m.cmd === 2 && m.data.list.some((x: { userId: string; state: number }) => x.userId === userId && x.state === 0);

test('a closed socket leaves only after the grace period; coming back inside it is silent', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_GRACE: '1' });
  t.after(() => s.close());
  const host = s.client();
  await host.enter({ roomName: 'P', roomUuid: 'p', userName: 'Host', userUuid: 'host' });
  const m = s.client();
  await m.enter({ roomName: 'P', roomUuid: 'p', userName: 'M', userUuid: 'm' });
  const hostRt = await connected(s.url, host.userToken);
  let mRt = await connected(s.url, m.userToken);
  t.after(() => hostRt.close());
  const seen: RealtimeMessage[] = [];
  hostRt.on((x) => seen.push(x));

  // Close and come back within the grace period: nobody hears of it.
  await mRt.close();
  await sleep(500);
  mRt = await connected(s.url, m.userToken);
  await sleep(800);
  assert.equal(seen.filter((x) => left(x, m.userId)).length, 0);
  assert.equal((await host.info()).room.onlineUsers, 2);

  // Close for good: still there within the grace period, gone after it.
  const gone = hostRt.waitFor((x) => left(x, m.userId), 4000);
  const closedAt = Date.now();
  await mRt.close();
  await sleep(500);
  assert.equal((await host.info()).room.onlineUsers, 2, 'still present inside the grace period');
  const msg = await gone;
  assert.ok(Date.now() - closedAt >= 950, 'not before the grace period');
  assert.ok(msg.type === 'channel' && msg.data.total === 1);
  assert.equal((await host.info()).room.onlineUsers, 1);
  const r = await callAgora(s.opts, 'GET', `/${m.roomId}`, undefined, m.userToken);
  assert.equal(r.code, 401, 'an expired member is out of the room');
});

test("the host's expiry passes host on and tells everyone; an entry that never connects expires too", async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_GRACE: '1' });
  t.after(() => s.close());
  const host = s.client();
  await host.enter({ roomName: 'P', roomUuid: 'p', userName: 'Host', userUuid: 'host' });
  const a = s.client();
  await a.enter({ roomName: 'P', roomUuid: 'p', userName: 'A', userUuid: 'a' });
  const b = s.client();
  await b.enter({ roomName: 'P', roomUuid: 'p', userName: 'B', userUuid: 'b' });
  const hostRt = await connected(s.url, host.userToken);
  const aRt = await connected(s.url, a.userToken);
  const bRt = await connected(s.url, b.userToken);
  t.after(() => Promise.all([aRt.close(), bRt.close()]));

  const hostChange = bRt.waitFor((x) => x.type === 'channel' && x.cmd === 7, 4000);
  const leaveSeen = bRt.waitFor((x) => left(x, host.userId), 4000);
  await hostRt.close();
  const hc = await hostChange;
  await leaveSeen;
  assert.ok(hc.type === 'channel');
  const newHost = (hc.data as { userId: string; role: number; state: number }[]).find((x) => x.state === 1);
  assert.equal(newHost?.userId, a.userId, 'the member present longest becomes host');
  assert.equal((await a.info()).user.role, 1);

  // By default a member who entered over HTTP and never connected is an HTTP-only client: it stays.
  const c = s.client();
  await c.enter({ roomName: 'P', roomUuid: 'p', userName: 'C', userUuid: 'c' });
  await sleep(1600);
  assert.equal((await a.info()).room.onlineUsers, 3);
  assert.equal((await c.info()).user.state, 1, 'the HTTP-only member is still in');
});

for (const value of ['always', 'on']) {
  test(`CONVENE_PRESENCE_EXPIRY=${value}: an entry that never connects leaves after the grace period`, async (t) => {
    const s = await startTestServer({ CONVENE_PRESENCE_GRACE: '1', CONVENE_PRESENCE_EXPIRY: value });
    t.after(() => s.close());
    const host = s.client();
    await host.enter({ roomName: 'P', roomUuid: 'p', userName: 'Host', userUuid: 'host' });
    const hostRt = await connected(s.url, host.userToken);
    t.after(() => hostRt.close());
    const c = s.client();
    const cLeft = hostRt.waitFor((x) => x.type === 'channel' && x.cmd === 2 && x.data.list.some((y: { userName: string; state: number }) => y.userName === 'C' && y.state === 0), 4000);
    const enteredAt = Date.now();
    await c.enter({ roomName: 'P', roomUuid: 'p', userName: 'C', userUuid: 'c' });
    await cLeft;
    assert.ok(Date.now() - enteredAt >= 950, 'not before the grace period');
    assert.equal((await host.info()).room.onlineUsers, 1);
  });
}

test('default presence: HTTP-only members stay; a socket member leaves after its last socket, also across a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'convene-presence-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { CONVENE_PRESENCE_GRACE: '1', CONVENE_DB: join(dir, 'convene.db') };
  let s = await startTestServer(env);
  const http = s.client();
  await http.enter({ roomName: 'P', roomUuid: 'p', userName: 'Http', userUuid: 'http' });
  const sock = s.client();
  await sock.enter({ roomName: 'P', roomUuid: 'p', userName: 'Sock', userUuid: 'sock' });
  const rt = await connected(s.url, sock.userToken);
  await sleep(100);
  assert.equal((await s.meeting.room(sock.roomId))!.members.find((m) => m.userId === sock.userId)!.realtime, true, 'the first socket is recorded');
  // The server goes down with the socket open, and comes back: the socket member must reconnect.
  await s.close();
  await rt.close();
  s = await startTestServer(env);
  t.after(() => s.close());
  const c2 = (x: typeof http) => Object.assign(s.client(), { roomId: x.roomId, userId: x.userId, userToken: x.userToken });
  const httpAgain = c2(http);
  assert.equal((await httpAgain.info()).room.onlineUsers, 2, 'both are in right after the restart');
  await sleep(1700);
  const info = await httpAgain.info();
  assert.equal(info.room.onlineUsers, 1, 'the socket member left after the grace period');
  assert.equal(info.user.state, 1, 'the HTTP-only member stays');

  // A socket member that re-enters over HTTP is an HTTP-only client again: its old socket going away does not remove it.
  const back = s.client();
  await back.enter({ roomName: 'P', roomUuid: 'p', userName: 'Sock', userUuid: 'sock' });
  const rt2 = await connected(s.url, back.userToken);
  await sleep(100);
  await back.enter({ roomName: 'P', roomUuid: 'p', userName: 'Sock', userUuid: 'sock' });
  await rt2.close();
  await sleep(1600);
  assert.equal((await httpAgain.info()).room.onlineUsers, 2, 're-entered over HTTP: stays');
});

test('with expiry off, members without sockets stay', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_GRACE: '1', CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const host = s.client();
  await host.enter({ roomName: 'P', roomUuid: 'p', userName: 'Host', userUuid: 'host' });
  const m = s.client();
  await m.enter({ roomName: 'P', roomUuid: 'p', userName: 'M', userUuid: 'm' });
  const rt = await connected(s.url, m.userToken);
  await rt.close();
  await sleep(1600);
  assert.equal((await host.info()).room.onlineUsers, 2);
});
