// Cluster benchmarks on the shared Redis: one key prefix per run, Convene nodes started on it, and
// the cleanup (every key of the prefix, every child process) also when the run fails or is stopped.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { descendants, killQuietly } from '../../test/helpers/process.ts';
import { startConveneChild } from './proc.ts';

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** This run's key prefix (the Redis server is shared: nothing outside it is touched). */
export const PREFIX = `bench:cluster:${process.pid}:${randomBytes(4).toString('hex')}:`;

/** One app for every node and backend, so that any node accepts the same credentials. */
export const creds = {
  appId: randomBytes(16).toString('hex'),
  customerId: 'bench-customer',
  customerSecret: randomBytes(12).toString('hex'),
};

/** Removes every key under `prefix` with SCAN + UNLINK (never KEYS or FLUSHALL); returns how many. */
export async function cleanupPrefix(prefix = PREFIX, url = REDIS_URL): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let removed = 0;
  try {
    const pattern = `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) removed += await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return removed;
}

export type ConveneNode = Awaited<ReturnType<typeof startConveneChild>>;

/**
 * `count` Convene processes on one backend, started one after another (the first creates the app).
 * `prefix` null: the embedded SQLite backend (one node only); `redisEnv`: which Redis (the shared one by default).
 */
export async function startConveneNodes(count: number, prefix: string | null, redisEnv: Record<string, string> = { REDIS_URL }): Promise<ConveneNode[]> {
  const env: Record<string, string> = {
    CONVENE_APP_ID: creds.appId,
    CONVENE_CUSTOMER_ID: creds.customerId,
    CONVENE_CUSTOMER_SECRET: creds.customerSecret,
    ...(prefix === null ? {} : { ...redisEnv, CONVENE_REDIS_PREFIX: prefix }),
  };
  const nodes: ConveneNode[] = [];
  try {
    for (let i = 0; i < count; i++) nodes.push(await startConveneChild(env));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  return nodes;
}

/** Warnings and errors a server printed (pino JSON at level ≥ 40, or any line naming an error). */
export function troubles(output: string): string[] {
  return output.split('\n').filter((l) => /"level":\s*(4|5|6)0\b/.test(l) || (!l.startsWith('{') && /error|warn|exception|fail/i.test(l)));
}

let cleaning: Promise<void> | null = null;

/**
 * Ends every process this one started (children and theirs, SIGKILL) and removes the prefix's
 * keys; safe to call twice. For failures and signals: the normal path stops its servers itself.
 */
export function emergencyCleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    for (const pid of descendants(process.pid)) killQuietly(pid);
    await cleanupPrefix().catch((err) => console.error(`could not remove Redis keys under ${PREFIX}: ${String(err)}`));
  })());
}

/** Runs `main`, then always removes the keys; on a failure or a signal also kills every child. */
export async function withCleanup(main: () => Promise<void>): Promise<void> {
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping servers, removing Redis keys under ${PREFIX}`);
    void emergencyCleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await main();
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
    await emergencyCleanup();
    return;
  }
  const left = await cleanupPrefix();
  console.log(`\nRedis: removed ${left} keys under ${PREFIX} (SCAN + UNLINK)`);
}
