// Room info (E2) is answered before Fastify when the request is plain (src/http/conf/room-info.ts).
// A request with a query is always Fastify's: here every case is asked both ways, and the two
// answers must be the same — successes (in the three path forms, after changes, after a token
// refresh, as the iOS app authenticates) and every refusal (wrong credentials, a token of another
// room, a kicked member, an ended meeting, an unknown app).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.ts';
import { callAgora } from '../../client/agora.ts';

interface Answer {
  status: number;
  headers: Record<string, string | null>;
  json: { code: number; msg: string; data: Record<string, Record<string, unknown>> | null };
}

test('room info: a plain request and the same with a query (Fastify) get the same answer, in every case', { timeout: 60_000 }, async (t) => {
  const srv = await startTestServer();
  t.after(() => srv.close());
  const { appId, customerId, customerSecret } = srv.creds;
  const basic = `Basic ${Buffer.from(`${customerId}:${customerSecret}`).toString('base64')}`;
  const enter = async (userUuid: string, roomUuid = 'front') => {
    const r = await callAgora<{ roomId: string; userToken: string }>(srv.opts, 'POST', '/entry', { roomName: 'Front', roomUuid, userName: userUuid, userUuid });
    assert.equal(r.code, 0, r.msg);
    return r.data;
  };
  const host = await enter('host');
  const ann = await enter('ann');
  const other = await enter('olga', 'elsewhere');

  const get = async (path: string, headers: Record<string, string>): Promise<Answer> => {
    const r = await fetch(`${srv.url}${path}`, { headers });
    const picked: Record<string, string | null> = {};
    for (const h of ['content-type', 'access-control-allow-origin', 'connection']) picked[h] = r.headers.get(h);
    assert.match(r.headers.get('x-request-id') ?? '', /\S/, 'a request id');
    const text = await r.text();
    assert.equal(Number(r.headers.get('content-length')), Buffer.byteLength(text), 'content-length');
    return { status: r.status, headers: picked, json: JSON.parse(text) };
  };
  /** Asked plain and with a query: the same status, headers and body. */
  const both = async (path: string, headers: Record<string, string>, what: string): Promise<Answer> => {
    const plain = await get(path, headers);
    const routed = await get(`${path}?via=fastify`, headers);
    assert.deepEqual(plain, routed, what);
    return plain;
  };
  const forms = (roomId: string) => [`/apps/${appId}/v1/room/${roomId}`, `/conf/v1/apps/${appId}/room/${roomId}`, `/scenario/meeting/apps/${appId}/v1/room/${roomId}`];
  const asAnn = { authorization: basic, token: ann.userToken };

  for (const path of forms(ann.roomId)) {
    const a = await both(path, asAnn, `success at ${path}`);
    assert.equal(a.status, 200);
    assert.equal(a.json.code, 0);
    assert.equal(a.json.data!.user!.userUuid, 'ann');
    assert.equal(a.json.data!.room!.onlineUsers, 2);
    assert.equal(a.headers['content-type'], 'application/json; charset=utf-8');
  }
  const path = forms(ann.roomId)[0]!;

  // Changes show at once: a second member's entry, the host's mute-all.
  await enter('bob');
  assert.equal((await both(path, asAnn, 'after an entry')).json.data!.room!.onlineUsers, 3);
  const mute = await callAgora(srv.opts, 'POST', `/${host.roomId}`, { muteAllAudio: 1 }, host.userToken);
  assert.equal(mute.code, 0, mute.msg);
  assert.equal((await both(path, asAnn, 'after mute all')).json.data!.room!.muteAllAudio, 1);

  // A token refresh: the next room info carries the new tokens.
  const refreshed = await callAgora<{ rtcToken: string; rtmToken: string }>(srv.opts, 'POST', `/${ann.roomId}/token/refresh`, undefined, ann.userToken);
  assert.equal(refreshed.code, 0, refreshed.msg);
  const after = await get(path, asAnn);
  assert.equal(after.json.data!.user!.rtcToken, refreshed.data.rtcToken);
  assert.equal(after.json.data!.user!.rtmToken, refreshed.data.rtmToken);

  // The iOS app's credentials (its RTM token and uid instead of Basic).
  const me = after.json.data!.user!;
  const ios = await both(path, { 'x-agora-token': String(me.rtmToken), 'x-agora-uid': String(me.uid), token: ann.userToken }, 'iOS credentials');
  assert.equal(ios.json.code, 0, ios.json.msg);

  // Refusals: each answered as before.
  const wrong = `Basic ${Buffer.from(`${customerId}:not-the-secret`).toString('base64')}`;
  const cases: [string, string, Record<string, string>][] = [
    ['wrong secret', path, { authorization: wrong, token: ann.userToken }],
    ['no credentials', path, { token: ann.userToken }],
    ['no token', path, { authorization: basic }],
    ['a garbled token', path, { authorization: basic, token: `${ann.userToken}x` }],
    ['a token of another room', path, { authorization: basic, token: other.userToken }],
    ['an unknown app', `/apps/${'0'.repeat(32)}/v1/room/${ann.roomId}`, asAnn],
    ['an unknown room', forms('NoSuchRoomXXXXXXXXXXXX')[0]!, asAnn],
  ];
  for (const [what, p, headers] of cases) {
    const a = await both(p, headers, what);
    assert.notEqual(a.json.code, 0, `${what} is refused`);
  }
  // A kicked member, then the ended meeting.
  const kick = await callAgora(srv.opts, 'POST', `/${host.roomId}/user/${String((await get(path, asAnn)).json.data!.user!.userId)}/exit`, {}, host.userToken);
  assert.equal(kick.code, 0, kick.msg);
  assert.notEqual((await both(path, asAnn, 'kicked')).json.code, 0);
  const end = await callAgora(srv.opts, 'POST', `/${host.roomId}`, { state: 0 }, host.userToken);
  assert.equal(end.code, 0, end.msg);
  const ended = await both(forms(host.roomId)[0]!, { authorization: basic, token: host.userToken }, 'ended');
  assert.notEqual(ended.json.code, 0);
});
