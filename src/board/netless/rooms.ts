// Netless rooms as the boards of meetings (service/boards.ts): a room is created before the meeting
// that names it; it is banned at once when the meeting it was made for was never committed (another
// entry made the meeting first, or the entry was refused), retried with backoff until Netless takes
// it. The ban at a meeting's end goes through the outbox (bans.ts), durable and made by one node.
import { BoardUnavailableError, type BoardRooms } from '../../service/boards.ts';
import { NetlessError, type NetlessClient } from './client.ts';

export interface NetlessRoomsOptions {
  /** First retry of a failed ban, ms; doubled per attempt up to maxRetryMs. */
  retryMs: number;
  maxRetryMs?: number;
  /** Attempts of one ban before it is given up (and said as an error). */
  maxAttempts?: number;
  onError?: (err: unknown, what: string) => void;
  onNotice?: (what: string, details: Record<string, unknown>) => void;
}

export class NetlessBoardRooms implements BoardRooms {
  /** Bans not yet taken by Netless, by room uuid: the timer of the next attempt, if waiting. */
  private readonly pending = new Map<string, { attempts: number; timer: NodeJS.Timeout | null }>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly maxRetryMs: number;
  private readonly maxAttempts: number;
  private stopped = false;

  constructor(
    private readonly client: NetlessClient,
    private readonly opts: NetlessRoomsOptions,
  ) {
    this.maxRetryMs = opts.maxRetryMs ?? 300_000;
    this.maxAttempts = opts.maxAttempts ?? 20;
  }

  async open(_appId: string): Promise<string> {
    try {
      return (await this.client.createRoom()).uuid;
    } catch (err) {
      if (!(err instanceof NetlessError)) throw err;
      // Credentials or a request Netless refuses are the operator's to fix: said as an error here,
      // and to the member as a service problem. A create is not repeated on its own: one that timed
      // out may have made a room, and the member's retry makes a fresh one.
      if (!err.retryable) this.opts.onError?.(err, 'creating a Netless room for a meeting');
      const reason = err.status === null ? 'the whiteboard service did not answer' : `the whiteboard service answered ${err.status}`;
      throw new BoardUnavailableError(
        `the meeting's whiteboard could not be created (${reason}); no meeting was started: enter again shortly`,
        Math.max(1, Math.min(60, err.retryAfterS ?? 1)),
        { cause: err },
      );
    }
  }

  close(boardId: string): void {
    if (this.stopped || boardId === '' || this.pending.has(boardId)) return;
    this.pending.set(boardId, { attempts: 0, timer: null });
    this.attempt(boardId);
  }

  /** Bans still to be taken by Netless (waiting for a retry or in flight). */
  get backlog(): number {
    return this.pending.size;
  }

  /** Stops retrying; bans in flight are let finish. What is left is said once. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const p of this.pending.values()) if (p.timer) clearTimeout(p.timer);
    await Promise.allSettled([...this.inFlight]);
    if (this.pending.size > 0) {
      this.opts.onNotice?.('Netless rooms of ended meetings left unbanned at shutdown', { rooms: [...this.pending.keys()].slice(0, 20), count: this.pending.size });
    }
  }

  private attempt(boardId: string): void {
    const p = this.pending.get(boardId);
    if (!p || this.stopped) return;
    p.timer = null;
    p.attempts++;
    const call = this.client.banRoom(boardId).then(
      () => {
        this.pending.delete(boardId);
      },
      (err: unknown) => this.failed(boardId, p.attempts, err),
    );
    this.inFlight.add(call);
    void call.finally(() => this.inFlight.delete(call));
  }

  private failed(boardId: string, attempts: number, err: unknown): void {
    const p = this.pending.get(boardId);
    if (!p) return;
    if (err instanceof NetlessError && err.status === 404) {
      // Netless knows no such room: there is nothing left to ban.
      this.pending.delete(boardId);
      this.opts.onNotice?.('Netless has no room to ban', { room: boardId });
      return;
    }
    const retryable = !(err instanceof NetlessError) || err.retryable;
    if (!retryable || attempts >= this.maxAttempts || this.stopped) {
      this.pending.delete(boardId);
      if (!this.stopped) this.opts.onError?.(err, `banning Netless room ${boardId} (given up after ${attempts} attempt(s))`);
      return;
    }
    const backoff = Math.min(this.maxRetryMs, this.opts.retryMs * 2 ** (attempts - 1));
    // Netless' Retry-After (429) is honoured; jitter keeps many rooms' retries from arriving together.
    const hinted = err instanceof NetlessError && err.retryAfterS !== null ? err.retryAfterS * 1000 : 0;
    const delay = Math.max(hinted, backoff * (0.75 + Math.random() * 0.5));
    this.opts.onNotice?.('Netless ban failed; retrying', { room: boardId, attempts, inMs: Math.round(delay), err: String((err as Error)?.message ?? err) });
    p.timer = setTimeout(() => this.attempt(boardId), delay);
    p.timer.unref();
  }
}
