// The cluster bus: committed events (or board operations, on a channel of their own) go to this
// node's handlers at once and, through Redis pub/sub, to every other node: one channel on a single
// Redis, on a Redis Cluster the room's slice's sharded channel. Pub/sub delivers at most once: a
// message published while a subscriber is reconnecting is lost, so after every reconnection the bus
// asks its consumers to resync from the log (service/feed.ts does), and they never rely on pub/sub
// alone.
import type { LoggedEvent } from '../domain/events.ts';
import type { Bus } from './bus.ts';
import { StoreUnavailableError } from '../store/store.ts';
import { isConnectionError, unavailableOnConnectionError as guard, type RedisClient } from '../store/redis/connection.ts';
import type { Slices } from '../store/redis/slices.ts';
import { readable, STORE_FORMAT } from '../store/redis/format.ts';

export interface RedisBusOptions {
  /** Publishing connection (best without auto-pipelining: a publish should leave at once). */
  pub: RedisClient;
  /** A connection of its own: a subscribed connection can run no other command. */
  sub: RedisClient;
  prefix: string;
  /**
   * The deployment's slices (see store/redis/slices.ts). On a Cluster, a room's messages go to its
   * slice's channel with SPUBLISH: only the shard that owns the room carries them.
   */
  slices?: Slices;
  /** This node's id: its own messages come back through Redis and are skipped. */
  nodeId: string;
  onError?: (err: unknown, what: string) => void;
}

/** What a bus other than the meeting events' one carries: its channel and how to tell a message. */
export interface RedisBusKind<T> {
  /** The channel, after the prefix. */
  channel: string;
  /** Every node hears every message, whatever its room (operators' requests): never sharded. */
  broadcast?: boolean;
  /** Whether a message from another node has the right shape (anything else is dropped). */
  valid(message: unknown): message is T;
}

const MEETING_EVENTS: RedisBusKind<LoggedEvent[]> = { channel: 'events', valid: (m): m is LoggedEvent[] => Array.isArray(m) };

/** A message between nodes: its store format (see format.ts; absent: 1), node, room and payload. */
interface Wire<T> {
  v?: number;
  n: string;
  r: string;
  e: T;
}

/** How long a sharded subscription waits for ioredis's subscriber of its slot, and how many connections it tries (see ssubscribe). */
const SSUBSCRIBE_PATIENCE_MS = 1_000;
const SSUBSCRIBE_ATTEMPTS = 5;
const noShardedSubscriber = (err: unknown) => err instanceof Error && err.message.startsWith('No sharded subscriber for slot');

export class RedisBus<T = LoggedEvent[]> implements Bus<T> {
  private readonly handlers = new Set<(roomId: string, message: T) => void>();
  private readonly resyncs = new Set<() => void>();
  /** The channels subscribed to: one, or one per slice when sharded. */
  private readonly channels: string[];
  private readonly sharded: boolean;
  private subscribed = false;
  private closed = false;
  /** The subscription dropped and is not back yet. */
  private lost = false;
  /** A newer node's messages were dropped (said once). */
  private saidUnreadable = false;

  constructor(
    private readonly opts: RedisBusOptions,
    private readonly kind: RedisBusKind<T> = MEETING_EVENTS as unknown as RedisBusKind<T>,
  ) {
    const slices = opts.slices;
    this.sharded = slices !== undefined && slices.prefixes.length > 1 && !kind.broadcast;
    this.channels = this.sharded ? slices!.prefixes.map((p) => `${p}${kind.channel}`) : [`${opts.prefix}${kind.channel}`];
    const mine = new Set(this.channels);
    opts.sub.on(this.sharded ? 'smessage' : 'message', (channel: string, text: string) => {
      if (mine.has(channel)) this.receive(text);
    });
    // ioredis resubscribes by itself after a reconnection; subscribing again is harmless and tells
    // us when Redis has acknowledged it, after which the log holds everything we may have missed.
    opts.sub.on('ready', () => {
      if (!this.subscribed || this.closed) return;
      this.subscribe_().then(
        () => {
          this.lost = false;
          this.resync();
        },
        (err) => opts.onError?.(isConnectionError(err) ? new StoreUnavailableError('bus resubscribe failed', { cause: err }) : err, 'bus resubscribe'),
      );
    });
    opts.sub.on('close', () => {
      // Said once per outage (ioredis closes again on every failed reconnection attempt).
      if (!this.subscribed || this.lost) return;
      this.lost = true;
      this.opts.onError?.(new StoreUnavailableError('bus subscription lost; resyncing when Redis is back'), 'bus');
    });
  }

