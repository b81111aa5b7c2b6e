// Acknowledged writes survive SIGKILL: the server process is killed right after them and restarted
// on the same data directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeetingClient, callAgora, type ClientOptions } from '../../client/agora.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';

test('every acknowledged change survives SIGKILL and restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'convene-durable-'));
  const env = { CONVENE_DATA_DIR: dir, CONVENE_PRESENCE_EXPIRY: 'off' };
  let server: ServerProcess | null = null;
  t.after(async () => {
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  server = await spawnServer(env);
  assert.match(server.stdout(), /Created the default app/);
  const creds = { appId: server.printed('App ID')!, customerId: server.printed('Customer ID')!, customerSecret: server.printed('Customer Secret')! };
  let opts: ClientOptions = { baseUrl: server.url, ...creds };
  const client = () => new MeetingClient(opts);

  const host = client();
  await host.enter({ roomName: 'Durable', roomUuid: 'durable', userName: 'Host', userUuid: 'host' });
  const members: MeetingClient[] = [];
  let boss = host;
  const acked: string[] = [];
  for (let cycle = 0; cycle < 3; cycle++) {
    // A burst of writes, fired together; the process dies right after the last acknowledgement.
    const burst = Array.from({ length: 8 }, (_, i) => {
      const m = client();
      return m.enter({ roomName: 'Durable', roomUuid: 'durable', userName: `m${cycle}-${i}`, userUuid: `m${cycle}-${i}` }).then(() => {
        members.push(m);
        acked.push(`m${cycle}-${i}`);
      });
    });
    const chats = Array.from({ length: 5 }, (_, i) => boss.chat(`cycle ${cycle} chat ${i}`).then(() => acked.push(`chat ${cycle}/${i}`)));
    const mute = boss.changeRoom({ muteAllAudio: (cycle % 2) + 1, muteAllChat: cycle % 3 }).then(() => acked.push(`mute ${cycle}`));
    await Promise.all([...burst, ...chats, mute]);
    await server.kill('SIGKILL');
    server = await spawnServer(env);
    assert.doesNotMatch(server.stdout(), /Created the default app/, 'the stored app is reused');
    opts = { baseUrl: server.url, ...creds };
    for (const c of [host, ...members]) (c.opts as { baseUrl: string }).baseUrl = server.url;

    const { room } = await host.info();
    assert.equal(room.onlineUsers, 1 + members.length);
    assert.equal(room.muteAllAudio, (cycle % 2) + 1);
    assert.equal(room.muteAllChat, cycle % 3);
    if (cycle === 0) {
      // Host-side changes acknowledged just before the kill of the next cycle.
      const kicked = members.shift()!;
      await host.exit(kicked.userId);
      await host.transferHost(members[0]!.userId);
      acked.push('kick', 'transfer');
      const r = await callAgora(opts, 'GET', `/${host.roomId}`, undefined, kicked.userToken);
      assert.equal(r.code, 401);
      await server.kill('SIGKILL');
      server = await spawnServer(env);
      opts = { baseUrl: server.url, ...creds };
      for (const c of [host, ...members, kicked]) (c.opts as { baseUrl: string }).baseUrl = server.url;
      const again = await callAgora(opts, 'GET', `/${host.roomId}`, undefined, kicked.userToken);
      assert.equal(again.code, 401, 'the kick survived');
      const info = await members[0]!.info();
      assert.equal(info.user.role, 1, 'the host transfer survived');
      assert.equal(info.room.hosts[0]!.userId, members[0]!.userId);
      boss = members[0]!;
    }
  }
  const { room } = await members[0]!.info();
  assert.equal(room.onlineUsers, 1 + 24 - 1);

  // The log itself: every acknowledged chat is there, and seq runs 1..N without a gap.
  await server.kill('SIGKILL');
  server = null;
  const store = new SqliteStore({ path: join(dir, 'convene.db') });
  try {
    const { events } = await store.eventsSince(host.roomId, 0, 100_000);
    assert.deepEqual(events.map((e) => e.seq), Array.from({ length: events.length }, (_, i) => i + 1));
    const chats = events.flatMap((e) => (e.event.type === 'chatSent' ? [e.event.message] : []));
    const ackedChats = acked.filter((a) => a.startsWith('chat ')).map((a) => a.replace(/^chat (\d)\/(\d)$/, 'cycle $1 chat $2'));
    assert.equal(ackedChats.length, 15);
    assert.deepEqual(chats.sort(), ackedChats.sort());
    const joined = events.flatMap((e) => (e.event.type === 'membersChanged' ? e.event.changes.filter((c) => c.present).map((c) => c.member.userUuid) : []));
    for (const a of acked.filter((x) => x.startsWith('m'))) if (!a.startsWith('mute')) assert.ok(joined.includes(a), `entry of ${a}`);
  } finally {
    await store.close();
  }
});
