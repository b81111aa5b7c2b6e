// The room feed turns what a cluster bus may do (late, twice, out of order, not at all) into each
// followed room's events in seq order with no gap and no duplicate, reading gaps from the real log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalBus } from '../../src/bus/local.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { MeetingService } from '../../src/service/meeting.ts';
import { RoomFeed } from '../../src/service/feed.ts';
import { newApp } from '../../src/service/apps.ts';
import type { LoggedEvent } from '../../src/domain/events.ts';
import type { EventBus } from '../../src/bus/bus.ts';
import type { EventRange } from '../../src/store/store.ts';

const tick = () => new Promise((r) => setTimeout(r, 5));

/** A meeting on a real store whose commits reach nobody: the test hands events to the feed itself. */
async function setup(retention = 10_000) {
  const store = new SqliteStore({ path: ':memory:', eventRetention: retention });
  const meeting = new MeetingService({ store, bus: new LocalBus() });
  const app = newApp({ appId: 'a'.repeat(32) }, 0);
  const host = await meeting.enter(app, { roomUuid: 'r', roomName: 'r', password: '', userUuid: 'h', audio: false, video: false });
  const roomId = host.roomId;
  /** The transport under test: whatever the test publishes on it. */
  const bus = new LocalBus();
  const got: number[] = [];
  let lost = 0;
  const feed = new RoomFeed(bus, meeting, { events: (_r, evs) => got.push(...evs.map((e) => e.seq)), lost: () => lost++ });
  const chat = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => meeting.execute(roomId, { type: 'chat', actor: host.userId, message: `m${i}`, chatType: 1 })));
  const log = async (after: number) => (await store.eventsSince(roomId, after, 10_000)).events;
  return { store, meeting, bus, feed, got, roomId, chat, log, lost: () => lost };
}

test('late, repeated and out-of-order batches come out in order, once; gaps are read from the log', async () => {
  const s = await setup();
  await s.feed.follow(s.roomId);
  const base = (await s.meeting.room(s.roomId))!.seq;
  await s.chat(6);
  const evs = await s.log(base);
  assert.equal(evs.length, 6);
  const [e1, e2, e3, e4, e5, e6] = evs.map((e) => [e]) as LoggedEvent[][];
  // Arrives: 3 (gap 1-2 filled from the log), 1 again, 2 again, 5 (gap 4), 4 late, 6 twice.
  for (const b of [e3!, e1!, e2!, e5!, e4!, e6!, e6!]) s.bus.publish(s.roomId, b);
  await tick();
  assert.deepEqual(s.got, evs.map((e) => e.seq));
  s.feed.close();
});

test('a lost last message is found by a resync', async () => {
  const s = await setup();
  await s.feed.follow(s.roomId);
  await s.chat(2);
  assert.deepEqual(s.got, [], 'nothing published');
  s.feed.resyncAll();
  await tick();
  assert.equal(s.got.length, 2);
  s.feed.close();
});

test('events trimmed from the log before they were seen: followers are told to start over', async () => {
  const s = await setup(100);
  await s.feed.follow(s.roomId);
  await s.chat(400);
  const last = (await s.meeting.room(s.roomId))!.seq;
  s.bus.publish(s.roomId, await s.log(last - 1));
  await tick();
  assert.equal(s.lost(), 1);
  // After starting over, the room goes on from where the store is.
  await s.chat(1);
  s.bus.publish(s.roomId, await s.log(last));
  await tick();
  assert.deepEqual(s.got.slice(-1), [last + 1]);
  s.feed.close();
});

test('rooms not followed are ignored; a failed log read is retried, later batches held meanwhile', async () => {
  const s = await setup();
  // A source whose log reads fail twice (the store unreachable), then succeed.
  let failures = 2;
  const flaky = {
    room: (id: string) => s.meeting.room(id),
    eventsSince: (id: string, after: number, limit: number): Promise<EventRange> =>
      failures-- > 0 ? Promise.reject(new Error('down')) : s.store.eventsSince(id, after, limit),
  };
  const bus: EventBus = new LocalBus();
  const got: number[] = [];
  const errors: unknown[] = [];
  const feed = new RoomFeed(
    bus,
    flaky,
    { events: (_r, e) => got.push(...e.map((x) => x.seq)), lost: () => assert.fail('nothing is lost') },
    { onError: (err) => errors.push(err) },
  );
  bus.publish('other', [{ seq: 1, at: 0, event: { type: 'roomChanged', muteAllChat: 0, muteAllAudio: 0, ended: false, locked: false } }]);
  await feed.follow(s.roomId);
  const base = (await s.meeting.room(s.roomId))!.seq;
  await s.chat(4);
  const evs = await s.log(base);
  bus.publish(s.roomId, [evs[1]!]); // a gap: 1 is missing, and reading it fails
  bus.publish(s.roomId, [evs[3]!]); // held behind the gap
  await tick();
  assert.deepEqual(got, [], 'nothing delivered out of order');
  await new Promise((r) => setTimeout(r, 1_300));
  assert.deepEqual(got, evs.map((e) => e.seq), 'recovered in order once the log could be read');
  assert.equal(errors.length, 2);
  feed.close();
  s.feed.close();
});

test("this process's own events held for their answer are not read from the log ahead of their release", async () => {
  const s = await setup();
  let heldFrom: number | null = null;
  let logReads = 0;
  const source = {
    room: (id: string) => s.meeting.room(id),
    eventsSince: (id: string, after: number, limit: number) => (logReads++, s.store.eventsSince(id, after, limit)),
    heldFrom: () => heldFrom,
  };
  const bus = new LocalBus();
  const got: number[] = [];
  const feed = new RoomFeed(bus, source, { events: (_r, e) => got.push(...e.map((x) => x.seq)), lost: () => assert.fail('nothing is lost') });
  await feed.follow(s.roomId);
  const base = (await s.meeting.room(s.roomId))!.seq;
  await s.chat(3);
  const [e1, e2, e3] = await s.log(base);
  // e1 came from another node and was lost; e2 is ours, still held; e3 arrives from another node.
  heldFrom = e2!.seq;
  bus.publish(s.roomId, [e3!]);
  await tick();
  assert.deepEqual(got, [e1!.seq], 'the gap is filled up to our held event, not beyond');
  assert.equal(logReads, 1);
  // Our answer is written: the held batch is released through the bus, and e3 follows it.
  heldFrom = null;
  bus.publish(s.roomId, [e2!]);
  assert.deepEqual(got, [e1!.seq, e2!.seq, e3!.seq]);
  assert.equal(logReads, 1, 'nothing more read');
  feed.close();
  s.feed.close();
});
