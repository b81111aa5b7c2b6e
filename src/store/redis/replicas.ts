// CONVENE_REDIS_MIN_REPLICAS: a write is acknowledged only once that many replicas have it, so that
// a failover (Sentinel promoting a replica) cannot take back what a caller was told is done.
// Redis's WAIT blocks the connection it is sent on until the replicas have every write made on that
// connection before it; concurrent commits share one WAIT rather than queueing one each.
import type { Cluster, Redis } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { StoreUnavailableError } from '../store.ts';
import type { RedisClient } from './connection.ts';

/** A WAIT's timeout while replicas are known to be missing, ms. */
const SHORT_WAIT_MS = 50;

export class ReplicaWait {
  /** A WAIT sent and not yet answered: it covers every write whose reply came before it was sent. */
  private inFlight: Promise<number> | null = null;
  /** Commits that asked while `inFlight` was out and may have written after it left. */
  private next: Promise<number> | null = null;
  /**
   * The last WAIT came back short (a replica is gone, as after a failover with no other replica):
   * WAIT blocks the whole connection, reads included, so the next ones wait briefly until replicas
   * answer again rather than the full timeout each.
   */
  private short = false;

  constructor(
    readonly redis: Redis,
    readonly min: number,
    readonly timeoutMs: number,
  ) {}

  /**
   * Resolves once `min` replicas have every write this connection made before the call; otherwise a
   * StoreUnavailableError (retryable: the caller was not told the write is done, and it may retry).
   */
  async confirm(): Promise<void> {
    // A WAIT already out may have left before this caller's write: the next one covers it.
    const got = await (this.inFlight ? (this.next ??= this.inFlight.then(() => this.send(), () => this.send())) : this.send());
    this.short = got < this.min;
    if (got < this.min) {
      throw new StoreUnavailableError(
        `the write reached ${got} of the ${this.min} replicas CONVENE_REDIS_MIN_REPLICAS asks for in time; retry shortly`,
      );
    }
  }

  private send(): Promise<number> {
    // Whoever was waiting for "the next WAIT" is this one.
    this.next = null;
    const p = (this.redis.wait(this.min, this.short ? Math.min(this.timeoutMs, SHORT_WAIT_MS) : this.timeoutMs) as Promise<number>).finally(() => {
      if (this.inFlight === p) this.inFlight = null;
    });
    this.inFlight = p;
    return p;
  }
}

/**
 * The replica waits of a deployment: the connection's one on a single Redis (or Sentinel); on a
 * Cluster, one per master, the write's key naming the master (the slot's), since WAIT counts the
 * writes made on its own connection, and a Cluster client has one connection per master.
 */
export class ReplicaWaits {
  private readonly single: ReplicaWait | null;
  /** Per master node ("host:port"), with the connection it was made for (a failover makes another). */
  private readonly perMaster = new Map<string, ReplicaWait>();

  constructor(
    private readonly redis: RedisClient,
    private readonly min: number,
    private readonly timeoutMs: number,
  ) {
    this.single = redis.isCluster ? null : new ReplicaWait(redis as Redis, min, timeoutMs);
  }

  /** Resolves once `min` replicas of each master holding one of `keys` have this node's writes to it. */
  async confirm(keys: string[]): Promise<void> {
    if (this.single) return this.single.confirm();
    const waits = new Set(keys.map((k) => this.of(k)));
    await Promise.all([...waits].map((w) => w.confirm()));
  }

  private of(key: string): ReplicaWait {
    const cluster = this.redis as Cluster;
    const nodeKey = cluster.slots[calculateSlot(key)]?.[0];
    const node = nodeKey === undefined ? undefined : cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === nodeKey);
    // Between a master's loss and the new slot map: nothing can confirm the write yet.
    if (!node) throw new StoreUnavailableError('the master of the write is not known (a Redis Cluster failover is under way); retry shortly');
    const known = this.perMaster.get(nodeKey!);
    if (known && known.redis === node) return known;
    const made = new ReplicaWait(node, this.min, this.timeoutMs);
    this.perMaster.set(nodeKey!, made);
    return made;
  }
}
