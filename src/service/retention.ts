// Data lifecycle: meetings that ended longer ago than the retention are deleted (room, members,
// event log) so that the store stops growing under a steady flow of meetings. The store does the
// deleting; this timer decides when, and in steps small enough that traffic never waits long.
import type { RoomStore } from '../store/store.ts';

export interface RetentionOptions {
  store: Pick<RoomStore, 'purgeEnded'>;
  /** Also purged, after the meetings: things kept apart from the store (the boards' logs); same cutoff and batch. */
  alongside?: { purgeEnded(endedBefore: number, limit: number): Promise<number> }[];
  /** An ended meeting is kept this long after its end (ms); 0: deleted at the next check. */
  retentionMs: number;
  /** How often to look (ms). Default: half the retention, between 1 s and a minute. */
  intervalMs?: number;
  /** Meetings deleted per store call (one SQLite transaction, one Redis script). */
  batch?: number;
  now?: () => number;
  onError?: (err: unknown, what: string) => void;
}

/** At least once a minute, so that a meeting outlives its retention by a minute at most. */
const MAX_INTERVAL_MS = 60_000;

export class RoomRetention {
  private readonly store: Pick<RoomStore, 'purgeEnded'>;
  private readonly alongside: NonNullable<RetentionOptions['alongside']>;
  private readonly retentionMs: number;
  readonly intervalMs: number;
  private readonly batch: number;
  private readonly now: () => number;
  private readonly onError: (err: unknown, what: string) => void;
  private timer: NodeJS.Timeout | null = null;
  /** The purge under way, if any: ticks never overlap, and stop() waits for it. */
  private running: Promise<number> | null = null;
  private stopped = false;

  constructor(opts: RetentionOptions) {
    if (!(opts.retentionMs >= 0)) throw new Error('retentionMs must be 0 or more');
    this.store = opts.store;
    this.alongside = opts.alongside ?? [];
    this.retentionMs = opts.retentionMs;
    this.intervalMs = Math.min(MAX_INTERVAL_MS, opts.intervalMs ?? Math.max(1_000, opts.retentionMs / 2));
    this.batch = opts.batch ?? 200;
    if (!Number.isInteger(this.batch) || this.batch < 1) throw new Error('batch must be a positive integer');
    this.now = opts.now ?? Date.now;
    this.onError = opts.onError ?? (() => {});
  }

  start(): void {
    if (this.timer) return;
    this.stopped = false;
    this.timer = setInterval(() => {
      // Every node of a cluster runs this: purging is idempotent, a meeting is deleted once.
      if (!this.running) this.purgeOnce().catch((err) => this.onError(err, 'ended-room purge'));
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => {});
  }

  /** Delete every meeting past its retention now; resolves to how many were deleted. */
  purgeOnce(): Promise<number> {
    this.running ??= this.purgeAll().finally(() => (this.running = null));
    return this.running;
  }

  private async purgeAll(): Promise<number> {
    const cutoff = this.now() - this.retentionMs;
    let total = 0;
    for (;;) {
      const n = await this.store.purgeEnded(cutoff, this.batch);
      total += n;
      if (n < this.batch || this.stopped) break;
      // SQLite deletes synchronously: let waiting requests and commits run between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const other of this.alongside) {
      while ((await other.purgeEnded(cutoff, this.batch)) >= this.batch && !this.stopped) await new Promise((resolve) => setImmediate(resolve));
    }
    return total;
  }
}
