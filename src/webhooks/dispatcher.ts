// Delivers the webhook outbox: lane by lane (one room's events to one endpoint), one event at a
// time in seq order, each lane leased from the store so that no other node (or this one twice)
// delivers it meanwhile. A failure is retried after an exponential backoff with jitter by whoever
// holds the lane then; after the last attempt the event goes to the dead letters and the lane goes
// on. Nothing here runs in a commit's path: a slow or dead endpoint holds only its own lanes (at
// most `perEndpoint` at once on a node), each attempt cut off after `timeoutMs`.
import type { App, ClaimedLane, Lane, PendingDelivery, WebhookEndpoint, WebhookOutbox } from '../store/store.ts';
import { sendWebhook, type SendResult } from './sender.ts';
import { signatureHeaders, signingKey } from './signature.ts';

export interface DispatcherOptions {
  outbox: WebhookOutbox;
  apps: { get(appId: string): Promise<App | null> };
  /** This process's id: part of its lease tokens. */
  nodeId: string;
  /** Attempts per event before it is dead-lettered. */
  maxAttempts: number;
  /** The first retry's delay, doubled each time up to `backoffMaxMs` (ms); jittered by up to half. */
  backoffMs: number;
  backoffMaxMs: number;
  /** One attempt's deadline (ms). */
  timeoutMs: number;
  /** Lanes of one endpoint delivered at once by this process. */
  perEndpoint: number;
  /** Loopback and private addresses may be targets. */
  allowPrivate: boolean;
  /** Lanes delivered at once by this process, all endpoints together. */
  maxInFlight?: number;
  onError?: (err: unknown, what: string) => void;
  /** Told of what is worth a log line (an event dead-lettered, an endpoint's rows dropped). */
  onNotice?: (what: string, details: Record<string, unknown>) => void;
  /** Told of each attempt: delivered (2xx), failed (to be retried), abandoned (dead-lettered). */
  metrics?: { attempted(outcome: 'delivered' | 'failed' | 'abandoned', seconds: number): void };
}

/** Events delivered on one lease before the lane is given back, so that lanes share the node fairly. */
const EVENTS_PER_CLAIM = 50;

export class WebhookDispatcher {
  private readonly o: Required<Omit<DispatcherOptions, 'onError' | 'onNotice' | 'metrics'>> & Pick<DispatcherOptions, 'onError' | 'onNotice' | 'metrics'>;
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
    // Due retries and rows committed by other processes are found by polling.
    this.pollMs = Math.min(500, Math.max(20, opts.backoffMs));
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
      .catch((err) => this.o.onError?.(err, 'webhook claim'))
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
    const lanes = await this.o.outbox.claim(token, this.leaseMs, free, this.o.perEndpoint, this.busy);
    for (const lane of lanes) {
      const key = `${lane.appId}/${lane.endpointId}/${lane.roomId}`;
      // Claimed again while this process still runs it (its lease ran out): that run stops at its
      // next step ('lost'); this claim is given back, for whoever claims next.
      if (this.running.has(key)) {
        this.o.outbox.release(lane, token).catch((err) => this.o.onError?.(err, 'webhook claim'));
        continue;
      }
      const endpoint = `${lane.appId}/${lane.endpointId}`;
      this.busy.set(endpoint, (this.busy.get(endpoint) ?? 0) + 1);
      const run = this.deliverLane(lane).finally(() => {
        this.running.delete(key);
        const n = (this.busy.get(endpoint) ?? 1) - 1;
        if (n > 0) this.busy.set(endpoint, n);
        else this.busy.delete(endpoint);
        this.wake();
      });
      this.running.set(key, run);
    }
  }

  private async deliverLane(claimed: ClaimedLane): Promise<void> {
    const lane: Lane = { appId: claimed.appId, endpointId: claimed.endpointId, roomId: claimed.roomId };
    const { token } = claimed;
    const outbox = this.o.outbox;
    try {
      const app = await this.o.apps.get(lane.appId);
      const endpoint = app?.webhooks?.find((e) => e.id === lane.endpointId);
      if (!endpoint) {
        // Removed (or its app was): what was waiting for it can go nowhere.
        const n = await outbox.drop(lane, token);
        this.o.onNotice?.('webhook deliveries dropped: their endpoint was removed', { ...lane, events: n });
        return;
      }
      const key = signingKey(endpoint.secret);
      let head: PendingDelivery | null = claimed.head;
      for (let delivered = 0; head; delivered++) {
        if (this.stopped || delivered >= EVENTS_PER_CLAIM) return await outbox.release(lane, token);
        const started = performance.now();
        const result = await this.attempt(endpoint, key, head);
        const attempts = head.attempts + 1;
        const outcome = result.ok ? 'delivered' : attempts < this.o.maxAttempts ? 'failed' : 'abandoned';
        this.o.metrics?.attempted(outcome, (performance.now() - started) / 1000);
        if (!result.ok) {
          if (attempts < this.o.maxAttempts) {
            const delay = this.backoff(attempts);
            await outbox.retry(lane, token, head, attempts, result.error, delay);
            // A retry due before the next poll is looked for when it is due.
            if (delay < this.pollMs) setTimeout(() => this.wake(), delay + 1).unref();
            return;
          }
          this.o.onNotice?.('webhook event dead-lettered', { ...lane, id: head.id, attempts, error: result.error });
        }
        const next = await outbox.advance(lane, token, head, result.ok ? null : { attempts, error: result.error }, this.leaseMs);
        if (next === 'lost') return;
        head = next;
      }
    } catch (err) {
      // The store failed mid-way: the lease runs out and the lane is taken up again, from its head.
      this.o.onError?.(err, 'webhook delivery');
    }
  }

  private attempt(endpoint: WebhookEndpoint, key: Buffer, head: PendingDelivery): Promise<SendResult> {
    const headers = signatureHeaders(key, head.id, head.payload, Date.now());
    return sendWebhook(endpoint.url, headers, head.payload, { timeoutMs: this.o.timeoutMs, allowPrivate: this.o.allowPrivate });
  }

  /** The delay before attempt `failed + 1`: doubling from the base, capped, jittered down by up to half. */
  private backoff(failed: number): number {
    const full = Math.min(this.o.backoffMaxMs, this.o.backoffMs * 2 ** Math.min(failed - 1, 40));
    return Math.round(full / 2 + (Math.random() * full) / 2);
  }
}
