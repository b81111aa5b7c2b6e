// Delivers the outbox that commits write (webhooks, the RTM relay): lane by lane (one room's rows
// for one endpoint), one row at a time in seq order, each lane leased from the store so that no
// other node (or this one twice) delivers it meanwhile. What a lane's rows are and where they go
// is its sink's business (webhooks/sink.ts, relay/sink.ts); the order, the leases, the retries
// with backoff and the dead letters are this file's, the same for every sink. Nothing here runs in
// a commit's path: a slow or dead endpoint holds only its own lanes, each attempt cut off in time.
import type { ClaimedLane, Lane, PendingDelivery, WebhookOutbox } from '../store/store.ts';

/** One attempt's result: a failure is retried (after `retryAfterMs` at least) or, when `final`, dropped. */
export type Attempt = { ok: true } | { ok: false; error: string; final?: boolean; retryAfterMs?: number };

/** delivered: accepted; failed: to be retried; abandoned: no attempt left; dropped: refused for good. */
export type AttemptOutcome = 'delivered' | 'failed' | 'abandoned' | 'dropped';

/** A lane ready to deliver: its endpoint was found. */
export interface OpenLane {
  send(head: PendingDelivery): Promise<Attempt>;
}

/** Where the lanes of some endpoints go, and how hard to try. */
export interface OutboxSink {
  /** Lanes of one endpoint this process delivers at once. */
  concurrency: number;
  maxAttempts: number;
  /** The first retry's delay, doubled each time up to `backoffMaxMs` (ms); jittered by up to half. */
  backoffMs: number;
  backoffMaxMs: number;
  /** One attempt's deadline (ms), waits before it included. */
  timeoutMs: number;
  /** A row out of attempts goes to the dead letters (else it is dropped). */
  deadLetters: boolean;
  /** The lane's endpoint, or null when it no longer exists: its rows can go nowhere and are dropped. */
  open(lane: Lane): Promise<OpenLane | null>;
  /** Told of each attempt that ended, after `seconds`. */
  settled?(lane: Lane, head: PendingDelivery, outcome: AttemptOutcome, attempt: Attempt, seconds: number): void;
}

export interface DispatcherOptions {
  outbox: WebhookOutbox;
  /** The sink of a lane (by its endpoint). */
  sinkFor(lane: Lane): OutboxSink;
  /** Lanes of one endpoint delivered at once by this process (the webhooks' sink's concurrency)… */
  perEndpoint: number;
  /** …or these, by endpoint id (the other sinks' concurrency). */
  caps?: ReadonlyMap<string, number>;
  /** The longest `timeoutMs` of the sinks: leases outlive any attempt. */
  timeoutMs: number;
  /** This process's id: part of its lease tokens. */
  nodeId: string;
  /** Lanes delivered at once by this process, all endpoints together. */
  maxInFlight?: number;
  /** How often due retries and other nodes' rows are looked for (ms). */
  pollMs?: number;
  onError?: (err: unknown, what: string) => void;
  /** Told of what is worth a log line (a row dead-lettered or dropped, an endpoint's rows dropped). */
  onNotice?: (what: string, details: Record<string, unknown>) => void;
}

/** Rows delivered on one lease before the lane is given back, so that lanes share the node fairly. */
const ROWS_PER_CLAIM = 50;

export class OutboxDispatcher {
  private readonly o: DispatcherOptions & { maxInFlight: number };
  private readonly leaseMs: number;
  private readonly pollMs: number;
  /** Lanes being delivered here, and how many per endpoint (`appId/endpointId`). */
  private readonly running = new Map<string, Promise<void>>();
  private readonly busy = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private claiming: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private tokens = 0;

  constructor(opts: DispatcherOptions) {
    this.o = { maxInFlight: 64, ...opts };
    // A lease outlives any attempt started under it, with a margin for the store's round trips:
    // a lane is taken over only once its holder can no longer be delivering.
    this.leaseMs = 2 * opts.timeoutMs + 1_000;
    this.pollMs = opts.pollMs ?? 500;
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    await this.o.outbox.recover();
    this.timer = setInterval(() => this.wake(), this.pollMs);
    this.timer.unref();
    this.wake();
  }

