// The unmodified `qiniu` npm SDK against a running Convene over a real socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { qiniu, qiniuServer as setup, raw, sdk } from '../helpers/qiniu.ts';
import { RealtimeClient } from '../../client/realtime.ts';
import { MeetingClient, callAgora } from '../../client/agora.ts';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

test("the Node SDK's own app test sequence, and every App field", async (t) => {
  const { port, cred, keys } = await setup(t);
  const created = await sdk<any>((cb) => qiniu.app.createApp({ hub: 'hailong', title: 'testtitle', maxUsers: 10, noAutoKickUser: true }, cred, cb));
  assert.equal(created.err, null);
  const app = created.res;
  assert.match(app.appId, /^[a-z0-9]{10}$/);
  assert.equal(app.title, 'testtitle');
  assert.deepEqual(
    { hub: app.hub, maxUsers: app.maxUsers, noAutoKickUser: app.noAutoKickUser, noAutoCloseRoom: app.noAutoCloseRoom, noAutoCreateRoom: app.noAutoCreateRoom },
    { hub: 'hailong', maxUsers: 10, noAutoKickUser: true, noAutoCloseRoom: false, noAutoCreateRoom: false },
  );
  assert.deepEqual(app.mergePublishRtmp, { enable: false, audioOnly: false, height: 480, width: 640, fps: 25, kbps: 1000, url: '', streamTitle: '' });
  assert.match(app.createdAt, RFC3339);
  assert.match(app.updatedAt, RFC3339);

  const updated = await sdk<any>((cb) => qiniu.app.updateApp(app.appId, { title: 'testtitle2' }, cred, cb));
  assert.equal(updated.err, null);
  assert.equal(updated.res.title, 'testtitle2');
  const got = await sdk<any>((cb) => qiniu.app.getApp(app.appId, cred, cb));
  assert.equal(got.err, null);
  assert.equal(got.res.title, 'testtitle2');
  assert.equal(got.res.maxUsers, 10);

  // The Go SDK's checkUpdate sequence: partial updates keep what they do not name.
  const u1 = await raw(port, { method: 'POST', path: `/v3/apps/${app.appId}`, keys, body: JSON.stringify({ maxUsers: 3 }) });
  assert.equal(u1.json.maxUsers, 3);
  const u2 = await raw(port, {
    method: 'POST',
    path: `/v3/apps/${app.appId}`,
    keys,
    body: JSON.stringify({ noAutoKickUser: false, mergePublishRtmp: { enable: true, audioOnly: true, streamTitle: 'ddddddddd' } }),
  });
  assert.equal(u2.status, 200);
  assert.equal(u2.json.maxUsers, 3);
  assert.equal(u2.json.noAutoKickUser, false);
  assert.deepEqual(u2.json.mergePublishRtmp, { enable: true, audioOnly: true, height: 480, width: 640, fps: 25, kbps: 1000, url: '', streamTitle: 'ddddddddd' });
  const u3 = await raw(port, { method: 'POST', path: `/v3/apps/${app.appId}`, keys, body: JSON.stringify({ maxUsers: 4 }) });
  assert.equal(u3.json.maxUsers, 4);
  assert.equal(u3.json.mergePublishRtmp.streamTitle, 'ddddddddd');

  // List apps (raw: the Node SDK has no call for it), then delete.
  const list = await raw(port, { method: 'GET', path: '/v3/apps', keys });
  assert.equal(list.status, 200);
  assert.ok(Array.isArray(list.json) && list.json.some((a: { appId: string }) => a.appId === app.appId));
  const deleted = await sdk((cb) => qiniu.app.deleteApp(app.appId, cred, cb));
  assert.equal(deleted.err, null);
  const gone = await sdk<any>((cb) => qiniu.app.getApp(app.appId, cred, cb));
  assert.equal(gone.err.code, 612);
  assert.equal(gone.err.message, 'app not found');
  assert.match(gone.err.reqId, /^[A-Za-z0-9_-]{16}$/);

  // Python's form body is accepted and coerced.
  const form = await raw(port, {
    method: 'POST',
    path: '/v3/apps',
    keys,
    contentType: 'application/x-www-form-urlencoded',
    body: 'hub=h&title=t&maxUsers=10&noAutoKickUser=True',
  });
  assert.equal(form.status, 200);
  assert.deepEqual([form.json.maxUsers, form.json.noAutoKickUser, form.json.title], [10, true, 't']);
});

