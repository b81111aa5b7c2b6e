// The catch-up pacer: a bounded number run at once, the rest in arrival order; one that waits for
// its socket gives its slot up; the running ones share one budget per turn of the event loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CatchUpPacer } from '../../src/realtime/pacer.ts';

const tick = () => new Promise((r) => setImmediate(r));

test('at most max catch-ups run; the others start in arrival order as slots free up', async () => {
  const pacer = new CatchUpPacer(2);
  const started: number[] = [];
  const turns = Array.from({ length: 5 }, (_, i) => pacer.take().then((t) => (started.push(i), t)));
  await tick();
  assert.deepEqual(started, [0, 1]);
  assert.deepEqual(pacer.load, { running: 2, waiting: 3 });
  (await turns[1]!).end();
  await tick();
  assert.deepEqual(started, [0, 1, 2]);
  (await turns[0]!).end();
  (await turns[0]!).end(); // idempotent: frees one slot only
  await tick();
  assert.deepEqual(started, [0, 1, 2, 3]);
  assert.deepEqual(pacer.load, { running: 2, waiting: 1 });
  for (const t of [2, 3, 4]) (await turns[t]!).end();
  assert.deepEqual(started, [0, 1, 2, 3, 4]);
  assert.deepEqual(pacer.load, { running: 0, waiting: 0 });
});

test('a catch-up waiting for its socket gives its slot up, then queues behind those already waiting', async () => {
  const pacer = new CatchUpPacer(1);
  const a = await pacer.take();
  let bStarted = false;
  const b = pacer.take().then((t) => ((bStarted = true), t));
  let drained!: () => void;
  const aBack = a.away(new Promise<void>((r) => (drained = r))).then(() => 'a back');
  await tick();
  assert.ok(bStarted, 'b runs while a waits');
  drained();
  await tick();
  assert.deepEqual(pacer.load, { running: 1, waiting: 1 }, 'a waits for b');
  (await b).end();
  assert.equal(await aBack, 'a back');
  a.end();
  assert.deepEqual(pacer.load, { running: 0, waiting: 0 });
});

test('the running catch-ups share the budget of a turn', async () => {
  const pacer = new CatchUpPacer(64);
  const one = await pacer.take();
  assert.equal(pacer.sliceFrames, 100);
  assert.equal(pacer.sliceBytes, 64 * 1024);
  const more = await Promise.all(Array.from({ length: 15 }, () => pacer.take()));
  assert.equal(pacer.sliceFrames, 16);
  assert.equal(pacer.sliceBytes, 16 * 1024);
  const many = await Promise.all(Array.from({ length: 48 }, () => pacer.take()));
  assert.equal(pacer.sliceFrames, 8, 'never below 8 frames');
  for (const t of [one, ...more, ...many]) t.end();
});

test('one owner runs at most its share; others start at once, and waiting owners take turns', async () => {
  const pacer = new CatchUpPacer(4, 2);
  const started: string[] = [];
  const take = (owner: string, i: number) => pacer.take(owner).then((t) => (started.push(`${owner}${i}`), t));
  // A storm from one member: two run, the rest wait, though slots are free.
  const storm = Array.from({ length: 6 }, (_, i) => take('a', i));
  await tick();
  assert.deepEqual(started, ['a0', 'a1']);
  assert.deepEqual(pacer.load, { running: 2, waiting: 4 });
  // Another member gets a slot at once, then a third: the pacer is full.
  const b = take('b', 0);
  const c = take('c', 0);
  await tick();
  assert.deepEqual(started, ['a0', 'a1', 'b0', 'c0']);
  // Waiting: a (4 more), then d and e. As slots free, owners take turns: a's next, then d, then e.
  const d = take('d', 0);
  const e = take('e', 0);
  (await b).end();
  await tick();
  assert.deepEqual(started.slice(4), ['d0'], 'a is at its share: the slot goes to d, who came later');
  (await c).end();
  await tick();
  assert.deepEqual(started.slice(4), ['d0', 'e0']);
  (await storm[0]!).end();
  await tick();
  assert.deepEqual(started.slice(6), ['a2'], 'a runs its next when one of its own ends');
  for (const t of [storm[1]!, storm[2]!, d, e]) (await t).end();
  for (const t of storm.slice(3)) (await t).end();
  assert.deepEqual(pacer.load, { running: 0, waiting: 0 });
  assert.deepEqual(started.sort(), ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'b0', 'c0', 'd0', 'e0']);
});
