// The webhook outbox every RoomStore keeps (store.outbox): rows written in the room's commit and
// only with it, the app's webhook stamp checked by that commit, lanes delivered in (seq, idx) order
// under leases, retries, dead letters and their resending, and everything gone with the room.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { App, CommitOutbox, Lane, OutboxRow, RoomStore } from '../../src/store/store.ts';
import { webhookStamp } from '../../src/store/store.ts';
import type { Room } from '../../src/domain/room.ts';
import type { LoggedEvent, MeetingEvent } from '../../src/domain/events.ts';
import { decide, RuleError } from '../../src/domain/rules.ts';
import { newApp } from '../../src/service/apps.ts';
import { newRoomId } from './store-contract.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let n = 0;

/** A new meeting of `appId` with one member, as the service would commit it. */
function started(appId: string, roomUuid: string, now = 1000) {
  n++;
  const d = decide(
    null,
    {
      type: 'enter', appId, roomUuid, roomName: roomUuid, password: '', userUuid: 'ann', userName: 'Ann', avatar: '', audio: false, video: false,
      policy: { maxUsers: 0, noAutoKickUser: false },
      fresh: { roomId: newRoomId(appId, roomUuid, `obx${n}${'x'.repeat(20)}`.slice(0, 22)), boardId: `b${n}`, uid: 2 * n + 1, session: `s${n}` },
    },
    now,
  );
  if (d instanceof RuleError) throw d;
  const room = d.room;
  const events: LoggedEvent[] = d.events.map((event, i) => ({ seq: i + 1, at: now, event }));
  room.version = 1;
  room.seq = events.length;
  return { room, events };
}

/** `count` server messages on `room` (members unchanged), the room advanced. */
function messages(room: Room, count: number) {
  const events: LoggedEvent[] = [];
  for (let i = 0; i < count; i++) {
    const event: MeetingEvent = { type: 'serverMessage', to: null, msgId: `m${room.seq + 1 + i}`, text: 'x' };
    events.push({ seq: room.seq + 1 + i, at: 2000, event });
  }
  return { next: { ...room, version: room.version + 1, seq: room.seq + count }, events, expected: room.version };
}

/** One row per event for `endpointId`, two for the first event (idx 0 and 1). */
function rowsOf(endpointId: string, roomId: string, events: LoggedEvent[]): OutboxRow[] {
  return events.flatMap((e, i) =>
    Array.from({ length: i === 0 ? 2 : 1 }, (_, idx) => ({ endpointId, id: `evt_${roomId}_${e.seq}_${idx}`, seq: e.seq, idx, payload: JSON.stringify({ seq: e.seq, idx, text: 'ü😀\ud800"\\ \u0000' }) })),
  );
}

function appWith(appId: string, endpoints: string[]): App {
  return { ...newApp({ appId }, 1000), webhooks: endpoints.map((id) => ({ id, url: 'http://127.0.0.1:9/', secret: 'k', events: ['*'], createdAt: 1000 })) };
}

async function setUp(s: RoomStore, endpoints = ['ep1']) {
  const appId = `app${++n}`;
  const app = appWith(appId, endpoints);
  await s.putApp(app);
  const outbox = (rows: OutboxRow[]): CommitOutbox => ({ stamp: webhookStamp(app), rows });
  return { appId, app, outbox };
}

/** For tests of one store's outbox beyond the contract (a replica's confirmation). */
export const outboxFixtures = { started, messages, rowsOf, setUp };

