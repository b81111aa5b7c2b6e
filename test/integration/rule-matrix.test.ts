// The permission matrix of spec §7 over real HTTP: every command × every kind of caller (host,
// participant, a token of another room, a kicked member, a member after the meeting ended), and
// chat / self-unmute under every mute-all mode. A refused call must change nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { callAgora, type MeetingClient } from '../../client/agora.ts';

type Caller = 'host' | 'participant' | 'otherRoom' | 'kicked' | 'afterEnd';
const CALLERS: Caller[] = ['host', 'participant', 'otherRoom', 'kicked', 'afterEnd'];

/** A fresh meeting: host H, participants P and Q, a kicked K; plus another room and an ended one. */
interface World {
  roomId: string;
  H: MeetingClient;
  P: MeetingClient;
  Q: MeetingClient;
  K: MeetingClient;
  other: MeetingClient;
  endedRoomId: string;
  ended: MeetingClient;
}

let s: TestServer;
let n = 0;
before(async () => {
  s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
});
after(() => s.close());

async function world(): Promise<World> {
  const key = `room-${++n}`;
  const enter = async (room: string, user: string) => {
    const c = s.client();
    await c.enter({ roomName: room, roomUuid: room, userName: user, userUuid: `${room}-${user}` });
    return c;
  };
  const H = await enter(key, 'H');
  const P = await enter(key, 'P');
  const Q = await enter(key, 'Q');
  const K = await enter(key, 'K');
  await H.exit(K.userId);
  const other = await enter(`${key}-other`, 'O');
  const endedHost = await enter(`${key}-ended`, 'EH');
  const ended = await enter(`${key}-ended`, 'E');
  await endedHost.changeRoom({ state: 0 });
  return { roomId: H.roomId, H, P, Q, K, other, endedRoomId: endedHost.roomId, ended };
}

interface Call {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
}

interface Case {
  name: string;
  /** Arrange extra state before the call (as the host). */
  setup?: (w: World) => Promise<void>;
  /** The call, given the world and the room path id and the acting member's own userId. */
  call: (w: World, roomId: string, self: string) => Call;
  /** Expected code per caller; missing callers default to 401 (their token is not valid here). */
  expect: Partial<Record<Caller, number>>;
}

const ok2 = { host: 0, participant: 0 };
const hostOnly = { host: 0, participant: 403 };

