// Test harness: a real Convene on a real socket (port 0), SQLite in memory unless a data dir is given.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { startConvene } from '../../src/main.ts';
import { Redis } from 'ioredis';
import { cleanupPrefix, SHARED_REDIS_URL, uniquePrefix } from './redis.ts';
import { MeetingClient, type ClientOptions, type Credentials } from '../../client/agora.ts';

/**
 * CONVENE_TEST_BACKEND=redis runs the same tests on a cluster node: the shared Redis under a key
 * prefix of its own, removed when the server closes. A test that keeps a database file across a
 * restart (CONVENE_DB) keeps its prefix too, until that file's directory is gone.
 */
const persistentPrefixes = new Map<string, string>();

export async function startTestServer(env: Record<string, string> = {}) {
  const onRedis = process.env.CONVENE_TEST_BACKEND === 'redis';
  const dir = mkdtempSync(join(tmpdir(), 'convene-test-'));
  const db = env.CONVENE_DB && env.CONVENE_DB !== ':memory:' ? env.CONVENE_DB : null;
  let prefix = '';
  if (onRedis) {
    prefix = (db && persistentPrefixes.get(db)) || uniquePrefix();
    if (db) persistentPrefixes.set(db, prefix);
  }
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    CONVENE_DATA_DIR: dir,
    CONVENE_DB: ':memory:',
    CONVENE_LOG_LEVEL: 'silent',
    ...(onRedis ? { REDIS_URL: SHARED_REDIS_URL, CONVENE_REDIS_PREFIX: prefix } : {}),
    ...env,
  });
  const convene = await startConvene(config);
  const b = convene.bootstrapped;
  const creds: Credentials = { appId: b.appId, customerId: b.customerId, customerSecret: b.customerSecret };
  const opts: ClientOptions = { baseUrl: convene.url, ...creds };
  return {
    ...convene,
    creds,
    opts,
    client: (form?: ClientOptions['form']) => new MeetingClient({ ...opts, form }),
    async close() {
      await convene.stop();
      rmSync(dir, { recursive: true, force: true });
      if (onRedis && !(db && existsSync(dirname(db)))) {
        const redis = new Redis(SHARED_REDIS_URL);
        await cleanupPrefix(redis, prefix);
        redis.disconnect();
      }
    },
  };
}

export type TestServer = Awaited<ReturnType<typeof startTestServer>>;

export type ConveneNode = Awaited<ReturnType<typeof startConvene>>;

/**
 * `count` Convene nodes in this process sharing the Redis on 127.0.0.1:6379 under a key prefix of
 * their own (the first node's default app is every node's): stopped, their keys and data
 * directories removed after the test. `opts(node)` is a client of that node; `redis` reads their keys.
 */
export async function startRedisNodes(t: TestContext, count: number, env: Record<string, string> = {}) {
  const prefix = uniquePrefix();
  const redis = new Redis(SHARED_REDIS_URL);
  const dirs: string[] = [];
  const nodes: ConveneNode[] = [];
  t.after(async () => {
    for (const n of nodes) await n.stop();
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  for (let i = 0; i < count; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'convene-nodes-'));
    dirs.push(dir);
    const base = { PORT: '0', HOST: '127.0.0.1', CONVENE_DATA_DIR: dir, CONVENE_LOG_LEVEL: 'silent', REDIS_URL: SHARED_REDIS_URL, CONVENE_REDIS_PREFIX: prefix, CONVENE_PRESENCE_EXPIRY: 'off' };
    nodes.push(await startConvene(loadConfig({ ...base, ...env })));
  }
  const b = nodes[0]!.bootstrapped;
  const opts = (n: ConveneNode): ClientOptions => ({ baseUrl: n.url, appId: b.appId, customerId: b.customerId, customerSecret: b.customerSecret });
  return { nodes, opts, prefix, redis };
}
