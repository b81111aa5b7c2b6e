// Prometheus metrics of one Convene instance (GET /metrics, docs/operations.md#metrics): meetings,
// commands, the realtime channel, webhooks and the backends. One Registry per instance, never
// prom-client's global one: tests run several servers in one process. The process's own figures
// (CPU, memory, event loop, GC) are one registry per process, since their collectors watch the
// process and would pile up if each instance started its own.
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { RuleError } from '../domain/rules.ts';
import type { EventBus } from '../bus/bus.ts';
import { StoreUnavailableError } from '../store/store.ts';
import { Attendance, type RoomCensus } from './attendance.ts';

/** What the one write path reports (service/meeting.ts). */
export interface CommandMetrics {
  /** A command was submitted; `settled` is its answer (a RuleError is a refusal, anything else thrown an error). */
  command(type: string, settled: Promise<unknown>): void;
}

/** live: an event as it happens; catchup: a resume's replay from the log, or a snapshot's frames. */
export type FrameKind = 'live' | 'catchup';

/** What the realtime gateway reports. */
export interface RealtimeMetrics {
  /** A frame was handed to a socket (sent, or queued behind what it has not read yet). */
  frameSent(kind: FrameKind): void;
  /** A socket was closed with 4408 for not reading in time. */
  slowConsumerClosed(): void;
}

/** delivered: answered 2xx; failed: an attempt failed and will be retried; abandoned: no attempt is left. */
export type WebhookOutcome = 'delivered' | 'failed' | 'abandoned';

