// The board's log and fan-out for each backend: a SQLite file of its own and the in-process bus on
// one process; keys and a pub/sub channel of their own under the cluster's prefix on Redis.
import type { RedisClient } from '../store/redis/connection.ts';
import type { Slices } from '../store/redis/slices.ts';
import { ReplicaWaits } from '../store/redis/replicas.ts';
import { LocalBus } from '../bus/local.ts';
import { RedisBus } from '../bus/redis.ts';
import { BOARD_CHANNEL, type BoardBus } from './bus.ts';
import type { BoardEntry, BoardLog } from './log.ts';
import { boardDbPath, SqliteBoardLog } from './sqlite.ts';
import { RedisBoardLog } from './redis.ts';

export interface Boards {
  log: BoardLog;
  bus: BoardBus;
  close(): Promise<void>;
}

/** Next to the meeting database `dbPath` (see board/sqlite.ts). */
export function openSqliteBoards(dbPath: string): Boards {
  const log = new SqliteBoardLog(boardDbPath(dbPath));
  const bus = new LocalBus<BoardEntry>();
  return { log, bus, close: async () => (await bus.close(), await log.close()) };
}

/** On the cluster's Redis: `redis` for the log, `pub` to publish, and a subscriber of its own. */
export function openRedisBoards(o: {
  redis: RedisClient;
  pub: RedisClient;
  prefix: string;
  slices: Slices;
  /** CONVENE_REDIS_MIN_REPLICAS and its timeout (0: no wait). */
  minReplicas?: number;
  replicaTimeoutMs?: number;
  nodeId: string;
  onError?: (err: unknown, what: string) => void;
}): Boards {
  const sub = o.redis.duplicate();
  // Its outages are reported by the board bus (duplicate() copies options, not listeners).
  sub.on('error', () => {});
  const replicas = (o.minReplicas ?? 0) > 0 ? new ReplicaWaits(o.redis, o.minReplicas!, o.replicaTimeoutMs ?? 1_000) : null;
  const log = new RedisBoardLog(o.redis, o.slices, replicas);
  const bus = new RedisBus({ pub: o.pub, sub, prefix: o.prefix, slices: o.slices, nodeId: o.nodeId, onError: o.onError }, BOARD_CHANNEL);
  return { log, bus, close: async () => (await bus.close(), await log.close()) };
}
