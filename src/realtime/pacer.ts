// Catch-ups (a resume replaying the log, a snapshot sent in pages) take turns, so that one member's
// catch-up never holds up anyone else's commands or live messages: at most `max` run at once, the
// others wait in arrival order; a running one gives the event loop back after every slice, and
// gives its turn up while it waits for a slow socket to drain. The running ones share one budget
// per turn of the event loop: Node accepts one new connection per turn, so a turn must stay short
// however many catch-ups run.

/** Frames and bytes all running catch-ups send in one turn of the event loop, together. */
const TURN_FRAMES = 256;
const TURN_BYTES = 256 * 1024;
/** A slice is never smaller than this, however many catch-ups share the turn. */
const MIN_SLICE_FRAMES = 8;
const MAX_SLICE_FRAMES = 100;
const MAX_SLICE_BYTES = 64 * 1024;

export class CatchUpPacer {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  /** Catch-ups running now and waiting for a turn (for tests and metrics). */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Frames one catch-up sends before it gives the event loop back: its share of a turn. */
  get sliceFrames(): number {
    return Math.min(MAX_SLICE_FRAMES, Math.max(MIN_SLICE_FRAMES, Math.floor(TURN_FRAMES / Math.max(1, this.running))));
  }

  /** Bytes likewise (a slice ends at whichever of the two comes first). */
  get sliceBytes(): number {
    return Math.min(MAX_SLICE_BYTES, Math.floor(TURN_BYTES / Math.max(1, this.running)));
  }

  /** A turn for one catch-up; resolves once it may run. */
  async take(): Promise<Turn> {
    const turn = new Turn(this);
    await turn.resume();
    return turn;
  }

  /** @internal resolves when a slot is free (first come, first served). */
  acquire(): Promise<void> {
    if (this.running < this.max) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** @internal the slot passes straight to the longest waiting catch-up. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}

/** One catch-up's place in the pacer: held while it sends, given up while it waits. */
export class Turn {
  private held = false;

  constructor(private readonly pacer: CatchUpPacer) {}

  /** @internal */
  async resume(): Promise<void> {
    await this.pacer.acquire();
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
    this.pacer.release();
  }
}