  get ready(): boolean {
    return this.subscribed && this.opts.sub.status === 'ready';
  }

  async start(): Promise<void> {
    const sub = this.opts.sub;
    if (sub.status !== 'ready') await new Promise<void>((resolve) => sub.once('ready', () => resolve()));
    await this.subscribe_();
    this.subscribed = true;
  }

  publish(roomId: string, message: T): void {
    // Other nodes first: their delivery then overlaps this node's own. A lost publish is found by
    // the other nodes' periodic resync (see service/feed.ts, board/feed.ts).
    const wire: Wire<T> = { v: STORE_FORMAT, n: this.opts.nodeId, r: roomId, e: message };
    const text = JSON.stringify(wire);
    const sent = this.sharded ? () => this.opts.pub.spublish(`${this.opts.slices!.ofRoom(roomId)}${this.kind.channel}`, text) : () => this.opts.pub.publish(this.channels[0]!, text);
    guard(sent).catch((err) => this.opts.onError?.(err, 'bus publish'));
    for (const h of this.handlers) h(roomId, message);
  }

  subscribe(handler: (roomId: string, message: T) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  onResync(handler: () => void): () => void {
    this.resyncs.add(handler);
    return () => this.resyncs.delete(handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
    this.resyncs.clear();
    this.opts.sub.disconnect();
  }

  private async subscribe_(): Promise<void> {
    if (!this.sharded) return void (await this.opts.sub.subscribe(...this.channels));
    // One SSUBSCRIBE per slice channel: a command's channels must share a slot.
    for (let attempt = 1; ; attempt++) {
      const results = await Promise.allSettled(this.channels.map((c) => this.ssubscribe(c)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (!failed) return;
      if (!noShardedSubscriber(failed.reason) || this.subscribed || this.closed || attempt >= SSUBSCRIBE_ATTEMPTS) throw failed.reason;
      await this.reconnect();
    }
  }

  /**
   * ioredis refuses an SSUBSCRIBE ("No sharded subscriber for slot") until it has connected its
   * subscriber to the slot's master, which it does on its own once the cluster is ready. But a
   * connection may be left without the subscriber of one master for good (ioredis 5.11, apparently
   * when its first slot map arrives while it is still setting up the seed nodes' subscribers: a
   * second map equal to the first is skipped): without what follows, 3 runs in 18 of the cluster
   * contract test's 8 connections at once had one such. So a channel is asked again for
   * SSUBSCRIBE_PATIENCE_MS; then, before this bus has ever subscribed (its connection is its own,
   * see ops/backend.ts), subscribe_ makes the connection anew and subscribes every channel again,
   * up to SSUBSCRIBE_ATTEMPTS times. (A resubscription after a reconnection only reports the refusal.)
   */
  private async ssubscribe(channel: string): Promise<void> {
    const deadline = Date.now() + SSUBSCRIBE_PATIENCE_MS;
    for (;;) {
      try {
        await this.opts.sub.ssubscribe(channel);
        return;
      } catch (err) {
        if (!noShardedSubscriber(err) || Date.now() >= deadline || this.closed) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private async reconnect(): Promise<void> {
    const sub = this.opts.sub;
    sub.disconnect();
    await new Promise<void>((resolve) => (sub.status === 'end' ? resolve() : sub.once('end', () => resolve())));
    await sub.connect();
  }

  private receive(text: string): void {
    let wire: Wire<unknown>;
    try {
      wire = JSON.parse(text) as Wire<unknown>;
    } catch (err) {
      return this.opts.onError?.(err, 'bus message');
    }
    if (wire.n === this.opts.nodeId || !this.kind.valid(wire.e) || typeof wire.r !== 'string') return;
    // Written in a format this release does not know (its deployment was raised before this node was
    // upgraded, see format.ts): not read, and said once.
    if (!readable(wire.v === undefined ? null : String(wire.v))) return this.unreadable(wire.v);
    for (const h of this.handlers) h(wire.r, wire.e);
  }

  private unreadable(format: unknown): void {
    if (this.saidUnreadable) return;
    this.saidUnreadable = true;
    this.opts.onError?.(new Error(`messages in store format ${String(format)} from a newer node are not read (this release reads ${STORE_FORMAT}): upgrade this node`), 'bus message');
  }

  private resync(): void {
    for (const h of this.resyncs) h();
  }
}
