// A board's ops in boardSeq order, without gap or duplicate, for the boards this node follows (those
// with a board socket here), as service/feed.ts does for the meeting's events: the bus may deliver
// late, twice, out of order or not at all; on a gap the missing ops are read from the board log
// first, and a resync (the bus reconnected, or the periodic check) compares each board's stored
// seq with the last one delivered. A gap the log no longer covers makes the board start over.
import type { BoardBus } from './bus.ts';
import type { BoardEntry, BoardLog } from './log.ts';

export interface BoardFeedHandler {
  /** The board's next ops, in order. */
  entries(roomId: string, entries: BoardEntry[]): void;
  /** Ops were lost beyond the log's reach: the board's sockets need a fresh snapshot. */
  lost(roomId: string): void;
}

interface Followed {
  roomId: string;
  refs: number;
  /** Last boardSeq delivered; -1 until the baseline is read. */
  last: number;
  /** Ops that arrived while the log was being read. */
  held: BoardEntry[];
  busy: Promise<void> | null;
}

const PAGE = 200;
const RETRY_MS = 500;

export class BoardFeed {
  private readonly boards = new Map<string, Followed>();
  private readonly unsubscribe: () => void;
  private readonly unresync: () => void;
  private readonly timer: NodeJS.Timeout | null = null;

  constructor(
    bus: BoardBus,
    private readonly log: BoardLog,
    private readonly handler: BoardFeedHandler,
    private readonly opts: { resyncIntervalMs?: number; onError?: (err: unknown, what: string) => void } = {},
  ) {
    this.unsubscribe = bus.subscribe((roomId, entry) => this.receive(roomId, entry));
    this.unresync = bus.onResync(() => this.resyncAll());
    if (opts.resyncIntervalMs) {
      this.timer = setInterval(() => this.resyncAll(), opts.resyncIntervalMs);
      this.timer.unref();
    }
  }

  /** Follow a board; resolves once its baseline is known (every later op is delivered). */
  async follow(roomId: string): Promise<void> {
    let f = this.boards.get(roomId);
    if (!f) {
      const room: Followed = { roomId, refs: 0, last: -1, held: [], busy: null };
      f = room;
      this.boards.set(roomId, room);
      room.busy = this.log.head(roomId).then(
        (h) => {
          room.last = h.seq;
          room.busy = null;
          this.drain(room);
        },
        (err) => {
          if (this.boards.get(roomId) === room) this.boards.delete(roomId);
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
    const f = this.boards.get(roomId);
    if (!f || --f.refs > 0) return;
    this.boards.delete(roomId);
  }

  close(): void {
    this.unsubscribe();
    this.unresync();
    if (this.timer) clearInterval(this.timer);
    this.boards.clear();
  }

  resyncAll(): void {
    for (const f of this.boards.values()) {
      if (f.busy || f.last < 0) continue;
      this.work(f, async () => {
        const h = await this.log.head(f.roomId);
        if (h.seq > f.last) await this.fill(f, h.seq);
      });
    }
  }

  private receive(roomId: string, entry: BoardEntry): void {
    const f = this.boards.get(roomId);
    if (!f) return;
    f.held.push(entry);
    this.drain(f);
  }

  /** Deliver the held ops that follow on; on a gap, read the log first. */
  private drain(f: Followed): void {
    if (f.busy || f.last < 0 || f.held.length === 0) return;
    f.held.sort((a, b) => a.seq - b.seq);
    const ready: BoardEntry[] = [];
    while (f.held.length > 0) {
      const e = f.held[0]!;
      if (e.seq <= f.last) {
        f.held.shift();
        continue;
      }
      if (e.seq > f.last + 1) break;
      f.held.shift();
      f.last = e.seq;
      ready.push(e);
    }
    if (ready.length > 0) this.handler.entries(f.roomId, ready);
    if (f.held.length > 0) {
      const upTo = f.held[0]!.seq - 1;
      this.work(f, () => this.fill(f, upTo));
    }
  }

  private async fill(f: Followed, upTo: number): Promise<void> {
    while (f.last < upTo && this.boards.get(f.roomId) === f) {
      const page = await this.log.since(f.roomId, f.last, PAGE);
      if (page.length === 0 || page[0]!.seq > f.last + 1) {
        // Trimmed from the log: the board's sockets start over from a snapshot.
        const h = await this.log.head(f.roomId);
        f.last = Math.max(upTo, h.seq);
        this.handler.lost(f.roomId);
        return;
      }
      const fresh = page.filter((e) => e.seq > f.last);
      f.last = page[page.length - 1]!.seq;
      if (fresh.length > 0) this.handler.entries(f.roomId, fresh);
    }
  }

  /** Log reads for one board run one at a time; ops arriving meanwhile are held, then delivered in order. */
  private work(f: Followed, task: () => Promise<void>): void {
    const run: Promise<void> = (f.busy ?? Promise.resolve()).then(task).then(
      () => {
        if (f.busy === run) f.busy = null;
        this.drain(f);
      },
      (err) => {
        if (f.busy === run) f.busy = null;
        this.opts.onError?.(err, 'board feed');
        const retry = setTimeout(() => this.boards.get(f.roomId) === f && this.drain(f), RETRY_MS);
        retry.unref();
      },
    );
    f.busy = run;
  }
}
