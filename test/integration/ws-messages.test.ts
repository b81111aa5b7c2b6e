// Every command of the client API, as each member's socket sees it: the exact cmd and payload, in
// order, with consecutive seq; peer messages only to their target; another room hears nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.ts';
import { RealtimeClient, type RealtimeMessage } from '../../client/realtime.ts';
import type { MeetingClient } from '../../client/agora.ts';

type Msg = Exclude<RealtimeMessage, { type: 'snapshot' }>;

async function watch(baseUrl: string, c: MeetingClient) {
  const rt = new RealtimeClient({ baseUrl, token: c.userToken, reconnect: false });
  const inbox: Msg[] = [];
  rt.on((m) => m.type !== 'snapshot' && inbox.push(m));
  const snap = rt.waitFor((m) => m.type === 'snapshot');
  await rt.connect();
  await snap;
  return { rt, inbox, take: () => inbox.splice(0) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until every watcher has at least its expected number of messages, then a little longer. */
async function settle(expect: [{ inbox: Msg[] }, number][]) {
  const deadline = Date.now() + 3000;
  while (expect.some(([w, n]) => w.inbox.length < n) && Date.now() < deadline) await sleep(5);
  await sleep(30);
}

test('each command reaches each member exactly as the Agora clients expect', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const enter = async (room: string, name: string) => {
    const c = s.client();
    await c.enter({ roomName: room, roomUuid: room, userName: name, userUuid: name });
    return c;
  };
  const A1 = await enter('a', 'A1');
  const A2 = await enter('a', 'A2');
  const B1 = await enter('b', 'B1');
  const w1 = await watch(s.url, A1);
  const w2 = await watch(s.url, A2);
  const wb = await watch(s.url, B1);
  t.after(() => Promise.all([w1.rt.close(), w2.rt.close(), wb.rt.close()]));
  let lastSeq = (await s.meeting.room(A1.roomId))!.seq;

  /** Run an action, then check what each watcher received: [cmd, type, data subset] per message. */
  const step = async (
    what: string,
    action: () => Promise<unknown>,
    expected: [{ inbox: Msg[]; take: () => Msg[] }, [string, number, Record<string, unknown> | unknown[]][]][],
  ) => {
    await action();
    await settle(expected.map(([w, list]) => [w, list.length]));
    const room = (await s.meeting.room(A1.roomId))!;
    for (const [w, list] of expected) {
      const got = w.take();
      assert.deepEqual(
        got.map((m) => `${m.type}:${'cmd' in m ? m.cmd : ''}`),
        list.map(([type, cmd]) => `${type}:${cmd}`),
        `${what}: message kinds`,
      );
      got.forEach((m, i) => {
        assert.equal(m.version, 1);
        assert.equal(typeof m.timestamp, 'number');
        assert.ok(m.seq > lastSeq && m.seq <= room.seq, `${what}: seq in range`);
        if (i > 0) assert.ok(m.seq > got[i - 1]!.seq, `${what}: increasing seq`);
        const want = list[i]![2];
        if (Array.isArray(want)) {
          assert.equal((m.data as unknown[]).length, want.length);
          want.forEach((w, k) => assert.deepEqual(pick((m.data as unknown[])[k], w as Record<string, unknown>), w, `${what}: item ${k}`));
        } else {
          assert.deepEqual(pick(m.data, want), want, `${what}: payload of ${m.type} ${'cmd' in m ? m.cmd : ''}`);
        }
      });
    }
    lastSeq = room.seq;
    assert.deepEqual(wb.take(), [], `${what}: another room hears nothing`);
  };

  const pick = (data: unknown, want: Record<string, unknown>) =>
    Object.fromEntries(Object.keys(want).map((k) => [k, (data as Record<string, unknown>)[k]]));
  const member = (c: MeetingClient, extra: Record<string, unknown> = {}) => ({ userId: c.userId, ...extra });

  let A3!: MeetingClient;
  await step('E1 entry', async () => (A3 = await enter('a', 'A3')), [
    [w1, [['channel', 2, { total: 3 }]]],
    [w2, [['channel', 2, { total: 3 }]]],
  ]);
  const w3 = await watch(s.url, A3);
  t.after(() => w3.rt.close());
  const all = (list: [string, number, Record<string, unknown> | unknown[]][]) =>
    [[w1, list], [w2, list], [w3, list]] as [typeof w1, typeof list][];

  await step('E3 mute all audio', () => A1.changeRoom({ muteAllAudio: 1 }), all([['channel', 3, { muteAllChat: 0, muteAllAudio: 1, state: 1 }]]));
  await step('E3 mute all chat', () => A1.changeRoom({ muteAllChat: 2 }), all([['channel', 3, { muteAllChat: 2, muteAllAudio: 1, state: 1 }]]));
  await step('E5 host changes a participant', () => A1.changeUser(A2.userId, { enableVideo: 1, enableChat: 0 }), [
    [w1, [['channel', 4, member(A2, { enableVideo: 1, enableChat: 0, role: 2 })]]],
    [
      w2,
      [
        ['channel', 4, member(A2, { enableVideo: 1, enableChat: 0 })],
        ['peer', 3, { userId: A1.userId, userName: 'A1', role: 1, type: 2, state: 1, action: 1 }],
        ['peer', 3, { userId: A1.userId, userName: 'A1', role: 1, type: 4, state: 0, action: 0 }],
      ],
    ],
    [w3, [['channel', 4, member(A2, { enableVideo: 1 })]]],
  ]);
  await step('E5 participant on itself', () => A2.changeUser(A2.userId, { enableVideo: 0 }), all([['channel', 4, member(A2, { enableVideo: 0 })]]));
  await step('E6 host invites', () => A1.invite(A2.userId, 1, 1), [
    [w1, []],
    [w2, [['peer', 1, { userId: A1.userId, userName: 'A1', type: 1, action: 1 }]]],
    [w3, []],
  ]);
  await step('E6 host rejects an apply', () => A1.invite(A3.userId, 3, 2), [
    [w1, []],
    [w2, []],
    [w3, [['peer', 1, { userId: A1.userId, type: 3, action: 2 }]]],
  ]);
  await step('E7 apply naming oneself (Web)', () => A3.apply(A3.userId, 2, 1), [
    [w1, [['peer', 2, { userId: A3.userId, userName: 'A3', type: 2, action: 1 }]]],
    [w2, []],
    [w3, []],
  ]);
  await step('E7 reject invite naming the host (Android)', () => A2.apply(A1.userId, 1, 2), [
    [w1, [['peer', 2, { userId: A2.userId, type: 1, action: 2 }]]],
    [w2, []],
    [w3, []],
  ]);
  // The sharer's state first, then the share (the Web client's order).
  await step('E8 screen share start', () => A3.screen(A3.userId, 1), all([
    ['channel', 4, member(A3, { grantScreen: 1 })],
    ['channel', 6, { shareScreen: 1 }],
  ]));
  await step('E9 board start', () => A2.board(A2.userId, 1), all([
    ['channel', 5, { shareBoard: 1, createBoardUserId: A2.userId }],
    ['channel', 4, member(A2, { grantBoard: 1 })],
  ]));
  await step('E9 board grant', () => A2.board(A3.userId, 1), all([
    ['channel', 5, { shareBoard: 1, createBoardUserId: A2.userId }],
    ['channel', 4, member(A3, { grantBoard: 1 })],
  ]));
  await step('E10 host transfer', () => A1.transferHost(A2.userId), all([
    ['channel', 7, [member(A2, { role: 1, state: 1 }), member(A1, { role: 2, state: 1 })]],
  ]));
  await step('E5 the new host turns its own chat back on', () => A2.changeUser(A2.userId, { enableChat: 1 }), all([['channel', 4, member(A2, { enableChat: 1, role: 1 })]]));
  await step('E12 chat', () => A2.chat('hello'), all([['channel', 1, { userId: A2.userId, userName: 'A2', message: 'hello', type: 1 }]]));
  const kickedClose = new Promise<number>((resolve) => w3.rt.onClose((code) => resolve(code)));
  await step('E11 kick', () => A2.exit(A3.userId), all([
    ['channel', 8, { hostUserId: A2.userId, hostUserName: 'A2', userId: A3.userId, userName: 'A3' }],
    ['channel', 2, { total: 2 }],
    ['channel', 6, { shareScreen: 0, shareScreenUsers: [] }],
  ]));
  assert.equal(await kickedClose, 4409);
  const w2Closed = new Promise<number>((resolve) => w2.rt.onClose((code) => resolve(code)));
  await step('E11 host leaves', () => A2.exit(), [
    [w1, [['channel', 2, { total: 1 }], ['channel', 5, { shareBoard: 0, createBoardUserId: '0', shareBoardUsers: [] }], ['channel', 7, [member(A2, { state: 0 }), member(A1, { role: 1, state: 1 })]]]],
    [w2, [['channel', 2, { total: 1 }], ['channel', 5, { shareBoard: 0 }], ['channel', 7, [member(A2, { state: 0 }), member(A1, { role: 1, state: 1 })]]]],
  ]);
  assert.equal(await w2Closed, 4409);
  const endClose = new Promise<number>((resolve) => w1.rt.onClose((code) => resolve(code)));
  await step('E3 end meeting', () => A1.changeRoom({ state: 0 }), [[w1, [['channel', 3, { state: 0 }]]]]);
  assert.equal(await endClose, 4403);
});

test('refused connections say why with a close code', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const closeCode = async (query: string, path = '/v1/realtime') => {
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(`${s.url.replace('http', 'ws')}${path}?${query}`);
    return new Promise<number | string>((resolve) => {
      ws.on('close', (code) => resolve(code));
      ws.on('unexpected-response', (_req, res) => resolve(`http ${res.statusCode}`));
      ws.on('error', () => {});
    });
  };
  const a = s.client();
  await a.enter({ roomName: 'r', roomUuid: 'r', userName: 'A', userUuid: 'a' });
  assert.equal(await closeCode(''), 4400, 'no token');
  assert.equal(await closeCode(`token=${a.userToken}&since=-1`), 4400, 'bad since');
  assert.equal(await closeCode(`token=${a.userToken}&since=abc`), 4400, 'bad since');
  assert.equal(await closeCode('token=garbage'), 4401, 'garbage token');
  assert.equal(await closeCode(`token=${a.userToken.slice(0, -2)}xx`), 4401, 'wrong secret');
  assert.equal(await closeCode(`token=${a.userToken}&token=${a.userToken}`), 4400, 'token given twice');
  // Only the realtime path is upgraded; elsewhere the request is plain HTTP (an Agora 404 envelope).
  assert.equal(await closeCode(`token=${a.userToken}`, '/v1/elsewhere'), 'http 200');

  // The scenario prefix works too; a newer entry of the same user closes the old socket (4410).
  const rt = new RealtimeClient({ baseUrl: `${s.url}/scenario/meeting`, token: a.userToken, reconnect: false });
  const snap = rt.waitFor((m) => m.type === 'snapshot');
  await rt.connect();
  await snap;
  const replaced = new Promise<number>((resolve) => rt.onClose((code) => resolve(code)));
  const old = a.userToken;
  await a.enter({ roomName: 'r', roomUuid: 'r', userName: 'A', userUuid: 'a' });
  assert.equal(await replaced, 4410);
  assert.equal(await closeCode(`token=${old}`), 4401, 'the replaced token is refused');
  await a.changeRoom({ state: 0 });
  assert.equal(await closeCode(`token=${a.userToken}`), 4403, 'the meeting has ended');
});
