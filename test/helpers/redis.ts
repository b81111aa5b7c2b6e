// Real Redis for tests: the shared server on 127.0.0.1:6379 (each test under its own key prefix,
// removed afterwards; never FLUSHALL), or a private redis-server a test may kill and restart.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './process.ts';

export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379';

/** Whether a Redis answers PING at `url` within two seconds (a loaded machine may be slow to). */
export function redisAvailable(url = SHARED_REDIS_URL): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect(Number(port || 6379), hostname);
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(2_000, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

/**
 * The `skip` option for tests that need the shared Redis: a visible reason when it is not running,
 * undefined when it is. With CONVENE_REQUIRE_SERVICES=1 a missing Redis is a failure instead.
 */
export async function redisSkip(url = SHARED_REDIS_URL): Promise<string | undefined> {
  if (await redisAvailable(url)) return undefined;
  const { host } = new URL(url);
  if (process.env.CONVENE_REQUIRE_SERVICES === '1') {
    test(`Redis is running on ${host}`, () => assert.fail(`no Redis answers on ${url}, and CONVENE_REQUIRE_SERVICES=1`));
  }
  return `no Redis on ${host}`;
}

/**
 * The `skip` option for tests that start their own redis-server: a reason when the binary is not
 * installed (a failure with CONVENE_REQUIRE_SERVICES=1).
 */
export async function redisServerSkip(): Promise<string | undefined> {
  const found = await new Promise<boolean>((resolve) => execFile('redis-server', ['--version'], (err) => resolve(!err)));
  if (found) return undefined;
  if (process.env.CONVENE_REQUIRE_SERVICES === '1') {
    test('redis-server is installed', () => assert.fail('redis-server is not on PATH, and CONVENE_REQUIRE_SERVICES=1'));
  }
  return 'redis-server is not installed';
}

/** A key prefix no other test (or process) uses. */
export function uniquePrefix(): string {
  return `test:${process.pid}:${randomBytes(6).toString('hex')}:`;
}

/** Removes every key under `prefix` (SCAN, never KEYS or FLUSHALL: the server may be shared). */
/**
 * Fresh key prefixes on the shared Redis for one test file, every key under them removed when the
 * file's tests are done. → a function giving the next prefix.
 */
export function prefixesRemovedAfter(skip: string | undefined): () => string {
  const prefixes: string[] = [];
  after(async () => {
    if (skip || prefixes.length === 0) return;
    const admin = new Redis(SHARED_REDIS_URL);
    for (const p of prefixes) await cleanupPrefix(admin, p);
    admin.disconnect();
  });
  return () => {
    const p = uniquePrefix();
    prefixes.push(p);
    return p;
  };
}

export async function cleanupPrefix(redis: Redis, prefix: string): Promise<void> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}

export interface RedisServerOptions {
  appendonly?: boolean;
  appendfsync?: 'always' | 'everysec' | 'no';
}

export interface RedisServer {
  url: string;
  port: number;
  /** Its data directory (the AOF lives here and survives restart()). */
  dir: string;
  /** Ends the server (SIGTERM by default) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** SIGKILL: no shutdown, no final fsync. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory, so that it reloads its AOF. */
  restart(): Promise<void>;
  /** Kills it and removes its directory. */
  dispose(): Promise<void>;
}

/** A private redis-server on a free port in a fresh directory (the installed binary). */
export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'convene-redis-'));
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--dir', dir,
    '--appendonly', opts.appendonly === false ? 'no' : 'yes',
    '--appendfsync', opts.appendfsync ?? 'everysec',
    '--daemonize', 'no',
    '--loglevel', 'warning',
  ];
  let child: ChildProcess | null = null;

  const start = async () => {
    const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    const spawnError = new Promise<Error>((resolve) => c.once('error', resolve));
    child = c;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const failed = await Promise.race([spawnError, exited.then(() => new Error(`redis-server exited: ${out}`)), sleep(20).then(() => null)]);
      if (failed) throw failed;
      if (await redisAvailable(`redis://127.0.0.1:${port}`)) return;
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`redis-server did not answer on port ${port}: ${out}`);
      }
    }
  };

  const stop = (signal: NodeJS.Signals = 'SIGTERM') =>
    new Promise<void>((resolve) => {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill(signal);
    });

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    stop,
    kill: () => stop('SIGKILL'),
    restart: async () => {
      await stop();
      await start();
    },
    dispose: async () => {
      await stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The environment of a cluster node in a test: a Redis, a key prefix, and fixed credentials. */
export function clusterEnv(o: {
  url: string;
  prefix: string;
  dir: string;
  creds: { appId: string; customerId: string; customerSecret: string };
  keys: { ak: string; sk: string };
  graceS: number;
  nodeTimeoutS: number;
}): Record<string, string> {
  return {
    REDIS_URL: o.url,
    CONVENE_REDIS_PREFIX: o.prefix,
    CONVENE_DATA_DIR: o.dir,
    CONVENE_APP_ID: o.creds.appId,
    CONVENE_CUSTOMER_ID: o.creds.customerId,
    CONVENE_CUSTOMER_SECRET: o.creds.customerSecret,
    CONVENE_ACCESS_KEY: o.keys.ak,
    CONVENE_SECRET_KEY: o.keys.sk,
    CONVENE_PRESENCE_GRACE: String(o.graceS),
    CONVENE_NODE_TIMEOUT: String(o.nodeTimeoutS),
  };
}
