// A meeting's commands wait in one queue in a process: entries into a running meeting line up with
// its other commands instead of racing them for commits. Before, entries had a queue of their own
// (by roomUuid): in a join storm they lost commit after commit to the sockets' commands and gave up
// after 50 tries (a 500 to the member). Counted on a real store: conflicts seen by the meeting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalBus } from '../../src/bus/local.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { MeetingService } from '../../src/service/meeting.ts';
import { newApp } from '../../src/service/apps.ts';
import type { CommitResult } from '../../src/store/store.ts';
import { FanoutCost } from '../../src/realtime/cost.ts';

/** The real store, its answers counted: how many commits it refused as conflicting so far. */
function countConflicts(store: SqliteStore): () => number {
  let conflicts = 0;
  const commit = store.commit.bind(store);
  store.commit = async (...args: Parameters<typeof commit>): Promise<CommitResult> => {
    const r = await commit(...args);
    if (!r.ok && r.reason === 'conflict') conflicts++;
    return r;
  };
  return () => conflicts;
}

test('entries and room commands of one meeting never conflict with each other in one process', async () => {
  const store = new SqliteStore({ path: ':memory:', eventRetention: 10_000 });
  const conflicts = countConflicts(store);
  const meeting = new MeetingService({ store, bus: new LocalBus() });
  const app = newApp({ appId: 'a'.repeat(32) }, 0);
  const entry = (userUuid: string) => meeting.enter(app, { roomUuid: 'r', roomName: 'r', password: '', userUuid, audio: false, video: false });
  const host = await entry('host');
  // 600 entries and 600 chats from the host at once, interleaved.
  const work: Promise<unknown>[] = [];
  for (let i = 0; i < 600; i++) {
    work.push(entry(`m${i}`));
    work.push(meeting.execute(host.roomId, { type: 'chat', actor: host.userId, message: `c${i}`, chatType: 1 }));
  }
  const results = await Promise.allSettled(work);
  assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), []);
  assert.equal(conflicts(), 0, 'no commit lost to the same process');
  const room = (await meeting.room(host.roomId))!;
  assert.equal(room.members.filter((m) => m.present).length, 601);
  await store.close();
});

test('entries queued before their meeting existed go on in its queue: no conflict with its other commands', async () => {
  const store = new SqliteStore({ path: ':memory:', eventRetention: 10_000 });
  const conflicts = countConflicts(store);
  const meeting = new MeetingService({ store, bus: new LocalBus() });
  const app = newApp({ appId: 'c'.repeat(32) }, 0);
  // 600 first entries at once into a meeting nobody has started: they queue by roomUuid. Each
  // member chats as soon as it is in (a command on the meeting's own queue), as a join storm's
  // sockets connect while the entries behind them still wait.
  const work = Array.from({ length: 600 }, async (_, i) => {
    const e = await meeting.enter(app, { roomUuid: 'new', roomName: 'new', password: '', userUuid: `m${i}`, audio: false, video: false });
    await meeting.execute(e.roomId, { type: 'chat', actor: e.userId, message: `hi ${i}`, chatType: 1 });
    return e.roomId;
  });
  const results = await Promise.allSettled(work);
  assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), []);
  assert.equal(conflicts(), 0, 'no commit lost to the same process');
  const roomIds = new Set(results.map((r) => (r as PromiseFulfilledResult<string>).value));
  assert.equal(roomIds.size, 1);
  const room = (await meeting.room([...roomIds][0]!))!;
  assert.equal(room.members.filter((m) => m.present).length, 600);
  await store.close();
});

test('only a storm of messages lingers: sockets connecting (a flag, no message) never hold up the next command', async () => {
  const store = new SqliteStore({ path: ':memory:', eventRetention: 10_000 });
  // Asked for an estimate only when the queue is about to linger after a batch.
  const lingers: number[] = [];
  const fanoutCost = new (class extends FanoutCost {
    override estimateMs(sockets: number): number {
      lingers.push(sockets);
      return super.estimateMs(sockets);
    }
  })();
  const meeting = new MeetingService({ store, bus: new LocalBus(), fanoutCost });
  const app = newApp({ appId: 'b'.repeat(32) }, 0);
  const members = [];
  for (let i = 0; i < 40; i++) members.push(await meeting.enter(app, { roomUuid: 'r', roomName: 'r', password: '', userUuid: `m${i}`, audio: false, video: false }));
  const roomId = members[0]!.roomId;
  const sessionOf = async (userId: string) => (await meeting.room(roomId))!.members.find((m) => m.userId === userId)!.session;
  // 40 sockets connect at once: one batch of flags, no message, then a lone chat.
  const sessions = await Promise.all(members.map((m) => sessionOf(m.userId)));
  lingers.length = 0;
  await Promise.all(members.map((m, i) => meeting.execute(roomId, { type: 'realtimeConnected', actor: m.userId, session: sessions[i]! })));
  await meeting.execute(roomId, { type: 'chat', actor: members[0]!.userId, message: 'lone', chatType: 1 });
  assert.deepEqual(lingers, [], 'no linger after a batch that published nothing, or one command’s messages');
  // 40 chats at once: a storm of messages, so the next batch gathers.
  await Promise.all(members.map((m) => meeting.execute(roomId, { type: 'chat', actor: m.userId, message: `c ${m.userId}`, chatType: 1 })));
  assert.ok(lingers.length > 0, 'a storm of messages lingers');
  assert.equal(lingers[0], 40, 'for the room’s sockets');
  await store.close();
});

test('quiet commands (sockets connecting) give way to the commands behind them, in batches of at most 64', async () => {
  const store = new SqliteStore({ path: ':memory:', eventRetention: 10_000 });
  const meeting = new MeetingService({ store, bus: new LocalBus() });
  const app = newApp({ appId: 'c'.repeat(32) }, 0);
  const members = [];
  for (let i = 0; i < 200; i++) members.push(await meeting.enter(app, { roomUuid: 'r', roomName: 'r', password: '', userUuid: `m${i}`, audio: false, video: false }));
  const roomId = members[0]!.roomId;
  const room = (await meeting.room(roomId))!;
  const order: string[] = [];
  const flags = members.map((m) =>
    meeting.execute(roomId, { type: 'realtimeConnected', actor: m.userId, session: room.members.find((x) => x.userId === m.userId)!.session }).then(() => order.push('flag')),
  );
  // Sent after all 200 flags: decided after at most the first batch of them.
  const muted = meeting.execute(roomId, { type: 'changeRoom', actor: members[0]!.userId, muteAllAudio: 1 }).then(() => order.push('mute'));
  await Promise.all([...flags, muted]);
  assert.ok(order.indexOf('mute') <= 64, `the mute-all came after ${order.indexOf('mute')} flags`);
  assert.equal((await meeting.room(roomId))!.members.filter((m) => m.realtime).length, 200, 'every flag set, none lost');
  await store.close();
});
