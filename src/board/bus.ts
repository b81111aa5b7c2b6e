// Board ops reach every node's sockets: in-process on one node; on a cluster through a Redis
// pub/sub channel of their own (`<prefix>board`), apart from the meeting events' channel, whose
// consumers check the room's seq and would take a boardSeq for a gap. Pub/sub may lose or delay a
// message: board/feed.ts orders what arrives by boardSeq and fills gaps from the board log.
import type { Redis } from 'ioredis';
import type { BoardEntry } from './log.ts';
import { StoreUnavailableError } from '../store/store.ts';
import { unavailableOnConnectionError as guard } from '../store/redis/connection.ts';

export type BoardHandler = (roomId: string, entry: BoardEntry) => void;

export interface BoardBus {
  start(): Promise<void>;
  /** An op already in the log; this node's handlers run at once. */
  publish(roomId: string, entry: BoardEntry): void;
  subscribe(handler: BoardHandler): () => void;
  /** Messages may have been missed (the subscription came back): followers re-read the log. */
  onResync(handler: () => void): () => void;
  close(): Promise<void>;
}

export class LocalBoardBus implements BoardBus {
  private readonly handlers = new Set<BoardHandler>();

  async start(): Promise<void> {}

  publish(roomId: string, entry: BoardEntry): void {
    for (const h of this.handlers) h(roomId, entry);
  }

  subscribe(handler: BoardHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  onResync(): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}

export interface RedisBoardBusOptions {
  pub: Redis;
  /** Its own connection: a subscribed connection runs no other command. */
  sub: Redis;
  prefix: string;
  /** This node's own messages come back through Redis and are skipped. */
  nodeId: string;
  onError?: (err: unknown, what: string) => void;
}

export class RedisBoardBus implements BoardBus {
  private readonly handlers = new Set<BoardHandler>();
  private readonly resyncs = new Set<() => void>();
  private readonly channel: string;
  private started = false;

  constructor(private readonly opts: RedisBoardBusOptions) {
    this.channel = `${opts.prefix}board`;
    opts.sub.on('message', (channel: string, text: string) => {
      if (channel === this.channel) this.receive(text);
    });
    // ioredis resubscribes after a reconnection; once Redis acknowledges, the log has what was missed.
    opts.sub.on('ready', () => {
      if (!this.started) return;
      opts.sub.subscribe(this.channel).then(
        () => this.resyncs.forEach((h) => h()),
        (err) => opts.onError?.(new StoreUnavailableError('board bus resubscribe failed', { cause: err }), 'board bus'),
      );
    });
  }

  async start(): Promise<void> {
    const sub = this.opts.sub;
    if (sub.status !== 'ready') await new Promise<void>((resolve) => sub.once('ready', () => resolve()));
    await sub.subscribe(this.channel);
    this.started = true;
  }

  publish(roomId: string, entry: BoardEntry): void {
    guard(() => this.opts.pub.publish(this.channel, JSON.stringify({ n: this.opts.nodeId, r: roomId, e: entry }))).catch((err) =>
      this.opts.onError?.(err, 'board publish'),
    );
    for (const h of this.handlers) h(roomId, entry);
  }

  subscribe(handler: BoardHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  onResync(handler: () => void): () => void {
    this.resyncs.add(handler);
    return () => this.resyncs.delete(handler);
  }

  async close(): Promise<void> {
    this.started = false;
    this.handlers.clear();
    this.resyncs.clear();
    this.opts.sub.disconnect();
  }

  private receive(text: string): void {
    let wire: { n?: unknown; r?: unknown; e?: BoardEntry };
    try {
      wire = JSON.parse(text);
    } catch (err) {
      return this.opts.onError?.(err, 'board bus message');
    }
    if (wire.n === this.opts.nodeId || typeof wire.r !== 'string' || typeof wire.e?.seq !== 'number') return;
    for (const h of this.handlers) h(wire.r, wire.e);
  }
}
