// What runs under the service, chosen from the configuration in this one place: the embedded
// backend (SQLite, in-process bus and presence) or the cluster backend (all three in Redis).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '../config.ts';
import type { EventBus } from '../bus/bus.ts';
import { LocalBus } from '../bus/local.ts';
import { RedisBus } from '../bus/redis.ts';
import type { PresenceDirectory } from '../presence/directory.ts';
import { LocalDirectory } from '../presence/local.ts';
import { RedisDirectory } from '../presence/redis.ts';
import type { RoomStore } from '../store/store.ts';
import { LocalLimiter, type RateLimiter } from '../limits/limiter.ts';
import { RedisLimiter } from '../limits/redis.ts';
import { openRedis, openStore, slicesOf } from './store.ts';
import { openRedisBoards, openSqliteBoards, type Boards } from '../board/backend.ts';
import { SIGNAL_CHANNEL, type RelayedSignal, type SignalBus } from '../media/relay.ts';
import type { Bus } from '../bus/bus.ts';
import { CONTROL, listNodes, requestDrain, type ControlMessage, type NodeOperations } from './nodes.ts';
import { unavailableOnConnectionError as guard, type RedisClient } from '../store/redis/connection.ts';

export interface Backend {
  kind: 'sqlite' | 'redis';
  /** This process's id in the cluster (for logs and presence). */
  nodeId: string;
  store: RoomStore;
  bus: EventBus;
  directory: PresenceDirectory;
  /** Rate-limit counters: this process's, or the cluster's. */
  limiter: RateLimiter;
  /** The whiteboard's own log and fan-out (src/board/), apart from the meeting's. */
  boards: Boards;
  /** The meeting page's WebRTC signals between members (src/media/): in process, or a channel of their own. */
  signals: SignalBus;
  /** Operators' requests to the nodes (`convene nodes drain`): in process, or a channel of their own. */
  control: Bus<ControlMessage>;
  /** The nodes, for operator keys on the server API: this process alone, or the cluster's. */
  nodes: NodeOperations;
  /** How often followers re-read rooms from the store, for a bus that may lose messages (ms; 0: never). */
  resyncIntervalMs: number;
  close(): Promise<void>;
}

/** Resync period in cluster mode: how late an event lost by pub/sub (and by nothing else) may be. */
const CLUSTER_RESYNC_MS = 2_000;
const SQLITE_RESYNC_MS = 1_000;

export async function openBackend(config: Config, onError: (err: unknown, what: string) => void): Promise<Backend> {
  const nodeId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const graceMs = config.presence.grace * 1000;
  const store = await openStore(config);
  if (!config.redis.target) {
    const bus = new LocalBus();
    const boards = openSqliteBoards(config.dbPath);
    const signals = new LocalBus<RelayedSignal>();
    const control = new LocalBus<ControlMessage>();
    return {
      kind: 'sqlite',
      nodeId,
      store,
      bus,
      directory: new LocalDirectory(graceMs),
      limiter: new LocalLimiter(),
      boards,
      signals,
      control,
      nodes: {
        self: nodeId,
        list: async () => [{ nodeId, silentMs: 0 }],
        drain: async (id) => {
          if (id !== nodeId) return false;
          // After the answer is on its way (the stop lets requests in flight finish in any case).
          setImmediate(() => control.publish('', { drain: id }));
          return true;
        },
      },
      // Another process (the CLI) may commit to the same file: its events reach the sockets from
      // the log. A check is a cached read unless the file changed.
      resyncIntervalMs: SQLITE_RESYNC_MS,
      close: async () => {
        await bus.close();
        await signals.close();
        await control.close();
        await boards.close();
        await store.close();
      },
    };
  }
  let redis;
  let pub;
  try {
    redis = await openRedis(config);
    // The bus's own publishing connection writes each publish at once (no pipelining to the next
    // tick), so that other nodes start delivering while this one does.
    pub = await openRedis(config, { autoPipelining: false });
  } catch (err) {
    redis?.disconnect();
    await store.close();
    throw err;
  }
  const sub = redis.duplicate();
  // duplicate() copies the options, not the listeners: its outages are reported by the bus.
  sub.on('error', () => {});
  const prefix = config.redis.prefix;
  const slices = slicesOf(config);
  const bus = new RedisBus({ pub, sub, prefix, slices, nodeId, onError });
  const { minReplicas, replicaTimeoutMs } = config.redis;
  const boards = openRedisBoards({ redis, pub, prefix, slices, minReplicas, replicaTimeoutMs, nodeId, onError });
  const signalSub = redis.duplicate();
  signalSub.on('error', () => {});
  const signals = new RedisBus({ pub, sub: signalSub, prefix, slices, nodeId, onError }, SIGNAL_CHANNEL);
  const controlSub = redis.duplicate();
  controlSub.on('error', () => {});
  const control = new RedisBus({ pub, sub: controlSub, prefix, nodeId, onError }, CONTROL);
  const directory = new RedisDirectory({ redis, prefix, slices, nodeId, graceMs, nodeTimeoutMs: config.redis.nodeTimeout * 1000, onError });
  return {
    kind: 'redis',
    nodeId,
    store,
    bus,
    directory,
    limiter: new RedisLimiter(redis, prefix),
    boards,
    signals,
    control,
    nodes: clusterNodes(nodeId, pub, prefix, slices.prefixes[0]!),
    resyncIntervalMs: CLUSTER_RESYNC_MS,
    close: async () => {
      await bus.close();
      await signals.close();
      await control.close();
      await boards.close();
      await store.close();
      redis.disconnect();
      pub.disconnect();
    },
  };
}

/**
 * The cluster's nodes by their heartbeats; a drain request reaches every node over the control
 * channel, the named one acts (as `convene nodes drain`). Redis unreachable: the retryable 503.
 */
function clusterNodes(self: string, redis: RedisClient, prefix: string, beats: string): NodeOperations {
  const list = () => guard(() => listNodes(redis, beats));
  return {
    self,
    list,
    drain: async (nodeId) => {
      if (!(await list()).some((n) => n.nodeId === nodeId)) return false;
      await guard(() => requestDrain(redis, prefix, nodeId));
      return true;
    },
  };
}