export function outboxContract(name: string, make: () => Promise<RoomStore>, opts: { skip?: string } = {}): void {
  const withStore = (title: string, fn: (s: RoomStore) => Promise<void>) =>
    test(`${name}: outbox: ${title}`, { skip: opts.skip }, async () => {
      const s = await make();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    });

  withStore('rows are written by their commit only, under the stamp of the app in force', async (s) => {
    const { appId, app, outbox } = await setUp(s);
    const a = started(appId, 'r');
    // A stale view of the app's webhooks (none): nothing is written, neither room nor rows.
    assert.deepEqual(await s.commit(a.room, 0, a.events, { stamp: '', rows: [] }), { ok: false, reason: 'webhooksChanged' });
    assert.equal(await s.loadRoom(a.room.roomId), null);
    assert.deepEqual(await s.commit(a.room, 0, a.events, outbox(rowsOf('ep1', a.room.roomId, a.events))), { ok: true });
    const m = messages(a.room, 2);
    // A conflicting commit writes none of its rows.
    assert.deepEqual(await s.commit(m.next, m.expected + 5, m.events, outbox(rowsOf('ep1', a.room.roomId, m.events))), { ok: false, reason: 'conflict' });
    const claimed = await s.outbox.claim('t1', 10_000, 10, 10, new Map());
    assert.equal(claimed.length, 1);
    assert.deepEqual({ ...claimed[0]!, head: undefined }, { appId, endpointId: 'ep1', roomId: a.room.roomId, token: 't1', head: undefined });
    assert.equal(claimed[0]!.head.id, `evt_${a.room.roomId}_1_0`);
    assert.equal(claimed[0]!.head.attempts, 0);
    assert.equal(claimed[0]!.head.payload, rowsOf('ep1', a.room.roomId, a.events)[0]!.payload, 'the body byte for byte');
    // Exactly the first commit's two rows are in the lane.
    const second = await s.outbox.advance(claimed[0]!, 't1', claimed[0]!.head, null, 10_000);
    assert.ok(second && second !== 'lost');
    assert.equal(second.id, `evt_${a.room.roomId}_1_1`);
    assert.equal(await s.outbox.advance(claimed[0]!, 't1', second, null, 10_000), null);
    // Another app's stamp is its own; an app without webhooks has the empty stamp; no outbox, no check.
    const other = started(`plain${n}`, 'p');
    assert.deepEqual(await s.commit(other.room, 0, other.events, { stamp: webhookStamp(app), rows: [] }), { ok: false, reason: 'webhooksChanged' });
    assert.deepEqual(await s.commit(other.room, 0, other.events, { stamp: '', rows: [] }), { ok: true });
    const more = messages(other.room, 1);
    assert.deepEqual(await s.commit(more.next, more.expected, more.events), { ok: true });
    // Removing the webhooks changes the stamp back to ''.
    await s.putApp({ ...app, webhooks: [] });
    const m2 = messages(a.room, 1);
    assert.deepEqual(await s.commit(m2.next, m2.expected, m2.events, outbox([])), { ok: false, reason: 'webhooksChanged' });
    assert.deepEqual(await s.commit(m2.next, m2.expected, m2.events, { stamp: '', rows: [] }), { ok: true });
  });

  withStore('a lane is delivered in (seq, idx) order under one lease; a lost lease changes nothing', async (s) => {
    const { appId, outbox } = await setUp(s);
    const a = started(appId, 'r');
    await s.commit(a.room, 0, a.events, outbox(rowsOf('ep1', a.room.roomId, a.events)));
    const m = messages(a.room, 3);
    await s.commit(m.next, m.expected, m.events, outbox(rowsOf('ep1', a.room.roomId, m.events)));
    const [lane] = await s.outbox.claim('A', 10_000, 10, 10, new Map());
    assert.ok(lane);
    // Held: nobody else gets it.
    assert.deepEqual(await s.outbox.claim('B', 10_000, 10, 10, new Map()), []);
    const seen: string[] = [];
    let head = lane.head;
    for (;;) {
      seen.push(`${head.seq}.${head.idx}`);
      assert.equal(await s.outbox.advance(lane, 'B', head, null, 10_000), 'lost', 'only the holder advances');
      const next = await s.outbox.advance(lane, 'A', head, null, 10_000);
      assert.notEqual(next, 'lost');
      if (next === null) break;
      head = next as typeof head;
    }
    assert.deepEqual(seen, ['1.0', '1.1', '2.0', '2.1', '3.0', '4.0']);
    assert.deepEqual(await s.outbox.claim('B', 10_000, 10, 10, new Map()), [], 'an emptied lane is closed');
  });

  withStore('a lease that runs out lets another claim the lane; the first holder is then refused', async (s) => {
    const { appId, outbox } = await setUp(s);
    const a = started(appId, 'r');
    await s.commit(a.room, 0, a.events, outbox(rowsOf('ep1', a.room.roomId, a.events)));
    const [first] = await s.outbox.claim('A', 100, 10, 10, new Map());
    assert.ok(first);
    await sleep(250);
    const [second] = await s.outbox.claim('B', 10_000, 10, 10, new Map());
    assert.equal(second?.head.id, first.head.id, 'the same head, from the start');
    assert.equal(await s.outbox.advance(first, 'A', first.head, null, 10_000), 'lost');
    assert.equal(await s.outbox.retry(first, 'A', first.head, 1, 'x', 0), false);
    assert.notEqual(await s.outbox.advance(second, 'B', second.head, null, 10_000), 'lost');
  });

  withStore('a retry waits for its delay and keeps its attempts; release gives a lane back at once', async (s) => {
    const { appId, outbox } = await setUp(s);
    const a = started(appId, 'r');
    await s.commit(a.room, 0, a.events, outbox(rowsOf('ep1', a.room.roomId, a.events)));
    const [lane] = await s.outbox.claim('A', 10_000, 10, 10, new Map());
    assert.equal(await s.outbox.retry(lane!, 'A', lane!.head, 1, 'HTTP 500', 300), true);
    assert.deepEqual(await s.outbox.claim('B', 10_000, 10, 10, new Map()), [], 'not before its delay');
    await sleep(450);
    const [again] = await s.outbox.claim('B', 10_000, 10, 10, new Map());
    assert.equal(again?.head.id, lane!.head.id);
    assert.equal(again?.head.attempts, 1);
    assert.equal(again?.head.lastError, 'HTTP 500');
    await s.outbox.release(again!, 'B');
    assert.equal((await s.outbox.claim('C', 10_000, 10, 10, new Map())).length, 1);
  });

  withStore('at most perEndpoint lanes of an endpoint per claim, counting those the caller runs; the others are put back', async (s) => {
    const { appId, outbox } = await setUp(s, ['ep1', 'ep2']);
    for (const uuid of ['r1', 'r2', 'r3']) {
      const a = started(appId, uuid);
      await s.commit(a.room, 0, a.events, outbox([...rowsOf('ep1', a.room.roomId, a.events), ...rowsOf('ep2', a.room.roomId, a.events)]));
    }
    const busy = new Map([[`${appId}/ep1`, 1]]);
    const claimed = await s.outbox.claim('A', 10_000, 10, 2, busy);
    const per = (ep: string) => claimed.filter((l) => l.endpointId === ep).length;
    assert.deepEqual([per('ep1'), per('ep2')], [1, 2]);
    // The lanes passed over were put back (behind other endpoints' lanes), not lost.
    assert.deepEqual(await s.outbox.claim('B', 10_000, 10, 10, new Map()), []);
    await sleep(1_200);
    assert.equal((await s.outbox.claim('C', 10_000, 2, 10, new Map())).length, 2, 'at most limit');
    const rest = await s.outbox.claim('D', 10_000, 10, 10, new Map());
    assert.equal(rest.length, 1);
  });

  withStore('caps by endpoint id replace perEndpoint for those endpoints (the RTM relay runs more rooms at once)', async (s) => {
    const { appId, outbox } = await setUp(s, ['ep1']);
    for (const uuid of ['c1', 'c2', 'c3', 'c4']) {
      const a = started(appId, uuid);
      await s.commit(a.room, 0, a.events, outbox([...rowsOf('ep1', a.room.roomId, a.events), ...rowsOf('rtm', a.room.roomId, a.events)]));
    }
    const busy = new Map([[`${appId}/rtm`, 1]]);
    const claimed = await s.outbox.claim('A', 10_000, 10, 1, busy, new Map([['rtm', 4]]));
    const per = (ep: string) => claimed.filter((l) => l.endpointId === ep).length;
    assert.deepEqual([per('ep1'), per('rtm')], [1, 3], 'rtm: 4 at once, one of them already running');
  });

  withStore('dead letters: listed, resent in order with their attempts reset, forgotten with their endpoint', async (s) => {
    const { appId, outbox } = await setUp(s, ['ep1', 'ep2']);
    const a = started(appId, 'r');
    await s.commit(a.room, 0, a.events, outbox([...rowsOf('ep1', a.room.roomId, a.events), ...rowsOf('ep2', a.room.roomId, a.events)]));
    const m = messages(a.room, 1);
    await s.commit(m.next, m.expected, m.events, outbox(rowsOf('ep1', a.room.roomId, m.events)));
    const lanes = await s.outbox.claim('A', 10_000, 10, 10, new Map());
    const ep1 = lanes.find((l) => l.endpointId === 'ep1')!;
    const next = await s.outbox.advance(ep1, 'A', ep1.head, { attempts: 5, error: 'ECONNREFUSED' }, 10_000);
    assert.ok(next && next !== 'lost');
    assert.equal(next.id, `evt_${a.room.roomId}_1_1`, 'the lane goes on after a dead letter');
    const dead = await s.outbox.dead(appId, null, 100);
    assert.equal(dead.length, 1);
    assert.deepEqual(
      { id: dead[0]!.id, endpointId: dead[0]!.endpointId, roomId: dead[0]!.roomId, attempts: dead[0]!.attempts, lastError: dead[0]!.lastError, seq: dead[0]!.seq },
      { id: ep1.head.id, endpointId: 'ep1', roomId: a.room.roomId, attempts: 5, lastError: 'ECONNREFUSED', seq: 1 },
    );
    assert.ok(dead[0]!.deadAt > 0);
    assert.equal(dead[0]!.payload, ep1.head.payload);
    assert.deepEqual(await s.outbox.dead(appId, 'ep2', 100), []);
    // Resent while the lane is held: the holder's next head is the resent one (it is older).
    assert.equal(await s.outbox.resend(appId, null, ['nope']), 0);
    assert.equal(await s.outbox.resend(appId, 'ep1', null), 1);
    assert.deepEqual(await s.outbox.dead(appId, null, 100), []);
    const after = await s.outbox.advance(ep1, 'A', next, null, 10_000);
    assert.ok(after && after !== 'lost');
    assert.deepEqual([after.id, after.attempts, after.lastError], [ep1.head.id, 0, null]);
    // Dead again, then its endpoint removed: its dead letters go.
    await s.outbox.advance(ep1, 'A', after, { attempts: 5, error: 'x' }, 10_000);
    assert.equal((await s.outbox.dead(appId, 'ep1', 100)).length, 1);
    assert.equal(await s.outbox.forget(appId, 'ep1'), 1);
    assert.deepEqual(await s.outbox.dead(appId, null, 100), []);
  });

  withStore('drop empties a held lane; the retention purge takes rows, lanes and dead letters with the room', async (s) => {
    const { appId, outbox } = await setUp(s, ['ep1', 'ep2']);
    const a = started(appId, 'r');
    await s.commit(a.room, 0, a.events, outbox([...rowsOf('ep1', a.room.roomId, a.events), ...rowsOf('ep2', a.room.roomId, a.events)]));
    const lanes = await s.outbox.claim('A', 10_000, 10, 10, new Map());
    const lane = (ep: string): Lane => lanes.find((l) => l.endpointId === ep)!;
    assert.equal(await s.outbox.drop(lane('ep2'), 'B'), 0, 'only the holder drops');
    assert.equal(await s.outbox.drop(lane('ep2'), 'A'), 2);
    const ep1 = lanes.find((l) => l.endpointId === 'ep1')!;
    await s.outbox.advance(ep1, 'A', ep1.head, { attempts: 1, error: 'x' }, 10_000);
    await s.outbox.release(ep1, 'A');
    // The meeting ends and is purged.
    const end = decide(a.room, { type: 'close', emptySinceAtMost: null }, 5000);
    if (end instanceof RuleError) throw end;
    const endEvents: LoggedEvent[] = end.events.map((event, i) => ({ seq: a.room.seq + 1 + i, at: 5000, event }));
    end.room.version = a.room.version + 1;
    end.room.seq = a.room.seq + endEvents.length;
    assert.deepEqual(await s.commit(end.room, a.room.version, endEvents, outbox(rowsOf('ep1', a.room.roomId, endEvents))), { ok: true });
    assert.equal(await s.purgeEnded(6000, 10), 1);
    assert.deepEqual(await s.outbox.claim('C', 10_000, 10, 10, new Map()), []);
    assert.deepEqual(await s.outbox.dead(appId, null, 100), []);
    await s.outbox.recover();
  });

  withStore('waiting counts the rows not yet delivered, of every endpoint or of one', async (s) => {
    const { appId, outbox } = await setUp(s, ['ep1']);
    const before = { all: await s.outbox.waiting(), rtm: await s.outbox.waiting('rtm') };
    const a = started(appId, 'r');
    // The RTM relay's rows travel in the same outbox, under its own endpoint id.
    await s.commit(a.room, 0, a.events, outbox([...rowsOf('ep1', a.room.roomId, a.events), ...rowsOf('rtm', a.room.roomId, a.events)]));
    const per = rowsOf('ep1', a.room.roomId, a.events).length;
    assert.equal((await s.outbox.waiting()) - before.all, 2 * per);
    assert.equal((await s.outbox.waiting('rtm')) - before.rtm, per);
    assert.equal(await s.outbox.waiting('nobody'), 0);
  });
}
