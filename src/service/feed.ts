// A room's events in seq order, without gap or duplicate, for the rooms this node follows (those
// with a socket here). The bus may deliver late, twice, out of order or not at all (pub/sub across
// nodes); the log is the truth: on a gap the missing events are read from it before anything
// after them is delivered, and a resync (the bus reconnected, or the periodic check) compares each
// followed room's stored seq with the last one delivered.
import type { LoggedEvent } from '../domain/events.ts';
import type { Room } from '../domain/room.ts';
import type { EventBus } from '../bus/bus.ts';
import type { EventRange } from '../store/store.ts';

export interface FeedSource {
  room(roomId: string): Promise<Room | null>;
  eventsSince(roomId: string, afterSeq: number, limit: number): Promise<EventRange>;
  /**
   * The first seq this process committed and holds back until its HTTP answer is written: a gap
   * is filled only up to it, and the held batch itself arrives through the bus when released.
   */
  heldFrom?(roomId: string): number | null;
}

export interface FeedHandler {
  /** The room's next events, in order. */
  events(roomId: string, events: LoggedEvent[]): void;
  /** Events were lost beyond the log's reach: whoever follows the room must start over (a snapshot). */
  lost(roomId: string): void;
}

export interface FeedOptions {
  /** Compare every followed room with the store this often (ms); 0: only when the bus asks. */
  resyncIntervalMs?: number;
  onError?: (err: unknown, what: string) => void;
}

interface Followed {
  roomId: string;
  refs: number;
  /** Last seq delivered; -1 until the baseline is read. */
  last: number;
  /** Batches that arrived while the baseline or a gap was being read. */
  held: LoggedEvent[][];
  /** Reading from the store (baseline or gap): deliveries wait. */
  busy: Promise<void> | null;
  retry: NodeJS.Timeout | null;
}

const PAGE = 500;
/** After a failed read (the store is unreachable), try again this much later. */
const RETRY_MS = 500;

export class RoomFeed {
  private readonly rooms = new Map<string, Followed>();
  private readonly unsubscribe: () => void;
  private readonly unresync: () => void;
  private readonly timer: NodeJS.Timeout | null = null;

  constructor(
    bus: EventBus,
    private readonly source: FeedSource,
    private readonly handler: FeedHandler,
    private readonly opts: FeedOptions = {},
  ) {
    this.unsubscribe = bus.subscribe((roomId, events) => this.receive(roomId, events));
    this.unresync = bus.onResync(() => this.resyncAll());
    if (opts.resyncIntervalMs) {
      this.timer = setInterval(() => this.resyncAll(), opts.resyncIntervalMs);
      this.timer.unref();
    }
  }

  /**
   * Follow a room. Resolves once its baseline is known, so that every event committed after a room
   * state read from then on is delivered; rejects (following nothing) when the store cannot be read.
   */
  async follow(roomId: string): Promise<void> {
    let f = this.rooms.get(roomId);
    if (!f) {
      f = { roomId, refs: 0, last: -1, held: [], busy: null, retry: null };
      this.rooms.set(roomId, f);
      const room = f;
      f.busy = this.source.room(roomId).then(
        (r) => {
          room.last = r?.seq ?? 0;
          room.busy = null;
          this.drain(room);
        },
        (err) => {
          if (this.rooms.get(roomId) === room) this.rooms.delete(roomId);
          throw err;
        },
      );
    }
    f.refs++;
    try {
      if (f.busy && f.last < 0) await f.busy;
    } catch (err) {
      f.refs--;
      throw err;
    }
  }

  unfollow(roomId: string): void {
    const f = this.rooms.get(roomId);
    if (!f || --f.refs > 0) return;
    this.rooms.delete(roomId);
    if (f.retry) clearTimeout(f.retry);
  }

  close(): void {
    this.unsubscribe();
    this.unresync();
    if (this.timer) clearInterval(this.timer);
    for (const f of this.rooms.values()) if (f.retry) clearTimeout(f.retry);
    this.rooms.clear();
  }

