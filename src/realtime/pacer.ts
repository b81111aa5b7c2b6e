// Catch-ups (a resume replaying the log, a snapshot sent in pages) take turns, so that one member's
// catch-up never holds up anyone else's commands or live messages: at most `max` run at once, and
// at most `perOwner` of one member's (a member resuming many sockets leaves slots to the others);
// the others wait, in arrival order per member and the members in turn. A running one gives the
// event loop back after every slice, and gives its turn up while it waits for a slow socket to
// drain. The running ones share one budget per turn of the event loop: Node accepts one new
// connection per turn, so a turn must stay short however many catch-ups run.

/** Frames and bytes all running catch-ups send in one turn of the event loop, together. */
const TURN_FRAMES = 256;
const TURN_BYTES = 256 * 1024;
/** A slice is never smaller than this, however many catch-ups share the turn. */
const MIN_SLICE_FRAMES = 8;
const MAX_SLICE_FRAMES = 100;
const MAX_SLICE_BYTES = 64 * 1024;

export class CatchUpPacer {
  private running = 0;
  /** Catch-ups running per owner (a member). */
  private readonly runningBy = new Map<string, number>();
  /** Catch-ups waiting, per owner; owners take turns in this map's order (round robin). */
  private readonly waiting = new Map<string, (() => void)[]>();
  private waitingCount = 0;

  constructor(
    private readonly max: number,
    /** Catch-ups one owner may run at once: a member with many sockets does not take every slot. */
    private readonly perOwner = max,
  ) {}

  /** Catch-ups running now and waiting for a turn (for tests and metrics). */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waitingCount };
  }

  /** Frames one catch-up sends before it gives the event loop back: its share of a turn. */
  get sliceFrames(): number {
    return Math.min(MAX_SLICE_FRAMES, Math.max(MIN_SLICE_FRAMES, Math.floor(TURN_FRAMES / Math.max(1, this.running))));
  }

  /** Bytes likewise (a slice ends at whichever of the two comes first). */
  get sliceBytes(): number {
    return Math.min(MAX_SLICE_BYTES, Math.floor(TURN_BYTES / Math.max(1, this.running)));
  }

  /** A turn for one catch-up of `owner` (a member); resolves once it may run. */
  async take(owner = ''): Promise<Turn> {
    const turn = new Turn(this, owner);
    await turn.resume();
    return turn;
  }

  /** @internal resolves when a slot is free for `owner`: first come, first served per owner, owners in turn. */
  acquire(owner: string): Promise<void> {
    if (this.running < this.max && (this.runningBy.get(owner) ?? 0) < this.perOwner && !this.waiting.has(owner)) {
      this.start(owner);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const queue = this.waiting.get(owner);
      if (queue) queue.push(resolve);
      else this.waiting.set(owner, [resolve]);
      this.waitingCount++;
    });
  }

  /** @internal the slot goes to the next owner in turn that may run one more. */
  release(owner: string): void {
    this.running--;
    const n = (this.runningBy.get(owner) ?? 1) - 1;
    if (n > 0) this.runningBy.set(owner, n);
    else this.runningBy.delete(owner);
    this.fill();
  }

  private fill(): void {
    while (this.running < this.max) {
      let next: string | undefined;
      for (const o of this.waiting.keys()) {
        if ((this.runningBy.get(o) ?? 0) < this.perOwner) {
          next = o;
          break;
        }
      }
      if (next === undefined) return;
      const queue = this.waiting.get(next)!;
      const resolve = queue.shift()!;
      // To the back of the line: the other owners go first next time.
      this.waiting.delete(next);
      if (queue.length > 0) this.waiting.set(next, queue);
      this.waitingCount--;
      this.start(next);
      resolve();
    }
  }

  private start(owner: string): void {
    this.running++;
    this.runningBy.set(owner, (this.runningBy.get(owner) ?? 0) + 1);
  }
}

/** One catch-up's place in the pacer: held while it sends, given up while it waits. */
export class Turn {
  private held = false;

  constructor(
    private readonly pacer: CatchUpPacer,
    private readonly owner: string,
  ) {}

  /** @internal */
  async resume(): Promise<void> {
    await this.pacer.acquire(this.owner);
    this.held = true;
  }

  /** Between two slices: let every pending I/O callback (requests, live messages) run first. */
  breathe(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** Wait for `p` without holding a slot (e.g. a socket that must drain), then queue up again. */
  async away<T>(p: Promise<T>): Promise<T> {
    this.end();
    try {
      return await p;
    } finally {
      await this.resume();
    }
  }

  /** Done: the slot goes to the next catch-up. Idempotent. */
  end(): void {
    if (!this.held) return;
    this.held = false;
    this.pacer.release(this.owner);
  }
}