const CASES: Case[] = [
  { name: 'E2 room info', call: (_w, r) => ({ method: 'GET', path: `/${r}` }), expect: ok2 },
  { name: 'E3 mute all audio', call: (_w, r) => ({ method: 'POST', path: `/${r}`, body: { muteAllAudio: 1 } }), expect: hostOnly },
  { name: 'E3 mute all chat', call: (_w, r) => ({ method: 'POST', path: `/${r}`, body: { muteAllChat: 2 } }), expect: hostOnly },
  { name: 'E3 end meeting', call: (_w, r) => ({ method: 'POST', path: `/${r}`, body: { state: 0 } }), expect: hostOnly },
  { name: 'E3 share board', call: (_w, r) => ({ method: 'POST', path: `/${r}`, body: { shareBoard: 1 } }), expect: hostOnly },
  { name: 'E4 user page', call: (_w, r) => ({ method: 'GET', path: `/${r}/user/page?role=2` }), expect: ok2 },
  { name: 'E5 self video on', call: (_w, r, me) => ({ method: 'POST', path: `/${r}/user/${me}`, body: { enableVideo: 1 } }), expect: ok2 },
  { name: 'E5 self audio on', call: (_w, r, me) => ({ method: 'POST', path: `/${r}/user/${me}`, body: { enableAudio: 1 } }), expect: ok2 },
  { name: 'E5 self chat off', call: (_w, r, me) => ({ method: 'POST', path: `/${r}/user/${me}`, body: { enableChat: 0 } }), expect: ok2 },
  { name: 'E5 self grant board', call: (_w, r, me) => ({ method: 'POST', path: `/${r}/user/${me}`, body: { grantBoard: 1 } }), expect: hostOnly },
  {
    name: 'E5 self chat back on after the host disabled it',
    setup: async (w) => {
      await w.H.changeUser(w.H.userId, { enableChat: 0 });
      await w.H.changeUser(w.P.userId, { enableChat: 0 });
    },
    call: (_w, r, me) => ({ method: 'POST', path: `/${r}/user/${me}`, body: { enableChat: 1 } }),
    expect: hostOnly,
  },
  { name: 'E5 on another member', call: (w, r) => ({ method: 'POST', path: `/${r}/user/${w.Q.userId}`, body: { enableAudio: 0 } }), expect: hostOnly },
  { name: 'E6 invite', call: (w, r) => ({ method: 'POST', path: `/${r}/user/${w.Q.userId}/host/invite`, body: { type: 1, action: 1 } }), expect: hostOnly },
  { name: 'E6 reject apply', call: (w, r) => ({ method: 'POST', path: `/${r}/user/${w.Q.userId}/host/invite`, body: { type: 2, action: 2 } }), expect: hostOnly },
  { name: 'E7 apply', call: (w, r) => ({ method: 'POST', path: `/${r}/user/${w.H.userId}/audience/apply`, body: { type: 1, action: 1 } }), expect: { host: 403, participant: 0 } },
  { name: 'E7 reject invite', call: (w, r) => ({ method: 'POST', path: `/${r}/user/${w.H.userId}/audience/apply`, body: { type: 3, action: 2 } }), expect: { host: 403, participant: 0 } },
  { name: 'E8 start own screen share', call: (_w, r, me) => ({ method: 'POST', path: `/${r}/user/${me}/screen`, body: { state: 1 } }), expect: ok2 },
  { name: "E8 start another's screen share", call: (w, r) => ({ method: 'POST', path: `/${r}/user/${w.Q.userId}/screen`, body: { state: 1 } }), expect: { host: 403, participant: 403 } },
  {
    name: 'E8 start while another shares',
    setup: async (w) => void (await w.Q.screen(w.Q.userId, 1)),
    call: (_w, r, me) => ({ method: 'POST', path: `/${r}/user/${me}/screen`, body: { state: 1 } }),
    expect: { host: 1006, participant: 1006 },
  },
  {
    name: "E8 stop another's share",
    setup: async (w) => void (await w.Q.screen(w.Q.userId, 1)),
    call: (w, r) => ({ method: 'POST', path: `/${r}/user/${w.Q.userId}/screen`, body: { state: 0 } }),
    expect: hostOnly,
  },
  { name: 'E16 room screen share', call: (_w, r) => ({ method: 'POST', path: `/${r}/screen`, body: { state: 1 } }), expect: ok2 },
  { name: 'E9 start board', call: (_w, r, me) => ({ method: 'POST', path: `/${r}/user/${me}/board`, body: { state: 1 } }), expect: ok2 },
  {
    name: "E9 grant on the host's board",
    setup: async (w) => void (await w.H.board(w.H.userId, 1)),
    call: (w, r) => ({ method: 'POST', path: `/${r}/user/${w.Q.userId}/board`, body: { state: 1 } }),
    expect: hostOnly,
  },
  {
    name: "E9 ask to draw on another's board",
    setup: async (w) => void (await w.Q.board(w.Q.userId, 1)),
    call: (_w, r, me) => ({ method: 'POST', path: `/${r}/user/${me}/board`, body: { state: 1 } }),
    expect: { host: 0, participant: 1006 },
  },
  {
    name: "E9 stop another's board",
    setup: async (w) => void (await w.Q.board(w.Q.userId, 1)),
    call: (w, r) => ({ method: 'POST', path: `/${r}/user/${w.Q.userId}/board`, body: { state: 0 } }),
    expect: hostOnly,
  },
  { name: 'E10 pass host', call: (w, r) => ({ method: 'POST', path: `/${r}/user/${w.Q.userId}/host` }), expect: hostOnly },
  { name: 'E11 leave', call: (_w, r, me) => ({ method: 'POST', path: `/${r}/user/${me}/exit` }), expect: { ...ok2, kicked: 0, afterEnd: 0 } },
  { name: 'E11 kick', call: (w, r) => ({ method: 'POST', path: `/${r}/user/${w.Q.userId}/exit` }), expect: hostOnly },
  { name: 'E12 chat', call: (_w, r) => ({ method: 'POST', path: `/${r}/chat`, body: { message: 'hi', type: 1 } }), expect: ok2 },
  {
    name: 'E12 chat with own chat disabled',
    setup: async (w) => {
      await w.H.changeUser(w.H.userId, { enableChat: 0 });
      await w.H.changeUser(w.P.userId, { enableChat: 0 });
    },
    call: (_w, r) => ({ method: 'POST', path: `/${r}/chat`, body: { message: 'hi' } }),
    expect: { host: 1004, participant: 1004 },
  },
  { name: 'E13 board token', call: (_w, r) => ({ method: 'GET', path: `/${r}/board` }), expect: ok2 },
  { name: 'E14 token refresh', call: (_w, r) => ({ method: 'POST', path: `/${r}/token/refresh` }), expect: ok2 },
];

