// Concurrent commands on one room over real HTTP: one room, one host, nothing lost, seq gap-free.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.ts';
import type { MeetingClient } from '../../client/agora.ts';

test('50 members entering one room at once: one host, 50 members, seq 1..N without gap', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const clients = Array.from({ length: 50 }, () => s.client());
  const entered = await Promise.all(
    clients.map((c, i) => c.enter({ roomName: 'All hands', roomUuid: 'all-hands', userName: `m${i}`, userUuid: `member-${i}` })),
  );
  const roomIds = new Set(entered.map((e) => e.roomId));
  assert.equal(roomIds.size, 1, 'exactly one room');
  const roomId = [...roomIds][0]!;
  const { room } = await clients[0]!.info();
  assert.equal(room.onlineUsers, 50);
  assert.equal(room.hosts.length, 1);
  assert.equal(new Set(clients.map((c) => c.userId)).size, 50);

  const listed = [];
  let nextId = '';
  for (;;) {
    const page = await clients[0]!.page({ nextId, count: 7 });
    if (page.list.length === 0) break;
    listed.push(...page.list);
    nextId = page.nextId;
  }
  assert.equal(listed.length, 50);
  assert.equal(listed.filter((m) => m.role === 1).length, 1);
  const ids = new Set([...listed.map((m) => m.uid), ...listed.map((m) => m.screenId)]);
  assert.equal(ids.size, 100, 'uids and screenIds all distinct');

  const { events } = await s.store.eventsSince(roomId, 0, 10_000);
  assert.deepEqual(events.map((e) => e.seq), Array.from({ length: events.length }, (_, i) => i + 1));
  // Entries arriving together are committed together: one cmd 2 may list many members.
  const joined = events.flatMap((e) => (e.event.type === 'membersChanged' ? e.event.changes.filter((c) => c.present).map((c) => c.member.userId) : []));
  assert.equal(joined.length, 50, 'each join announced once');
  assert.equal(new Set(joined).size, 50);
  const totals = events.map((e) => (e.event.type === 'membersChanged' ? e.event.total : -1));
  assert.ok(totals.every((n, i) => n > 0 && (i === 0 || n > totals[i - 1]!)), `totals grow: ${totals}`);
  assert.equal(totals.at(-1), 50);
  t.diagnostic(`50 entries in ${events.length} commits`);
});

test('20 members mutating one room at once lose no update', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const clients: MeetingClient[] = [];
  for (let i = 0; i < 20; i++) {
    const c = s.client();
    await c.enter({ roomName: 'r', roomUuid: 'r', userName: `m${i}`, userUuid: `u${i}` });
    clients.push(c);
  }
  const host = clients[0]!;
  const before = (await s.meeting.room(host.roomId))!.seq;
  const calls: Promise<unknown>[] = [];
  for (let round = 0; round < 5; round++) {
    clients.forEach((c, i) => {
      if (i === 0) calls.push(c.changeRoom({ muteAllChat: round % 2 }));
      else if (i % 2 === 0) calls.push(c.chat(`hello ${round} from ${i}`));
      else calls.push(c.changeUser(c.userId, { enableVideo: (round + 1) % 2 }));
    });
  }
  const results = await Promise.allSettled(calls);
  const { events } = await s.store.eventsSince(host.roomId, before, 10_000);
  assert.deepEqual(events.map((e) => e.seq), Array.from({ length: events.length }, (_, i) => before + i + 1), 'gap-free');
  const count = (type: string) => events.filter((e) => e.event.type === type).length;
  // Chats may be refused while chat is muted (1004); every accepted call must be in the log.
  const chatsOk = results.filter((r, k) => r.status === 'fulfilled' && k % 20 !== 0 && (k % 20) % 2 === 0).length;
  assert.equal(count('chatSent'), chatsOk);
  assert.equal(count('roomChanged'), 5);
  // Each participant toggles video 5 times: 1,0,1,0,1 from 0 → 5 changes each; and each time chat
  // reopens for everyone (from 1 back to 0, in the order the calls were committed), the 19
  // participants are restated (the Android app's view of their enableChat).
  let level = 0;
  let reopened = 0;
  for (const e of events) {
    if (e.event.type !== 'roomChanged') continue;
    if (level !== 0 && e.event.muteAllChat === 0) reopened++;
    level = e.event.muteAllChat;
  }
  assert.equal(count('memberChanged'), 10 * 5 + 19 * reopened);
  const { room } = await host.info();
  assert.equal(room.muteAllChat, 0);
  for (const c of clients.slice(1).filter((_, i) => (i + 1) % 2 === 1)) assert.equal((await c.info()).user.enableVideo, 1);
});
