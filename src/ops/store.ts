// The store, opened from the configuration in one way for the server and the CLI: Redis when
// REDIS_URL is set (cluster mode), else the embedded SQLite file. A data directory, database file
// or Redis this process cannot use becomes an OperationalError naming it.
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Config } from '../config.ts';
import { SqliteStore } from '../store/sqlite/store.ts';
import type { RedisClient, RedisConnectionOptions } from '../store/redis/connection.ts';
import { clusterSlices, singleSlice, type Slices } from '../store/redis/slices.ts';
import { describeTarget } from '../store/redis/target.ts';
import type { RoomStore } from '../store/store.ts';
import { OperationalError, errnoOf, reasonOf } from './errors.ts';

/** How long a start waits for Redis to answer before giving up with a clear message. */
const REDIS_CONNECT_TIMEOUT_MS = 10_000;

export async function openStore(config: Config, opts: { mustExist?: boolean } = {}): Promise<RoomStore> {
  if (config.redis.target) {
    // Loaded only here: a command on the SQLite store starts without ioredis (every CLI run pays its imports).
    const [{ RedisStore }, { StoreFormatError }] = await Promise.all([import('../store/redis/store.ts'), import('../store/redis/format.ts')]);
    const redis = await openRedis(config);
    const { minReplicas, replicaTimeoutMs } = config.redis;
    const store = new RedisStore({ redis, prefix: config.redis.prefix, slices: slicesOf(config), eventRetention: config.eventRetention, ownsClient: true, minReplicas, replicaTimeoutMs });
    try {
      await store.checkFormat(`${describeTarget(config.redis.target)} (prefix ${config.redis.prefix})`);
    } catch (err) {
      await store.close();
      throw err instanceof StoreFormatError ? new OperationalError(err.message) : err;
    }
    return store;
  }
  return openSqlite(config, opts);
}

/** A Redis connection to the configured target, once it is ready; an OperationalError if it never is. */
/** Where the deployment's keys live (see store/redis/slices.ts): slices on a Cluster, one otherwise. */
export function slicesOf(config: Config): Slices {
  return config.redis.target?.kind === 'cluster' ? clusterSlices(config.redis.prefix) : singleSlice(config.redis.prefix);
}

export async function openRedis(config: Config, opts: RedisConnectionOptions = {}): Promise<RedisClient> {
  const target = config.redis.target!;
  const { connectTarget, redisReady } = await import('../store/redis/connection.ts');
  const redis = connectTarget(target, opts);
  const shown = describeTarget(target);
  const seen: { code?: string; message?: string }[] = [];
  const remember = (err: { code?: string; message?: string }) => void seen.splice(0, 1, err);
  redis.on('error', remember);
  try {
    await redisReady(redis, REDIS_CONNECT_TIMEOUT_MS);
  } catch (err) {
    redis.disconnect();
    const why = seen[0]?.code ?? seen[0]?.message ?? (err as Error).message;
    const fix = target.kind === 'url' ? 'fix REDIS_URL' : target.kind === 'cluster' ? 'fix REDIS_CLUSTER_NODES' : 'fix REDIS_SENTINELS and REDIS_SENTINEL_MASTER';
    throw new OperationalError(`${shown} is unreachable (${why}): start it, or ${fix} (unset it for the embedded SQLite store)`);
  } finally {
    redis.off('error', remember);
  }
  return redis;
}

function openSqlite(config: Config, opts: { mustExist?: boolean }): RoomStore {
  const path = config.dbPath;
  if (path !== ':memory:') {
    // The read-only CLI commands must not create an empty database when the path is mistyped.
    if (opts.mustExist && !existsSync(path)) {
      throw new OperationalError(`no database at ${path}: start the server once (npm start), or set CONVENE_DATA_DIR to the server's data directory`);
    }
    ensureDataDir(config);
    checkWritableFile(config, path, 'database', 'set CONVENE_DB to a file path (default: CONVENE_DATA_DIR/convene.db)');
  }
  try {
    return new SqliteStore({ path, eventRetention: config.eventRetention, synchronous: config.sqliteSynchronous });
  } catch (err) {
    throw sqliteOpenError(err, path, 'database') ?? err;
  }
}

export function ensureDataDir(config: Config): void {
  if (config.dbPath === ':memory:') return;
  const dir = config.dataDir;
  try {
    // Owner-only: the database holds the apps' secrets and the admin keys.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new OperationalError(`data directory ${dir} is not a directory: set CONVENE_DATA_DIR to a directory (it is created if missing)`);
    }
    throw new OperationalError(`data directory ${dir} cannot be created (${reasonOf(code)}): create it for the user running Convene, or set CONVENE_DATA_DIR`);
  }
}

/**
 * Opens `path` for writing, creating it if missing, so that the OS says exactly what is wrong
 * (SQLite only answers "unable to open database file").
 */
export function checkWritableFile(config: Config, path: string, what: string, ifDirectory: string): void {
  let fd: number;
  try {
    // Owner-only when created here (SQLite gives its -wal and -shm files the database's mode).
    fd = openSync(path, 'a', 0o600);
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'EISDIR') throw new OperationalError(`${what} ${path} is a directory: ${ifDirectory}`);
    if (existsSync(path)) {
      throw new OperationalError(`${what} ${path} is read-only (${reasonOf(code)}): give the user running Convene write access to it`);
    }
    const dir = directoryName(config, dirname(path));
    if (!existsSync(dirname(path))) throw new OperationalError(`${dir} does not exist: create it, or set CONVENE_DB or CONVENE_DATA_DIR`);
    // Creating a file in /proc says ENOENT although the directory exists: it is just not writable.
    const reason = code === 'ENOENT' ? '' : ` (${reasonOf(code)})`;
    throw new OperationalError(`${dir} is not writable${reason}: give the user running Convene write access to it, or set CONVENE_DATA_DIR to another directory`);
  }
  closeSync(fd);
}

/** The OperationalError for a SQLite failure while opening `path`, or null if it is not one. */
export function sqliteOpenError(err: unknown, path: string, what: string): OperationalError | null {
  const code = errnoOf(err) ?? '';
  if (code === 'SQLITE_NOTADB') return new OperationalError(`${what} ${path} is not a SQLite database: move it away, or set CONVENE_DATA_DIR (or CONVENE_DB) to another place`);
  if (code.startsWith('SQLITE_CORRUPT')) return new OperationalError(`${what} ${path} is damaged: restore it from a backup, or move it away to start empty`);
  if (code.startsWith('SQLITE_READONLY')) {
    return new OperationalError(`${what} ${path} is read-only: give the user running Convene write access to it and to its directory`);
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    const name = basename(path);
    return new OperationalError(
      `cannot open ${what} ${path}: its directory must be writable by the user running Convene (SQLite keeps ${name}-wal and ${name}-shm next to it)`,
    );
  }
  if (code === 'SQLITE_FULL') return new OperationalError(`the disk holding ${what} ${path} is full: free some space`);
  return null;
}

function directoryName(config: Config, dir: string): string {
  return resolve(dir) === resolve(config.dataDir) ? `data directory ${dir}` : `directory ${dir}`;
}
