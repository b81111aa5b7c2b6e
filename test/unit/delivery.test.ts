// Held deliveries: a command's events wait for its answer, the room's later events wait behind
// them (commit order), other rooms never wait, and nothing waits longer than the cap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalBus } from '../../src/bus/local.ts';
import { RoomDelivery } from '../../src/service/delivery.ts';
import type { LoggedEvent } from '../../src/domain/events.ts';

const ev = (seq: number): LoggedEvent => ({ seq, at: 0, event: { type: 'roomChanged', muteAllChat: 0, muteAllAudio: 0, ended: false, locked: false } });

function setup() {
  const bus = new LocalBus();
  const seen: string[] = [];
  bus.subscribe((roomId, events) => seen.push(...events.map((e) => `${roomId}:${e.seq}`)));
  return { delivery: new RoomDelivery(bus), seen };
}

test('a held batch holds back its room only, in commit order', async () => {
  const { delivery, seen } = setup();
  let answer!: () => void;
  delivery.publish('a', [ev(1)], new Promise<void>((r) => (answer = r)));
  delivery.publish('a', [ev(2)]);
  delivery.publish('b', [ev(1)]);
  assert.deepEqual(seen, ['b:1'], 'another room is not held');
  answer();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, ['b:1', 'a:1', 'a:2']);
  delivery.publish('a', [ev(3)]);
  assert.deepEqual(seen.at(-1), 'a:3', 'with nothing held, delivery is immediate');
});

test('batches released out of order still go out in commit order', async () => {
  const { delivery, seen } = setup();
  const releases: (() => void)[] = [];
  for (const seq of [1, 2, 3]) delivery.publish('a', [ev(seq)], new Promise<void>((r) => releases.push(r)));
  releases[2]!();
  releases[1]!();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, []);
  releases[0]!();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, ['a:1', 'a:2', 'a:3']);
});

test('an answer that never comes holds its room for one second at most', async () => {
  const { delivery, seen } = setup();
  const started = Date.now();
  delivery.publish('a', [ev(1)], new Promise<void>(() => {}));
  while (seen.length === 0 && Date.now() - started < 3000) await new Promise((r) => setTimeout(r, 20));
  const waited = Date.now() - started;
  assert.deepEqual(seen, ['a:1']);
  assert.ok(waited >= 950 && waited < 1500, `released after ${waited} ms`);
});
