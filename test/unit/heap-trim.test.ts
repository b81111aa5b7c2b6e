// When the process gives its heap's empty pages back: only after quiet seconds in a row, not
// twice within the minimum interval, and only once the old generation has grown by the margin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_INTERVAL_TICKS, QUIET_TICKS, QUIET_UTILIZATION, shouldTrim, type TrimState } from '../../src/ops/heap.ts';

const MB = 1024 * 1024;
const busy = QUIET_UTILIZATION + 0.05;
const quiet = QUIET_UTILIZATION / 2;

test('a grown heap is trimmed after QUIET_TICKS quiet seconds, and a busy second starts the count again', () => {
  const s: TrimState = { quiet: 0, sinceTrim: MIN_INTERVAL_TICKS, trimmedAt: 0 };
  for (let i = 1; i < QUIET_TICKS; i++) assert.equal(shouldTrim(s, quiet, 100 * MB, 32 * MB), false);
  assert.equal(shouldTrim(s, busy, 100 * MB, 32 * MB), false, 'a busy second');
  for (let i = 1; i < QUIET_TICKS; i++) assert.equal(shouldTrim(s, quiet, 100 * MB, 32 * MB), false, 'counting again');
  assert.equal(shouldTrim(s, quiet, 100 * MB, 32 * MB), true);
});

test('a heap that has not grown by the margin since the last trim is left alone, however quiet', () => {
  const s: TrimState = { quiet: 0, sinceTrim: MIN_INTERVAL_TICKS, trimmedAt: 60 * MB };
  for (let i = 0; i < 3 * QUIET_TICKS; i++) assert.equal(shouldTrim(s, quiet, 91 * MB, 32 * MB), false);
  assert.equal(shouldTrim(s, quiet, 92 * MB, 32 * MB), true);
});

test('no two trims within MIN_INTERVAL_TICKS seconds', () => {
  const s: TrimState = { quiet: 0, sinceTrim: 0, trimmedAt: 0 };
  for (let i = 1; i < MIN_INTERVAL_TICKS; i++) assert.equal(shouldTrim(s, quiet, 500 * MB, 32 * MB), false, `second ${i}`);
  assert.equal(shouldTrim(s, quiet, 500 * MB, 32 * MB), true);
});