/** Who calls, with which token, on which room path. */
function caller(w: World, who: Caller): { token: string; roomId: string; self: string } {
  switch (who) {
    case 'host':
      return { token: w.H.userToken, roomId: w.roomId, self: w.H.userId };
    case 'participant':
      return { token: w.P.userToken, roomId: w.roomId, self: w.P.userId };
    case 'otherRoom':
      return { token: w.other.userToken, roomId: w.roomId, self: w.other.userId };
    case 'kicked':
      return { token: w.K.userToken, roomId: w.roomId, self: w.K.userId };
    case 'afterEnd':
      return { token: w.ended.userToken, roomId: w.endedRoomId, self: w.ended.userId };
  }
}

for (const c of CASES) {
  for (const who of CALLERS) {
    const expected = c.expect[who] ?? 401;
    test(`${c.name} × ${who} → ${expected}`, async () => {
      const w = await world();
      await c.setup?.(w);
      const { token, roomId, self } = caller(w, who);
      const before = await s.meeting.room(roomId);
      const call = c.call(w, roomId, self);
      const res = await callAgora(s.opts, call.method, call.path, call.body, token);
      assert.equal(res.code, expected, `${res.code} ${res.msg}`);
      assert.equal(typeof res.msg, 'string');
      const afterRoom = await s.meeting.room(roomId);
      if (expected !== 0) {
        assert.equal(res.data, null);
        assert.equal(afterRoom!.version, before!.version, 'a refused call commits nothing');
        assert.equal(afterRoom!.seq, before!.seq);
      }
    });
  }
}

test('E15 simple needs no token; an ended meeting is 404', async () => {
  const w = await world();
  const live = await callAgora(s.opts, 'GET', `/${w.roomId}/simple`);
  assert.equal(live.code, 0);
  const ended = await callAgora(s.opts, 'GET', `/${w.endedRoomId}/simple`);
  assert.equal(ended.code, 404);
});

for (const mode of [0, 1, 2] as const) {
  test(`muteAllChat ${mode}: host chats, participants ${mode === 0 ? 'chat' : 'get 1004'}`, async () => {
    const w = await world();
    await w.H.changeRoom({ muteAllChat: mode });
    const host = await callAgora(s.opts, 'POST', `/${w.roomId}/chat`, { message: 'from host' }, w.H.userToken);
    assert.equal(host.code, 0);
    const part = await callAgora(s.opts, 'POST', `/${w.roomId}/chat`, { message: 'from participant' }, w.P.userToken);
    assert.equal(part.code, mode === 0 ? 0 : 1004);
  });

  test(`muteAllAudio ${mode}: participants muted=${mode !== 0}, self-unmute ${mode === 2 ? 'refused (1005)' : 'allowed'}, host untouched`, async () => {
    const w = await world();
    await w.H.changeUser(w.H.userId, { enableAudio: 1 });
    await w.P.changeUser(w.P.userId, { enableAudio: 1 });
    await w.H.changeRoom({ muteAllAudio: mode });
    const info = await w.H.info();
    assert.equal(info.room.muteAllAudio, mode);
    assert.equal(info.user.enableAudio, 1, 'the host is never muted by mute-all');
    assert.equal((await w.P.info()).user.enableAudio, mode === 0 ? 1 : 0);
    // A participant entering now starts muted while mute-all is on, even if it asks for audio.
    const late = s.client();
    await late.enter({ roomName: 'x', roomUuid: (await w.H.info()).room.roomUuid, userName: 'L', userUuid: `late-${n}`, enableAudio: 1 });
    assert.equal((await late.info()).user.enableAudio, mode === 0 ? 1 : 0);
    const unmute = await callAgora(s.opts, 'POST', `/${w.roomId}/user/${w.P.userId}`, { enableAudio: 1 }, w.P.userToken);
    assert.equal(unmute.code, mode === 2 ? 1005 : 0);
    assert.equal((await w.P.info()).user.enableAudio, mode === 2 ? 0 : 1);
    // The host may still unmute a participant, and mute-all back to 0 re-enables nobody.
    const byHost = await callAgora(s.opts, 'POST', `/${w.roomId}/user/${late.userId}`, { enableAudio: 1 }, w.H.userToken);
    assert.equal(byHost.code, 0);
    await w.H.changeRoom({ muteAllAudio: 0 });
    if (mode !== 0) assert.equal((await w.Q.info()).user.enableAudio, 0);
  });
}
