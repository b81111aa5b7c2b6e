// A command's first base is the room its request read moments ago (the caller's session; the
// meeting an entry found): on Redis that saves a round trip per command. Two nodes on one Redis:
// the base is used while nothing newer is known, a base another node made stale is caught by the
// commit's version check (one conflict, then a fresh read), and one this node replaced is not used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalBus } from '../../src/bus/local.ts';
import { RedisStore } from '../../src/store/redis/store.ts';
import { connectRedis, redisReady } from '../../src/store/redis/connection.ts';
import { MeetingService } from '../../src/service/meeting.ts';
import { newApp } from '../../src/service/apps.ts';
import type { CommitResult } from '../../src/store/store.ts';
import { prefixesRemovedAfter, redisSkip, SHARED_REDIS_URL } from '../helpers/redis.ts';

const skip = await redisSkip();
const nextPrefix = prefixesRemovedAfter(skip);

/** A node: its store (reads and conflicts counted) and its meeting service. */
async function node(prefix: string) {
  const redis = connectRedis(SHARED_REDIS_URL);
  await redisReady(redis);
  const store = new RedisStore({ redis, prefix, ownsClient: true });
  const counts = { loads: 0, conflicts: 0 };
  const load = store.loadRoom.bind(store);
  store.loadRoom = (id) => {
    counts.loads++;
    return load(id);
  };
  const commit = store.commit.bind(store);
  store.commit = async (...args): Promise<CommitResult> => {
    const r = await commit(...args);
    if (!r.ok && r.reason === 'conflict') counts.conflicts++;
    return r;
  };
  return { store, counts, meeting: new MeetingService({ store, bus: new LocalBus() }) };
}

test('a command starts from the room its request read, unless it is known stale; another node\'s write is caught', { skip }, async () => {
  const prefix = nextPrefix();
  const [a, b] = [await node(prefix), await node(prefix)];
  try {
    const app = newApp({ appId: 'f'.repeat(32) }, 0);
    const enter = (n: typeof a, userUuid: string) => n.meeting.enter(app, { roomUuid: 'r', roomName: 'r', password: '', userUuid, audio: false, video: false });
    const host = await enter(a, 'host');
    const guest = await enter(b, 'guest');
    const chat = (n: typeof a, userId: string, message: string) => n.meeting.execute(host.roomId, { type: 'chat', actor: userId, message, chatType: 1 }, {}, undefined);

    // The request's read is current: the command reads nothing more.
    let read = (await a.meeting.authenticate(app.appId, host.roomId, host.userToken)).room;
    a.counts.loads = 0;
    await a.meeting.execute(host.roomId, { type: 'chat', actor: host.userId, message: 'one', chatType: 1 }, {}, read);
    assert.deepEqual(a.counts, { loads: 0, conflicts: 0 }, 'no second read');

    // Another node writes between the read and the command: one conflict, then a fresh read.
    read = (await a.meeting.authenticate(app.appId, host.roomId, host.userToken)).room;
    await chat(b, guest.userId, 'two');
    a.counts.loads = 0;
    await a.meeting.execute(host.roomId, { type: 'chat', actor: host.userId, message: 'three', chatType: 1 }, {}, read);
    assert.deepEqual(a.counts, { loads: 1, conflicts: 1 });

    // This node committed after the read: the read is known stale and not used (no conflict).
    read = (await a.meeting.authenticate(app.appId, host.roomId, host.userToken)).room;
    await chat(a, host.userId, 'four');
    a.counts.loads = 0;
    a.counts.conflicts = 0;
    await a.meeting.execute(host.roomId, { type: 'chat', actor: host.userId, message: 'five', chatType: 1 }, {}, read);
    assert.deepEqual(a.counts, { loads: 1, conflicts: 0 });

    // Nothing lost, in order, gap-free.
    const { events } = await a.store.eventsSince(host.roomId, 0, 100);
    assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1));
    const said = events.flatMap((e) => (e.event.type === 'chatSent' ? [e.event.message] : []));
    assert.deepEqual(said, ['one', 'two', 'three', 'four', 'five']);
  } finally {
    await a.store.close();
    await b.store.close();
  }
});
