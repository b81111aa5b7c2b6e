// Large rooms are linear (issue 17): a socket entering a room of more than a page gets the first
// page, the hosts and itself, not the room; cmd 2 lists no one there and says how many changed;
// the member list (E4) pages the rest from the snapshot's cursor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.ts';
import { RealtimeClient, type RealtimeMessage, type SnapshotMessage } from '../../client/realtime.ts';
import type { MeetingClient } from '../../client/agora.ts';

test('a room of 130: snapshot of one page with the host and oneself; cmd 2 counting without listing; the rest paged', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_RATE_REQUESTS: '0' });
  t.after(() => s.close());
  const members: MeetingClient[] = [];
  for (let i = 0; i < 130; i++) {
    const c = s.client();
    await c.enter({ roomName: 'Large', roomUuid: 'large', userName: `M${i}`, userUuid: `m${i}` });
    members.push(c);
  }
  const [first, , late] = [members[0]!, members[1]!, members[129]!];
  // A host beyond the first page: the first member hands the role to the 120th.
  await first.transferHost(members[119]!.userId);

  const rt = new RealtimeClient({ baseUrl: s.url, token: late.userToken, reconnect: false });
  t.after(() => rt.close());
  const got: RealtimeMessage[] = [];
  rt.on((m) => got.push(m));
  const snapshot = rt.waitFor((m) => m.type === 'snapshot');
  await rt.connect();
  const snap = (await snapshot) as SnapshotMessage;
  const ids = snap.data.members.map((m) => m.userId);
  assert.deepEqual(ids.slice(0, 100), members.slice(0, 100).map((m) => m.userId), 'the first page, in join order');
  assert.deepEqual(ids.slice(100), [members[119]!.userId, late.userId], 'then the host and oneself');
  assert.equal(snap.data.membersPage.count, 100);
  assert.equal(snap.data.membersPage.total, 130);
  assert.equal(rt.state.membersComplete, false);
  assert.equal(rt.state.members.get(members[119]!.userId)?.role, 1, 'the host is known');
  const rest = await late.members(snap.data.membersPage.nextId);
  assert.deepEqual(rest.map((m) => m.userId), members.slice(100).map((m) => m.userId), 'the member list goes on from the cursor');
  assert.equal((await late.members()).length, 130);

  // An entry: counted, not listed. A host leaving: counted, and gone through cmd 7.
  const newcomer = s.client();
  const entered = rt.waitFor((m) => m.type === 'channel' && m.cmd === 2 && m.data.total === 131);
  await newcomer.enter({ roomName: 'Large', roomUuid: 'large', userName: 'N', userUuid: 'n' });
  const cmd2 = await entered;
  assert.deepEqual(cmd2.data, { total: 131, list: [], omitted: 1 });
  const left = rt.waitFor((m) => m.type === 'channel' && m.cmd === 7);
  await members[119]!.exit();
  const hosts = await left;
  assert.deepEqual(hosts.data.map((m: { userId: string; state: number; role: number }) => [m.userId, m.state, m.role]), [
    [members[119]!.userId, 0, 2],
    [first.userId, 1, 1],
  ]);
  assert.equal(rt.state.members.has(members[119]!.userId), false, 'the departed host is gone');
  assert.equal(rt.state.members.get(first.userId)?.role, 1);
  assert.equal(rt.state.onlineUsers, 130);
});

test('a room of 100 or fewer: the snapshot and cmd 2 list everyone, as before', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_RATE_REQUESTS: '0' });
  t.after(() => s.close());
  const members: MeetingClient[] = [];
  for (let i = 0; i < 99; i++) {
    const c = s.client();
    await c.enter({ roomName: 'Full', roomUuid: 'full', userName: `M${i}`, userUuid: `m${i}` });
    members.push(c);
  }
  const rt = new RealtimeClient({ baseUrl: s.url, token: members[0]!.userToken, reconnect: false });
  t.after(() => rt.close());
  const snapshot = rt.waitFor((m) => m.type === 'snapshot');
  await rt.connect();
  const snap = (await snapshot) as SnapshotMessage;
  assert.equal(snap.data.members.length, 99);
  assert.equal(snap.data.membersPage.total, 99);
  assert.equal(rt.state.membersComplete, true);
  const entered = rt.waitFor((m) => m.type === 'channel' && m.cmd === 2);
  const c = s.client();
  await c.enter({ roomName: 'Full', roomUuid: 'full', userName: 'Last', userUuid: 'last' });
  const cmd2 = await entered;
  assert.equal(cmd2.data.total, 100);
  assert.deepEqual(cmd2.data.list.map((m: { userId: string }) => m.userId), [c.userId]);
  assert.equal(cmd2.data.omitted, undefined);
  assert.equal(rt.state.members.size, 100);
});
