// Where the cluster's Redis is: a URL, Sentinels and the name they monitor, or a Redis Cluster's
// nodes; every mistake named at start, and a password never shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config.ts';
import { configProblems } from '../helpers/config.ts';
import { describeTarget } from '../../src/store/redis/target.ts';

const problems = configProblems;

test('the embedded store by default; a URL; Sentinels with the name, passwords and replica settings', () => {
  assert.equal(loadConfig({}).redis.target, null);
  assert.deepEqual(loadConfig({ REDIS_URL: 'redis://:pw@10.0.0.5:6379' }).redis.target, { kind: 'url', url: 'redis://:pw@10.0.0.5:6379' });
  const c = loadConfig({
    REDIS_SENTINELS: '10.0.0.5:26379, sentinel-b:26380,[::1]:26381',
    REDIS_SENTINEL_MASTER: 'convene',
    REDIS_PASSWORD: 'data-pw',
    REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
    CONVENE_REDIS_MIN_REPLICAS: '1',
    CONVENE_REDIS_REPLICA_TIMEOUT_MS: '250',
  }).redis;
  assert.deepEqual(c.target, {
    kind: 'sentinel',
    sentinels: [
      { host: '10.0.0.5', port: 26379 },
      { host: 'sentinel-b', port: 26380 },
      { host: '::1', port: 26381 },
    ],
    master: 'convene',
    password: 'data-pw',
    sentinelPassword: 'sentinel-pw',
  });
  assert.deepEqual([c.minReplicas, c.replicaTimeoutMs], [1, 250]);
  assert.deepEqual([loadConfig({}).redis.minReplicas, loadConfig({}).redis.replicaTimeoutMs], [0, 1000]);
});

test('a Redis Cluster by some of its nodes, with a password; a prefix with braces is refused', () => {
  const c = loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.5:6379,redis-b:6380', REDIS_PASSWORD: 'pw' }).redis;
  assert.deepEqual(c.target, { kind: 'cluster', nodes: [{ host: '10.0.0.5', port: 6379 }, { host: 'redis-b', port: 6380 }], password: 'pw' });
  assert.match(problems({ REDIS_CLUSTER_NODES: 'a:1,b' }).join(), /REDIS_CLUSTER_NODES: "b" is not host:port/);
  assert.match(problems({ REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINELS: 'b:2' }).join(), /REDIS_SENTINELS and REDIS_CLUSTER_NODES: set one of them/);
  assert.match(problems({ REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://b:2' }).join(), /REDIS_URL and REDIS_CLUSTER_NODES: set one of them/);
  assert.match(problems({ REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINEL_MASTER: 'm' }).join(), /REDIS_SENTINEL_MASTER: only with REDIS_SENTINELS/);
  assert.equal(loadConfig({ REDIS_CLUSTER_NODES: 'a:1', CONVENE_REDIS_MIN_REPLICAS: '1' }).redis.minReplicas, 1, 'each master\'s replicas confirm its writes');
  assert.match(problems({ REDIS_CLUSTER_NODES: 'a:1', CONVENE_REDIS_PREFIX: '{x}:' }).join(), /CONVENE_REDIS_PREFIX: no braces on a Redis Cluster/);
  assert.equal(describeTarget({ kind: 'cluster', nodes: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }], password: 'secret' }), 'the Redis Cluster of a:1,b:2');
});

test('each mistake is named', () => {
  assert.match(problems({ REDIS_URL: 'redis://x:1', REDIS_SENTINELS: 'a:1' }).join(), /REDIS_URL and REDIS_SENTINELS: set one of them/);
  assert.match(problems({ REDIS_URL: 'http://x' }).join(), /REDIS_URL: must be a redis:\/\//);
  assert.match(problems({ REDIS_SENTINELS: 'a:1,b', REDIS_SENTINEL_MASTER: 'm' }).join(), /"b" is not host:port/);
  assert.match(problems({ REDIS_SENTINELS: 'a:70000', REDIS_SENTINEL_MASTER: 'm' }).join(), /"a:70000" is not host:port/);
  assert.match(problems({ REDIS_SENTINELS: 'a:1' }).join(), /REDIS_SENTINEL_MASTER: required/);
  assert.match(problems({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_MASTER: 'my master' }).join(), /REDIS_SENTINEL_MASTER/);
  assert.match(problems({ REDIS_SENTINEL_MASTER: 'm' }).join(), /set REDIS_SENTINELS too/);
  assert.match(problems({ CONVENE_REDIS_MIN_REPLICAS: '1' }).join(), /only with Redis/);
  assert.match(problems({ REDIS_URL: 'redis://x:1', CONVENE_REDIS_MIN_REPLICAS: '-1' }).join(), /CONVENE_REDIS_MIN_REPLICAS/);
});

test('a target is described without its passwords', () => {
  assert.equal(describeTarget({ kind: 'url', url: 'redis://user:secret@h:6379/0' }), 'Redis at redis://***@h:6379/0');
  const shown = describeTarget({ kind: 'sentinel', sentinels: [{ host: 'a', port: 1 }], master: 'm', password: 'secret', sentinelPassword: 'secret2' });
  assert.equal(shown, 'the Redis primary "m" of Sentinels a:1');
});
