// Data lifecycle (issue 9 item 7): meetings ended longer ago than CONVENE_ROOM_RETENTION are purged
// from the store by a timer, in both stores; the SQLite file stays flat under a steady flow of
// meetings starting and ending.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { RoomRetention } from '../../src/service/retention.ts';
import { MeetingService } from '../../src/service/meeting.ts';
import { newApp } from '../../src/service/apps.ts';
import { LocalBus } from '../../src/bus/local.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { RedisStore } from '../../src/store/redis/store.ts';
import { connectRedis, redisReady } from '../../src/store/redis/connection.ts';
import type { RoomStore } from '../../src/store/store.ts';
import { callAgora } from '../../client/agora.ts';
import { RealtimeClient } from '../../client/realtime.ts';
import { startTestServer } from '../helpers/server.ts';
import { cleanupPrefix, redisSkip, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';

const dir = mkdtempSync(join(tmpdir(), 'convene-retention-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const redisSkipReason = await redisSkip();
const backends: { name: string; skip?: string; open: () => Promise<{ store: RoomStore; dispose: () => Promise<void> }> }[] = [
  {
    name: 'sqlite',
    open: async () => {
      const store = new SqliteStore({ path: join(dir, `unit${files++}.db`) });
      return { store, dispose: () => store.close() };
    },
  },
  {
    name: 'redis',
    skip: redisSkipReason,
    open: async () => {
      const redis = connectRedis(SHARED_REDIS_URL);
      await redisReady(redis);
      const prefix = uniquePrefix();
      const store = new RedisStore({ redis, prefix });
      return {
        store,
        dispose: async () => {
          await store.close();
          await cleanupPrefix(redis, prefix);
          await redis.quit();
        },
      };
    },
  },
];

/** The service on `store` with a clock the test moves. */
function meetingOn(store: RoomStore, clock: { now: number }) {
  return new MeetingService({ store, bus: new LocalBus(), now: () => clock.now });
}

const app = newApp({ appId: 'f'.repeat(32) }, 0);

/** A meeting of `size` people who chat, then end it; returns its roomId. */
async function holdMeeting(meeting: MeetingService, roomUuid: string, size = 3, chats = 2): Promise<string> {
  let roomId = '';
  const ids: string[] = [];
  for (let i = 0; i < size; i++) {
    const e = await meeting.enter(app, { roomUuid, roomName: roomUuid, password: '', userUuid: `u${i}`, userName: `User ${i}`, audio: true, video: false });
    roomId = e.roomId;
    ids.push(e.userId);
  }
  for (let c = 0; c < chats; c++) {
    await meeting.execute(roomId, { type: 'chat', actor: ids[c % size]!, message: `message ${c} in ${roomUuid}`.padEnd(120, '.'), chatType: 1 });
  }
  await meeting.close(roomId);
  return roomId;
}

for (const b of backends) {
  test(`RoomRetention on ${b.name}: purges what ended longer ago than the retention, in batches, and nothing else`, { skip: b.skip }, async (t) => {
    const { store, dispose } = await b.open();
    t.after(dispose);
    const clock = { now: 1_000_000 };
    const meeting = meetingOn(store, clock);
    const early: string[] = [];
    for (let i = 0; i < 7; i++) early.push(await holdMeeting(meeting, `early-${i}`));
    clock.now += 10_000;
    const late = await holdMeeting(meeting, 'late');
    const running = await meeting.enter(app, { roomUuid: 'running', roomName: 'running', password: '', userUuid: 'x', audio: true, video: false });

    let calls = 0;
    const counted: Pick<RoomStore, 'purgeEnded'> = { purgeEnded: (before, limit) => (calls++, store.purgeEnded(before, limit)) };
    const retention = new RoomRetention({ store: counted, retentionMs: 5_000, batch: 3, now: () => clock.now });
    assert.equal(retention.intervalMs, 2_500, 'half the retention');
    clock.now += 4_999;
    assert.equal(await retention.purgeOnce(), 7, 'the early meetings ended 14.999 s ago');
    assert.equal(calls, 3, 'batches of 3: 3, 3, then 1 (fewer than a batch: done)');
    for (const id of early) assert.equal(await store.loadRoom(id), null);
    assert.equal((await store.loadRoom(late))?.ended, true, 'ended 4.999 s ago: kept');
    assert.equal((await store.loadRoom(running.roomId))?.ended, false);

    clock.now += 1;
    assert.equal(await retention.purgeOnce(), 1);
    assert.equal(await store.loadRoom(late), null);
    assert.deepEqual(await store.eventsSince(late, 0, 10), { events: [], oldestSeq: 0 });
    clock.now += 3_600_000;
    assert.equal(await retention.purgeOnce(), 0, 'a running meeting is never purged, however old');
    assert.equal((await store.loadRoom(running.roomId))?.ended, false);
    // Its key works as before; the purged ones start new meetings.
    const again = await meeting.enter(app, { roomUuid: 'early-0', roomName: 'early-0', password: '', userUuid: 'y', audio: true, video: false });
    assert.notEqual(again.roomId, early[0]);
    assert.equal((await store.loadRoom(again.roomId))?.members.length, 1);
  });

  test(`RoomRetention on ${b.name}: the timer purges on its own until stopped; retention 0 purges at the next check`, { skip: b.skip }, async (t) => {
    const { store, dispose } = await b.open();
    t.after(dispose);
    const meeting = meetingOn(store, { get now() { return Date.now(); } });
    const errors: unknown[] = [];
    const retention = new RoomRetention({ store, retentionMs: 0, intervalMs: 50, onError: (err) => errors.push(err) });
    retention.start();
    const first = await holdMeeting(meeting, 'first');
    await eventually(async () => assert.equal(await store.loadRoom(first), null));
    await retention.stop();
    const second = await holdMeeting(meeting, 'second');
    await sleep(200);
    assert.equal((await store.loadRoom(second))?.ended, true, 'stopped: nothing purged');
    assert.deepEqual(errors, []);
  });
}

test('RoomRetention: checks at least once a minute, at most once a second; a failed check is reported and retried', async () => {
  const fake = (retentionMs: number, intervalMs?: number) => new RoomRetention({ store: { purgeEnded: async () => 0 }, retentionMs, intervalMs }).intervalMs;
  assert.equal(fake(3 * 86_400_000), 60_000);
  assert.equal(fake(0), 1_000);
  assert.equal(fake(3_000), 1_500);
  assert.equal(fake(3 * 86_400_000, 3_600_000), 60_000);

  const errors: string[] = [];
  let attempts = 0;
  const failing = new RoomRetention({
    store: {
      purgeEnded: async () => {
        attempts++;
        throw new Error('storage is unavailable');
      },
    },
    retentionMs: 0,
    intervalMs: 20,
    onError: (err, what) => errors.push(`${what}: ${(err as Error).message}`),
  });
  failing.start();
  await eventually(async () => assert.ok(attempts >= 3));
  await failing.stop();
  assert.equal(errors[0], 'ended-room purge: storage is unavailable');
});

test('through the server: an ended meeting is purged after CONVENE_ROOM_RETENTION; its old session answers cleanly', async (t) => {
  const s = await startTestServer({ CONVENE_ROOM_RETENTION: '1', CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const host = s.client();
  await host.enter({ roomName: 'Weekly', roomUuid: 'weekly', userName: 'Ann', userUuid: 'ann' });
  const guest = s.client();
  await guest.enter({ roomName: 'Weekly', roomUuid: 'weekly', userName: 'Bob', userUuid: 'bob' });
  const roomId = host.roomId;
  await host.changeRoom({ state: 0 });
  assert.equal((await s.meeting.room(roomId))?.ended, true, 'kept for the retention');
  const endedExit = await callAgora(host.opts, 'POST', `/${roomId}/user/${guest.userId}/exit`, {}, guest.userToken);

  const ended = Date.now();
  await eventually(async () => assert.equal(await s.meeting.room(roomId), null), 5_000);
  const took = Date.now() - ended;
  assert.ok(took >= 900 && took < 3_500, `purged ${took} ms after the end (retention 1 s, a check every second)`);
  assert.deepEqual(await s.meeting.eventsSince(roomId, 0, 10), { events: [], oldestSeq: 0 });

  // The members' old sessions: every call is answered in the API's envelope, none with a 500.
  const calls: [string, 'GET' | 'POST', string][] = [
    ['self-exit', 'POST', `/${roomId}/user/${guest.userId}/exit`],
    ['room info', 'GET', `/${roomId}`],
    ['simple info', 'GET', `/${roomId}/simple`],
    ['token refresh', 'POST', `/${roomId}/token/refresh`],
    ['chat', 'POST', `/${roomId}/chat`],
  ];
  for (const [what, method, path] of calls) {
    const body = what === 'chat' ? { message: 'hi', type: 1 } : method === 'POST' ? {} : undefined;
    const env = await callAgora(guest.opts, method, path, body, guest.userToken);
    assert.notEqual(env.code, 0, `${what} after purge is refused`);
    assert.ok(env.code !== 500 && env.code !== 5000, `${what}: ${JSON.stringify(env)}`);
    assert.ok(typeof env.msg === 'string' && env.msg.length > 0, `${what}: says why`);
  }
  // The self-exit is idempotent while the meeting is kept; once purged it is refused as an unknown session.
  assert.equal(endedExit.code, 0, JSON.stringify(endedExit));
  const ws = new RealtimeClient({ baseUrl: s.url, token: guest.userToken, reconnect: false });
  await ws.connect().catch(() => {});
  await eventually(async () => assert.notEqual(ws.closeCode, null));
  assert.equal(ws.closeCode, 4401, 'the socket is refused as for any unknown session');

  // The key starts a new meeting, which works as any other.
  const next = s.client();
  await next.enter({ roomName: 'Weekly', roomUuid: 'weekly', userName: 'Cat', userUuid: 'cat' });
  assert.notEqual(next.roomId, roomId);
  assert.equal((await next.info()).room.onlineUsers, 1);
});

/**
 * The database's size on disk once its WAL is checkpointed into it (as SQLite does every 20,000 pages).
 * The store's own checkpointer thread (checkpointer.ts) may be copying at that moment: a TRUNCATE
 * that finds it busy leaves the WAL whole, so it is asked again until it has truncated it.
 */
function sizeOnDisk(path: string): { bytes: number; freePages: number } {
  const db = new Database(path);
  try {
    db.pragma('busy_timeout = 2000');
    for (let i = 0; i < 100; i++) {
      const [r] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      if (r!.busy === 0) break;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
    const freePages = db.pragma('freelist_count', { simple: true }) as number;
    const wal = existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0;
    return { bytes: statSync(path).size + wal, freePages };
  } finally {
    db.close();
  }
}

/** `waves` waves of `perWave` meetings starting and ending, purged after each wave or not at all. */
async function steadyLoad(purge: boolean, waves: number, perWave: number) {
  const path = join(dir, `steady-${purge ? 'purged' : 'kept'}-${files++}.db`);
  const store = new SqliteStore({ path });
  try {
    const meeting = meetingOn(store, { get now() { return Date.now(); } });
    const retention = new RoomRetention({ store, retentionMs: 0, batch: 200 });
    const sizes: number[] = [];
    let purged = 0;
    for (let w = 0; w < waves; w++) {
      await Promise.all(Array.from({ length: perWave }, (_, i) => holdMeeting(meeting, `wave${w}-room${i}`, 4, 6)));
      if (purge) purged += await retention.purgeOnce();
      sizes.push(sizeOnDisk(path).bytes);
    }
    return { sizes, purged, rooms: waves * perWave };
  } finally {
    await store.close();
  }
}

test('steady state: 2,000 meetings starting and ending; purged, the SQLite file stays flat; kept, it grows', async () => {
  const waves = 20;
  const perWave = 100;
  const warmUp = 3;
  const started = Date.now();
  const purged = await steadyLoad(true, waves, perWave);
  const kept = await steadyLoad(false, waves, perWave);
  const kib = (n: number) => `${Math.round(n / 1024)} KiB`;
  const report = (r: typeof purged) => r.sizes.map(kib).join(' ');
  console.log(`purged after each wave: ${report(purged)}\nnever purged:           ${report(kept)}\n(${Date.now() - started} ms)`);

  assert.equal(purged.purged, purged.rooms, 'every ended meeting was purged');
  const afterWarmUp = purged.sizes[warmUp - 1]!;
  const end = purged.sizes.at(-1)!;
  assert.ok(end <= afterWarmUp * 1.2, `purged: ${kib(end)} at the end vs ${kib(afterWarmUp)} after warm-up`);
  assert.ok(Math.max(...purged.sizes.slice(warmUp)) <= afterWarmUp * 1.2, 'flat all along, not only at the end');
  // The same load without the purge: the file grows with every wave.
  const keptEnd = kept.sizes.at(-1)!;
  const keptWarm = kept.sizes[warmUp - 1]!;
  assert.ok(keptEnd >= keptWarm * 3, `kept: ${kib(keptEnd)} at the end vs ${kib(keptWarm)} after warm-up`);
  assert.ok(keptEnd >= end * 3, `kept ends ${kib(keptEnd)}, purged ${kib(end)}`);
});

async function eventually(check: () => Promise<void>, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(25);
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