test('apps belong to the key that created them', async (t) => {
  const { s, port, cred, keys } = await setup(t);
  const other = { ak: 'second-key', sk: 'second-secret' };
  await s.apps.putAccessKey({ accessKey: other.ak, secretKey: other.sk, createdAt: Date.now() });
  const created = await sdk<any>((cb) => qiniu.app.createApp({ title: 'mine' }, cred, cb));
  const theirs = await raw(port, { method: 'GET', path: `/v3/apps/${created.res.appId}`, keys: other });
  assert.equal(theirs.status, 612);
  assert.deepEqual(theirs.json, { error: 'app not found' });
  const list = await raw(port, { method: 'GET', path: '/v3/apps', keys: other });
  assert.ok(!list.json.some((a: { appId: string }) => a.appId === created.res.appId));
  // The bootstrap app (registered for the Agora API, no owner) answers every key.
  const boot = await raw(port, { method: 'GET', path: `/v3/apps/${s.bootstrapped.appId}`, keys: other });
  assert.equal(boot.status, 200);
  void keys;
});

test('rooms: list users, kick, paged active rooms, errors the SDK can read', async (t) => {
  const { s, cred } = await setup(t);
  const appId = s.bootstrapped.appId;
  const members: MeetingClient[] = [];
  for (let r = 0; r < 25; r++) {
    const c = s.client();
    await c.enter({ roomName: `Room ${r}`, roomUuid: `room-${String(r).padStart(2, '0')}`, userName: 'U', userUuid: `user-${r}` });
    members.push(c);
  }
  const extra = s.client();
  await extra.enter({ roomName: 'Room 0', roomUuid: 'room-00', userName: 'V', userUuid: 'viewer' });

  const users = await sdk<any>((cb) => qiniu.room.listUser(appId, 'room-00', cred, cb));
  assert.equal(users.err, null);
  assert.deepEqual(users.res.users.map((u: { userId: string }) => u.userId).sort(), ['user-0', 'viewer']);
  const none = await sdk<any>((cb) => qiniu.room.listUser(appId, 'no-such-room', cred, cb));
  assert.deepEqual(none.res, { users: [] });

  // Paging: 25 active rooms, 10 at a time.
  const names: string[] = [];
  let offset = 0;
  for (let page = 0; page < 5; page++) {
    const r = await sdk<any>((cb) => qiniu.room.listActiveRooms(appId, 'room-', offset, 10, cred, cb));
    assert.equal(r.err, null);
    names.push(...r.res.rooms);
    assert.equal(r.res.offset, offset + r.res.rooms.length);
    offset = r.res.offset;
    if (r.res.end) break;
  }
  assert.deepEqual(names, Array.from({ length: 25 }, (_, i) => `room-${String(i).padStart(2, '0')}`));
  const prefixed = await sdk<any>((cb) => qiniu.room.listActiveRooms(appId, 'room-1', 0, 100, cred, cb));
  assert.equal(prefixed.res.rooms.length, 10);
  assert.equal(prefixed.res.end, true);

  // Kick: the member is out of the Agora room too; errors arrive as {code, message}.
  const kicked = await sdk((cb) => qiniu.room.kickUser(appId, 'room-00', 'viewer', cred, cb));
  assert.equal(kicked.err, null);
  assert.equal((await callAgora(s.opts, 'GET', `/${extra.roomId}`, undefined, extra.userToken)).code, 401);
  const unknown = await sdk<any>((cb) => qiniu.room.kickUser(appId, 'room-00', 'viewer', cred, cb));
  assert.deepEqual([unknown.err.code, unknown.err.message], [612, 'user not found']);
  await members[1]!.exit();
  const inactive = await sdk<any>((cb) => qiniu.room.kickUser(appId, 'room-01', 'user-1', cred, cb));
  assert.deepEqual([inactive.err.code, inactive.err.message], [615, 'room not active']);
  const noApp = await sdk<any>((cb) => qiniu.room.listUser('nosuchapp', 'room-00', cred, cb));
  assert.equal(noApp.err.code, 612);
});

