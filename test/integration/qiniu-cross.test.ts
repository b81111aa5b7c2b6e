// One meeting, two APIs: members enter through the Agora API and hold sockets; the Qiniu API lists,
// messages, kicks and closes, and the members see exactly that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.ts';
import { qiniu, qiniuServer, raw, sdk } from '../helpers/qiniu.ts';
import { RealtimeClient, type RealtimeMessage } from '../../client/realtime.ts';
import { callAgora, type MeetingClient } from '../../client/agora.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('list, message, kick and close through Qiniu reach the Agora members', async (t) => {
  const { s, port, keys, cred } = await qiniuServer(t);
  const appId = s.bootstrapped.appId;

  const members: { c: MeetingClient; rt: RealtimeClient; inbox: RealtimeMessage[] }[] = [];
  for (const name of ['ann', 'bob', 'cat']) {
    const c = s.client();
    await c.enter({ roomName: 'Weekly', roomUuid: 'weekly', userName: name.toUpperCase(), userUuid: name });
    const rt = new RealtimeClient({ baseUrl: s.url, token: c.userToken, reconnect: false });
    const inbox: RealtimeMessage[] = [];
    rt.on((m) => m.type !== 'snapshot' && inbox.push(m));
    const snap = rt.waitFor((m) => m.type === 'snapshot');
    await rt.connect();
    await snap;
    members.push({ c, rt, inbox });
  }
  t.after(() => Promise.all(members.map((m) => m.rt.close())));
  await sleep(50);
  for (const m of members) m.inbox.splice(0);
  const [ann, bob, cat] = members as [(typeof members)[0], (typeof members)[0], (typeof members)[0]];

  const users = await sdk<any>((cb) => qiniu.room.listUser(appId, 'weekly', cred, cb));
  assert.deepEqual(users.res.users.map((u: { userId: string }) => u.userId).sort(), ['ann', 'bob', 'cat']);

  // A message to one target: only it receives it, as a server message, not as chat.
  const toBob = bob.rt.waitFor((m) => m.type === 'server');
  const sent = await raw(port, { method: 'POST', path: `/v3/apps/${appId}/rooms/weekly/message`, keys, body: JSON.stringify({ text: 'hello bob', msgId: 'm1', targets: ['bob'] }) });
  assert.equal(sent.status, 200);
  assert.deepEqual(sent.json, {});
  const got = await toBob;
  assert.ok(got.type === 'server');
  assert.deepEqual(got.data, { msgId: 'm1', text: 'hello bob' });
  assert.equal(got.version, 1);
  assert.equal(typeof got.seq, 'number');
  await sleep(100);
  assert.deepEqual(ann.inbox, []);
  assert.deepEqual(cat.inbox, []);
  bob.inbox.splice(0);

  // Empty targets: everyone; an unknown target: 612 and nobody gets anything.
  const all = Promise.all(members.map((m) => m.rt.waitFor((x) => x.type === 'server')));
  await raw(port, { method: 'POST', path: `/v3/apps/${appId}/rooms/weekly/message`, keys, body: JSON.stringify({ text: 'hi all', targets: [] }) });
  for (const m of await all) assert.ok(m.type === 'server' && m.data.text === 'hi all' && m.data.msgId.length > 0);
  for (const m of members) m.inbox.splice(0);
  const unknown = await raw(port, { method: 'POST', path: `/v3/apps/${appId}/rooms/weekly/message`, keys, body: JSON.stringify({ text: 'x', targets: ['bob', 'zed'] }) });
  assert.deepEqual([unknown.status, unknown.json], [612, { error: 'user not found' }]);
  await sleep(100);
  for (const m of members) assert.deepEqual(m.inbox, []);

  // Kick cat: cmd 8 (host fields empty) then cmd 2 to everyone; cat's socket closes; its token fails.
  const catClosed = new Promise<number>((resolve) => cat.rt.onClose((code) => resolve(code)));
  const annSees = ann.rt.waitFor((m) => m.type === 'channel' && m.cmd === 2);
  const catSees = cat.rt.waitFor((m) => m.type === 'channel' && m.cmd === 8);
  const kicked = await sdk((cb) => qiniu.room.kickUser(appId, 'weekly', 'cat', cred, cb));
  assert.equal(kicked.err, null);
  // The messages follow the answer (they are pushed once it is written).
  await Promise.all([annSees, catSees]);
  for (const m of [ann, cat]) {
    const kick = m.inbox.find((x) => x.type === 'channel' && x.cmd === 8);
    assert.ok(kick && kick.type === 'channel');
    assert.deepEqual(kick.data, { hostUserId: '', hostUserName: '', userId: cat.c.userId, userName: 'CAT', bannedUntil: 0 });
  }
  assert.equal(await catClosed, 4409);
  assert.equal((await callAgora(s.opts, 'GET', `/${cat.c.roomId}`, undefined, cat.c.userToken)).code, 401);

  // Close: everyone gets cmd 3 with state 0; the room leaves the active list; a new entry is a new room.
  const ended = Promise.all([ann, bob].map((m) => m.rt.waitFor((x) => x.type === 'channel' && x.cmd === 3)));
  const closed = await raw(port, { method: 'DELETE', path: `/v3/apps/${appId}/rooms/weekly`, keys });
  assert.deepEqual([closed.status, closed.json], [200, {}]);
  for (const m of await ended) assert.ok(m.type === 'channel' && m.data.state === 0);
  const active = await sdk<any>((cb) => qiniu.room.listActiveRooms(appId, '', 0, 100, cred, cb));
  assert.ok(!active.res.rooms.includes('weekly'));
  const again = await raw(port, { method: 'DELETE', path: `/v3/apps/${appId}/rooms/weekly`, keys });
  assert.equal(again.status, 615);
  const fresh = s.client();
  await fresh.enter({ roomName: 'Weekly', roomUuid: 'weekly', userName: 'Ann', userUuid: 'ann' });
  assert.notEqual(fresh.roomId, ann.c.roomId);
});

