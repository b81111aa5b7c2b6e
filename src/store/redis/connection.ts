// The Redis connection as a service needs it: fail fast while Redis is away (the caller answers 503
// and retries), never re-send a command whose outcome is unknown, reconnect forever.
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { targetOptions, type RedisTarget } from './target.ts';
import { StoreUnavailableError } from '../store.ts';

/** A connection to a single Redis (or through Sentinel), or to a Redis Cluster. */
export type RedisClient = Redis | Cluster;

export interface RedisConnectionOptions {
  /** A command without an answer after this long fails (its outcome is then unknown). */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Connection errors as they happen (for logging); ioredis would otherwise print them itself. */
  onError?: (err: Error) => void;
  /**
   * Batch the commands of one tick into one write (default true). Off for a connection whose
   * command must leave at once, before the caller goes on (the bus's publishes).
   */
  autoPipelining?: boolean;
}

export function connectRedis(target: RedisTarget | string, opts: RedisConnectionOptions = {}): Redis {
  const t: RedisTarget = typeof target === 'string' ? { kind: 'url', url: target } : target;
  const common: RedisOptions = { ...nodeOptions(opts), ...targetOptions(t) };
  const redis = t.kind === 'url' ? new Redis(t.url, common) : new Redis(common);
  // Without a listener ioredis prints every reconnection failure; the store reports them instead.
  redis.on('error', opts.onError ?? (() => {}));
  return redis;
}

/** A connection to the configured target, whatever its kind. */
export function connectTarget(target: RedisTarget, opts: RedisConnectionOptions = {}): RedisClient {
  return target.kind === 'cluster' ? connectCluster(target.nodes, { ...opts, password: target.password }) : connectRedis(target, opts);
}

/**
 * A Redis Cluster through its seed nodes: each node's connection as connectRedis makes one, and the
 * slot map refreshed when a node answers MOVED or goes away (a replica promoted in a failover).
 */
export function connectCluster(seeds: { host: string; port: number }[], opts: RedisConnectionOptions & { password?: string } = {}): Cluster {
  const cluster = new Cluster(seeds, {
    redisOptions: { ...nodeOptions(opts), password: opts.password },
    enableOfflineQueue: false,
    enableAutoPipelining: opts.autoPipelining ?? true,
    // Reads from masters only: a replica may lag behind a commit this node just made.
    scaleReads: 'master',
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    clusterRetryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 1000),
    // SSUBSCRIBE through a connection to each shard's master (the buses' per-room channels).
    shardedSubscribers: true,
  });
  cluster.on('error', opts.onError ?? (() => {}));
  return cluster;
}

/** A node connection's behaviour: fail fast while Redis is away, never re-send, reconnect forever. */
function nodeOptions(opts: RedisConnectionOptions): RedisOptions {
  return {
    // A command while disconnected fails at once instead of waiting in a queue.
    enableOfflineQueue: false,
    // A command in flight when the connection drops fails; it is never re-run after a reconnect,
    // since re-running a commit could apply it twice.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // Commands issued in the same tick share one write: concurrent rooms commit in one round trip.
    enableAutoPipelining: opts.autoPipelining ?? true,
    lazyConnect: false,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1000),
    connectTimeout: opts.connectTimeoutMs ?? 5_000,
    commandTimeout: opts.commandTimeoutMs ?? 5_000,
  };
}

/** Resolves once `redis` accepts commands; StoreUnavailableError after `timeoutMs`. */
export function redisReady(redis: RedisClient, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('end', onEnd);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    const onEnd = () => done(new StoreUnavailableError('the Redis connection was closed'));
    const timer = setTimeout(() => done(new StoreUnavailableError(`Redis did not answer within ${timeoutMs} ms`)), timeoutMs);
    redis.once('ready', onReady);
    redis.once('end', onEnd);
  });
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

// Server replies that mean "not now" rather than "wrong": loading its data after a restart, a
// replica promoted or demoted, out of memory. Nothing was written; a retry may succeed.
const TRANSIENT_REPLIES = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|OOM) /;

const CLIENT_MESSAGES = [
  'Connection is closed',
  "Stream isn't writeable",
  'Command timed out',
  'Command aborted due to connection close',
  // A Cluster's client while its slot map is being refreshed (a master failing over) or unreachable.
  'Failed to refresh slots cache',
  'None of startup nodes is available',
  "Cluster isn't ready",
  'Too many Cluster redirections',
];

/** Whether `err` means Redis could not be reached or did not answer, as opposed to a bug or bad data. */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError' || err.name === 'AbortError') return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  if (TRANSIENT_REPLIES.test(err.message)) return true;
  return CLIENT_MESSAGES.some((m) => err.message.includes(m));
}

/** Runs `fn`, turning connection failures into StoreUnavailableError (with the cause); others propagate. */
export async function unavailableOnConnectionError<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isConnectionError(err)) throw new StoreUnavailableError(undefined, { cause: err });
    throw err;
  }
}