  /** Look for events this node has not delivered, in every followed room. */
  resyncAll(): void {
    for (const f of this.rooms.values()) if (!f.busy && f.last >= 0) this.resync(f);
  }

  private resync(f: Followed): void {
    this.work(f, async () => {
      const r = await this.source.room(f.roomId);
      if (r && r.seq > f.last) await this.fill(f, r.seq);
      else if (r && r.seq < f.last) {
        // The store went back in time (a Redis failover lost writes this node had delivered): what
        // comes next reuses their seqs, so its followers start over from a snapshot.
        f.last = r.seq;
        this.handler.lost(f.roomId);
      }
    });
  }

  private receive(roomId: string, events: LoggedEvent[]): void {
    const f = this.rooms.get(roomId);
    if (!f || events.length === 0) return;
    if (f.busy || f.retry) return void f.held.push(events);
    if (this.apply(f, events)) this.drain(f);
  }

  /**
   * Deliver what follows on from `last`. On a gap the batch is kept and the log read first; false
   * when the batch had to wait.
   */
  private apply(f: Followed, events: LoggedEvent[]): boolean {
    const first = events[0]!.seq;
    if (first > f.last + 1) {
      f.held.unshift(events);
      // The missing events are this process's own, held for their answer: they come through the
      // bus when released (within a second); reading them from the log would push them sooner.
      const held = this.source.heldFrom?.(f.roomId) ?? null;
      if (held === null || held > f.last + 1) this.work(f, () => this.fill(f, first - 1));
      return false;
    }
    const fresh = first > f.last ? events : events.filter((e) => e.seq > f.last);
    if (fresh.length === 0) return true;
    f.last = fresh[fresh.length - 1]!.seq;
    this.handler.events(f.roomId, fresh);
    return true;
  }

  /** Read the log from `last` up to at least `upTo` and deliver it. */
  private async fill(f: Followed, upTo: number): Promise<void> {
    while (f.last < upTo && this.rooms.get(f.roomId) === f) {
      // Held here for its answer: it comes through the bus when released (within a second).
      const held = this.source.heldFrom?.(f.roomId) ?? null;
      if (held !== null && held <= f.last + 1) return;
      const range = await this.source.eventsSince(f.roomId, f.last, PAGE);
      const next = range.events[0];
      if (!next || next.seq > f.last + 1) {
        // Trimmed from the log: only a fresh snapshot can repair this room's followers.
        const r = await this.source.room(f.roomId);
        f.last = Math.max(upTo, r?.seq ?? 0);
        this.handler.lost(f.roomId);
        return;
      }
      const page = held === null ? range.events : range.events.filter((e) => e.seq < held);
      f.last = page[page.length - 1]!.seq;
      this.handler.events(f.roomId, page);
    }
  }

  /**
   * Store reads for one room run one at a time, and batches arriving meanwhile are held, then
   * applied in order. A failed read is retried later with the held batches still held.
   */
  private work(f: Followed, task: () => Promise<void>): void {
    const run: Promise<void> = (f.busy ?? Promise.resolve()).then(task).then(
      () => {
        if (f.busy === run) f.busy = null;
        this.drain(f);
      },
      (err) => {
        if (f.busy === run) f.busy = null;
        this.opts.onError?.(err, 'feed');
        if (f.retry || this.rooms.get(f.roomId) !== f) return;
        f.retry = setTimeout(() => {
          f.retry = null;
          if (f.held.length > 0) this.drain(f);
          else this.resync(f);
        }, RETRY_MS);
        f.retry.unref();
      },
    );
    f.busy = run;
  }

  private drain(f: Followed): void {
    if (f.held.length > 1) f.held.sort((a, b) => a[0]!.seq - b[0]!.seq);
    while (f.held.length > 0 && !f.busy && !f.retry) if (!this.apply(f, f.held.shift()!)) break;
  }
}
