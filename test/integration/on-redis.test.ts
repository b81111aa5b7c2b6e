// The client API, realtime and server API suites once more, each server a cluster node on the
// shared Redis instead of embedded SQLite: what a member or an admin sees must not depend on the
// backend. (The other suites are about SQLite files, the process or the transport.)
import { test } from 'node:test';
import { redisSkip } from '../helpers/redis.ts';

const SUITES = [
  'agora-api',
  'agora-clients',
  'bad-input',
  'concurrent-entry',
  'empty-room',
  'media-tokens',
  'moderation',
  'qiniu-conformance',
  'qiniu-cross',
  'qiniu-sweep',
  'rule-matrix',
  'smoke',
  'ws-backpressure',
  'ws-messages',
  'ws-ping',
  'ws-presence',
  'ws-resume',
];

const skip = await redisSkip();
if (skip) {
  test('the API suites on a Redis-backed node', { skip }, () => {});
} else {
  process.env.CONVENE_TEST_BACKEND = 'redis';
  for (const suite of SUITES) await import(`./${suite}.test.ts`);
}