test('a RoomToken from getRoomToken admits its holder: /auth, the realtime socket, Agora entry', async (t) => {
  const { s, port, cred } = await setup(t);
  const appId = s.bootstrapped.appId;
  const token = (user: string, permission = 'user') =>
    qiniu.room.getRoomToken({ appId, roomName: 'standup', userId: user, expireAt: Math.floor(Date.now() / 1000) + 3600, permission }, cred);

  const host = s.client();
  await host.enter({ roomName: 'Standup', roomUuid: 'standup', userName: 'Host', userUuid: 'host' });
  const auth = await raw(port, { method: 'GET', path: `/v3/apps/${appId}/rooms/standup/auth?user=alice&token=${encodeURIComponent(token('alice', 'admin'))}`, auth: null, contentType: null });
  assert.equal(auth.status, 200);
  assert.equal(auth.json.permission, 'admin');
  assert.equal(auth.json.userId, 'alice');
  assert.ok(auth.json.accessToken);
  const [roomId] = auth.json.accessToken.split('.');
  const info = await callAgora<any>(s.opts, 'GET', `/${roomId}`, undefined, auth.json.accessToken);
  assert.equal(info.code, 0);
  assert.equal(info.data.user.userUuid, 'alice');
  assert.equal(info.data.room.roomUuid, 'standup');

  const bad = await raw(port, { method: 'GET', path: `/v3/apps/${appId}/rooms/standup/auth?user=bob&token=${encodeURIComponent(token('alice'))}`, auth: null });
  assert.equal(bad.status, 401);
  assert.equal(bad.json.error, 'bad token');
  assert.match(bad.json.reason, /room token refused: .*another app, room or user/);

  // Straight onto the realtime socket: it enters, and the snapshot carries the session token.
  const rt = new RealtimeClient({ baseUrl: s.url, token: token('bob'), reconnect: false });
  t.after(() => rt.close());
  const snap = rt.waitFor((m) => m.type === 'snapshot');
  await rt.connect();
  const m = await snap;
  assert.ok(m.type === 'snapshot');
  const me = (m.data as unknown as { me: { userId: string; userToken: string } }).me;
  assert.equal((await callAgora<any>(s.opts, 'GET', `/${roomId}`, undefined, me.userToken)).data.user.userUuid, 'bob');

  // As an Agora entry credential, instead of the Basic header.
  const res = await fetch(`${s.url}/apps/${appId}/v1/room/entry`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ roomName: 'Standup', roomUuid: 'standup', userName: 'Carol', userUuid: 'carol', roomToken: token('carol') }),
  });
  const entry = (await res.json()) as { code: number; data: { roomId: string } };
  assert.equal(entry.code, 0);
  assert.equal(entry.data.roomId, roomId);
  // The admin permission may remove others through the client API without being host; a plain
  // RoomToken member may not.
  assert.equal(info.data.user.role, 2);
  const page = await callAgora<any>(s.opts, 'GET', `/${roomId}/user/page`, undefined, auth.json.accessToken);
  const carolId = page.data.list.find((x: { userName: string }) => x.userName === 'Carol').userId;
  const bobId = page.data.list.find((x: { userName: string }) => x.userName === 'bob').userId;
  assert.equal((await callAgora(s.opts, 'POST', `/${roomId}/user/${carolId}/exit`, undefined, me.userToken)).code, 403);
  assert.equal((await callAgora(s.opts, 'POST', `/${roomId}/user/${carolId}/exit`, undefined, auth.json.accessToken)).code, 0);
  assert.equal((await callAgora(s.opts, 'POST', `/${roomId}/user/${bobId}/exit`, undefined, me.userToken)).code, 0, 'self exit');
});