  /** Look for due lanes now (rows were just committed here, or a lane was given back). */
  wake(): void {
    if (this.stopped) return;
    if (this.claiming) {
      this.again = true;
      return;
    }
    this.claiming = this.claim()
      .catch((err) => this.o.onError?.(err, 'outbox claim'))
      .finally(() => {
        this.claiming = null;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  /** Stops claiming; lanes being delivered finish their attempt and are given back. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.claiming;
    await Promise.allSettled([...this.running.values()]);
  }

  /** Lanes being delivered by this process now. */
  get inFlight(): number {
    return this.running.size;
  }

  private async claim(): Promise<void> {
    const free = this.o.maxInFlight - this.running.size;
    if (free <= 0) return;
    const token = `${this.o.nodeId}:${++this.tokens}`;
    const lanes = await this.o.outbox.claim(token, this.leaseMs, free, this.o.perEndpoint, this.busy, this.o.caps);
    for (const lane of lanes) {
      const key = `${lane.appId}/${lane.endpointId}/${lane.roomId}`;
      const endpoint = `${lane.appId}/${lane.endpointId}`;
      const sink = this.o.sinkFor(lane);
      // Claimed again while this process still runs it (its lease ran out): that run stops at its
      // next step ('lost'); this claim is given back, for whoever claims next.
      if (this.running.has(key)) {
        this.o.outbox.release(lane, token).catch((err) => this.o.onError?.(err, 'outbox claim'));
        continue;
      }
      this.busy.set(endpoint, (this.busy.get(endpoint) ?? 0) + 1);
      const run = this.deliverLane(lane, sink).finally(() => {
        this.running.delete(key);
        const n = (this.busy.get(endpoint) ?? 1) - 1;
        if (n > 0) this.busy.set(endpoint, n);
        else this.busy.delete(endpoint);
        this.wake();
      });
      this.running.set(key, run);
    }
  }

  private async deliverLane(claimed: ClaimedLane, sink: OutboxSink): Promise<void> {
    const lane: Lane = { appId: claimed.appId, endpointId: claimed.endpointId, roomId: claimed.roomId };
    const { token } = claimed;
    const outbox = this.o.outbox;
    try {
      const open = await sink.open(lane);
      if (!open) {
        const n = await outbox.drop(lane, token);
        this.o.onNotice?.('outbox rows dropped: nowhere to deliver them (the endpoint was removed, or its sink is off or has no credentials)', { ...lane, events: n });
        return;
      }
      let head: PendingDelivery | null = claimed.head;
      for (let delivered = 0; head; delivered++) {
        if (this.stopped || delivered >= ROWS_PER_CLAIM) return await outbox.release(lane, token);
        const started = performance.now();
        const result = await open.send(head);
        const attempts = head.attempts + 1;
        const outcome: AttemptOutcome = result.ok ? 'delivered' : result.final ? 'dropped' : attempts < sink.maxAttempts ? 'failed' : 'abandoned';
        sink.settled?.(lane, head, outcome, result, (performance.now() - started) / 1000);
        let dead: { attempts: number; error: string } | null = null;
        if (!result.ok) {
          if (outcome === 'failed') {
            const delay = Math.max(this.backoff(sink, attempts), result.retryAfterMs ?? 0);
            await outbox.retry(lane, token, head, attempts, result.error, delay);
            // A retry due before the next poll is looked for when it is due.
            if (delay < this.pollMs) setTimeout(() => this.wake(), delay + 1).unref();
            return;
          }
          const buried = outcome === 'abandoned' && sink.deadLetters;
          if (buried) dead = { attempts, error: result.error };
          this.o.onNotice?.(buried ? 'outbox row dead-lettered' : 'outbox row dropped', { ...lane, id: head.id, attempts, error: result.error });
        }
        const next = await outbox.advance(lane, token, head, dead, this.leaseMs);
        if (next === 'lost') return;
        head = next;
      }
    } catch (err) {
      // The store failed mid-way: the lease runs out and the lane is taken up again, from its head.
      this.o.onError?.(err, 'outbox delivery');
    }
  }

  /** The delay before attempt `failed + 1`: doubling from the base, capped, jittered down by up to half. */
  private backoff(sink: OutboxSink, failed: number): number {
    const full = Math.min(sink.backoffMaxMs, sink.backoffMs * 2 ** Math.min(failed - 1, 40));
    return Math.round(full / 2 + (Math.random() * full) / 2);
  }
}