test('maxUsers and noAutoKickUser set through Qiniu govern Agora entries; DeleteApp ends meetings', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  const port = Number(new URL(s.url).port);
  t.after(() => s.close());
  const keys = { ak: s.bootstrapped.accessKey, sk: s.bootstrapped.secretKey };
  const appId = s.bootstrapped.appId;
  const set = (body: unknown) => raw(port, { method: 'POST', path: `/v3/apps/${appId}`, keys, body: JSON.stringify(body) });
  const entry = (uuid: string) =>
    callAgora<{ roomId: string; userToken: string }>(s.opts, 'POST', '/entry', { roomName: 'R', roomUuid: 'r', userName: uuid, userUuid: uuid });

  assert.equal((await set({ maxUsers: 2 })).status, 200);
  const a = await entry('a');
  assert.equal(a.code, 0);
  assert.equal((await entry('b')).code, 0);
  const full = await entry('c');
  assert.equal(full.code, 1003);

  // Without noAutoKickUser the same user replaces its session; with it, a second login is refused.
  const a2 = await entry('a');
  assert.equal(a2.code, 0);
  assert.equal((await callAgora(s.opts, 'GET', `/${a.data.roomId}`, undefined, a.data.userToken)).code, 401);
  await set({ maxUsers: 0, noAutoKickUser: true });
  assert.equal((await entry('a')).code, 1007);

  // Deleting an app (a Qiniu-created one here) ends its meetings.
  const created = await raw(port, { method: 'POST', path: '/v3/apps', keys, body: JSON.stringify({ title: 'temp' }) });
  const app = created.json;
  const res = await callAgora<{ roomId: string; userToken: string }>(
    { baseUrl: s.url, appId: app.appId, customerId: app.customerId, customerSecret: app.customerSecret },
    'POST',
    '/entry',
    { roomName: 'T', roomUuid: 't', userName: 'x', userUuid: 'x' },
  );
  assert.equal(res.code, 0);
  const del = await raw(port, { method: 'DELETE', path: `/v3/apps/${app.appId}`, keys });
  assert.deepEqual([del.status, del.json], [200, {}]);
  assert.equal((await s.meeting.room(res.data.roomId))!.ended, true);
});