/** What webhook delivery reports (src/webhooks/). */
export interface WebhookMetrics {
  /** Deliveries waiting now; or give queueDepthFrom a function read at each scrape instead. */
  setQueueDepth(depth: number): void;
  queueDepthFrom(read: () => number | Promise<number>): void;
  /** One delivery attempt ended, after `seconds`. */
  attempted(outcome: WebhookOutcome, seconds: number): void;
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

const COMMAND_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const WEBHOOK_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ConveneMetrics implements CommandMetrics, RealtimeMetrics {
  readonly registry = new Registry();
  readonly webhooks: WebhookMetrics;
  private readonly commands: Counter<'type' | 'outcome'>;
  private readonly commandSeconds: Histogram<'type' | 'outcome'>;
  private readonly backendErrors: Counter<'during' | 'kind'>;
  /**
   * Counted in plain numbers and added to the counters at each scrape: a fan-out to a large room
   * reports a frame per socket, and a prom-client increment (labels hashed) costs more than that.
   */
  private readonly frames: Record<FrameKind, number> = { live: 0, catchup: 0 };
  private slowCloses = 0;
  private attendance: Attendance | null = null;
  private sockets: () => number = () => 0;
  private draining: () => boolean = () => false;
  private reconnections: () => number = () => 0;

  constructor() {
    const registers = [this.registry];
    const self = this;
    new Gauge({
      name: 'convene_rooms_running',
      help: 'Meetings running (started, not ended, also while empty: not active), in the whole deployment (every node reports the same figure)',
      registers,
      collect() {
        this.set(self.attendance?.roomsRunning ?? 0);
      },
    });
    new Gauge({
      name: 'convene_rooms_active',
      help: "Meetings running with at least one member present (Qiniu's ListActiveRoom lists these), in the whole deployment",
      registers,
      collect() {
        this.set(self.attendance?.roomsActive ?? 0);
      },
    });
    new Gauge({
      name: 'convene_members_present',
      help: 'Members present in running meetings, in the whole deployment (every node reports the same figure)',
      registers,
      collect() {
        this.set(self.attendance?.membersPresent ?? 0);
      },
    });
    new Gauge({
      name: 'convene_node_draining',
      help: 'Whether this node is draining (1 after SIGTERM: not ready, ending its sockets, about to stop)',
      registers,
      collect() {
        this.set(self.draining() ? 1 : 0);
      },
    });
    let reconnectionsCounted = 0;
    new Counter({
      name: 'convene_store_reconnections_total',
      help: "Times this node's store connection was made again (a Redis restart or failover); never moves on SQLite",
      registers,
      collect() {
        const n = self.reconnections();
        if (n > reconnectionsCounted) this.inc(n - reconnectionsCounted);
        reconnectionsCounted = n;
      },
    });
    new Gauge({
      name: 'convene_realtime_sockets',
      help: 'Realtime sockets open on this node',
      registers,
      collect() {
        this.set(self.sockets());
      },
    });
    const frames = new Counter({
      name: 'convene_realtime_frames_sent_total',
      help: 'Frames handed to realtime sockets on this node, by kind: live events, or catch-ups (replays from the log, snapshots)',
      labelNames: ['kind'],
      registers,
      collect() {
        for (const kind of ['live', 'catchup'] as const) {
          this.inc({ kind }, self.frames[kind]);
          self.frames[kind] = 0;
        }
      },
    });
    for (const kind of ['live', 'catchup'] as const) frames.inc({ kind }, 0);
    new Counter({
      name: 'convene_realtime_slow_consumer_closes_total',
      help: 'Realtime sockets on this node closed with 4408 for not reading their messages in time',
      registers,
      collect() {
        this.inc(self.slowCloses);
        self.slowCloses = 0;
      },
    });
    this.commands = new Counter({
      name: 'convene_commands_total',
      help: 'Commands executed by this node (the one write path), by type and outcome: ok, a refusal code of the rules, or error',
      labelNames: ['type', 'outcome'],
      registers,
    });
    this.commandSeconds = new Histogram({
      name: 'convene_command_duration_seconds',
      help: 'Time from a command being submitted to its answer (waiting for its room, deciding, committing), by type and outcome',
      labelNames: ['type', 'outcome'],
      buckets: COMMAND_BUCKETS,
      registers,
    });
    this.backendErrors = new Counter({
      name: 'convene_backend_errors_total',
      help: 'Failures of the store, bus or presence backends in background work on this node, by where and kind (unavailable: unreachable; failure: anything else)',
      labelNames: ['during', 'kind'],
      registers,
    });
    this.webhooks = webhookMetrics(registers);
    // From the start: the process's CPU counters count from when their collector starts.
    processRegistry();
  }

  command(type: string, settled: Promise<unknown>): void {
    const start = performance.now();
    settled.then(
      () => this.commandSettled(type, 'ok', start),
      (err) => this.commandSettled(type, err instanceof RuleError ? err.code : 'error', start),
    );
  }

  private commandSettled(type: string, outcome: string, start: number): void {
    const labels = { type, outcome };
    this.commands.inc(labels);
    this.commandSeconds.observe(labels, (performance.now() - start) / 1000);
  }

  frameSent(kind: FrameKind): void {
    this.frames[kind]++;
  }

  slowConsumerClosed(): void {
    this.slowCloses++;
  }

  /** A failure reported through the service's onError (`what` says where; a constant of the code). */
  backendError(err: unknown, what: string): void {
    // "bus subscription lost; resyncing when Redis is back": the label is the part before the detail.
    const during = what.split(';')[0]!;
    this.backendErrors.inc({ during, kind: err instanceof StoreUnavailableError ? 'unavailable' : 'failure' });
  }

  /** Start following the meetings (rooms and members gauges) and count this node's sockets. */
  start(opts: {
    census: RoomCensus;
    bus: EventBus;
    sockets: () => number;
    /** Whether this node is draining (SIGTERM). */
    draining?: () => boolean;
    /** The store's reconnections so far (RoomStore.reconnections). */
    reconnections?: () => number;
    censusIntervalMs?: number;
    onError?: (err: unknown, what: string) => void;
  }): void {
    this.sockets = opts.sockets;
    if (opts.draining) this.draining = opts.draining;
    if (opts.reconnections) this.reconnections = opts.reconnections;
    this.attendance = new Attendance(opts);
    this.attendance.start();
  }

  stop(): void {
    this.attendance?.stop();
  }

  /** The rooms and members figures' keeper, once started (tests check it against the store). */
  get meetings(): Attendance | null {
    return this.attendance;
  }

  /** This instance's metrics and the process's, in the Prometheus text format. */
  async text(): Promise<string> {
    return (await this.registry.metrics()) + (await processRegistry().metrics());
  }
}

function webhookMetrics(registers: Registry[]): WebhookMetrics {
  let depth: number = 0;
  let read: (() => number | Promise<number>) | null = null;
  new Gauge({
    name: 'convene_webhook_queue_depth',
    help: 'Webhook deliveries waiting to be sent',
    registers,
    async collect() {
      if (!read) return this.set(depth);
      // A failing read (its store unreachable) keeps the last figure rather than failing the scrape.
      try {
        this.set(await read());
      } catch {
        /* the last value stays */
      }
    },
  });
  const deliveries = new Counter({
    name: 'convene_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome: delivered (2xx), failed (retried later), abandoned (no attempt left)',
    labelNames: ['outcome'],
    registers,
  });
  const seconds = new Histogram({
    name: 'convene_webhook_delivery_duration_seconds',
    help: 'Duration of webhook delivery attempts, by outcome',
    labelNames: ['outcome'],
    buckets: WEBHOOK_BUCKETS,
    registers,
  });
  for (const outcome of ['delivered', 'failed', 'abandoned'] as const) deliveries.inc({ outcome }, 0);
  return {
    // A figure set by hand replaces any reader given before (the last word wins).
    setQueueDepth: (n) => {
      read = null;
      depth = n;
    },
    queueDepthFrom: (fn) => void (read = fn),
    attempted(outcome, s) {
      deliveries.inc({ outcome });
      seconds.observe({ outcome }, s);
    },
  };
}

let processMetrics: Registry | null = null;

/** prom-client's default metrics (process_*, nodejs_*), started once per process, with its first instance. */
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}
