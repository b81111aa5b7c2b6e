// The board's own log, one per meeting, apart from the meeting's state and event log: strokes are
// many and small, and must never slow down or bloat the commands of the meeting itself. Two
// adapters: SQLite (board/sqlite.ts) and Redis (board/redis.ts).
import type { DrawnStroke, Stroke } from './strokes.ts';

/** An op to apply: who, when, what. */
export type BoardChange = { at: number; by: string } & ({ op: 'draw'; stroke: Stroke } | { op: 'erase'; strokeId: string } | { op: 'clear' });

/** One applied op, numbered in the board's own sequence (boardSeq). */
export type BoardEntry = BoardChange & { seq: number };

export type Appended =
  | { ok: true; entry: BoardEntry }
  /** full: the board holds the most strokes allowed; taken: a stroke with this id is on it; missing: no such stroke. */
  | { ok: false; why: 'full' | 'taken' | 'missing' };

export interface BoardHead {
  /** The board's last boardSeq (0: nothing ever drawn). */
  seq: number;
  /** Strokes on the board. */
  strokes: number;
}

export interface BoardLog {
  /** Apply one op atomically and give it the board's next seq; refused ops change nothing. */
  append(roomId: string, change: BoardChange, maxStrokes: number): Promise<Appended>;
  head(roomId: string): Promise<BoardHead>;
  /** Strokes on the board drawn after `afterSeq` and at most at `upTo`, in drawing order, with their seq. */
  strokes(roomId: string, afterSeq: number, upTo: number, limit: number): Promise<{ seq: number; stroke: DrawnStroke }[]>;
  /** The ops after `afterSeq`, in order; the log keeps the recent ones only (a reader checks that the first follows on). */
  since(roomId: string, afterSeq: number, limit: number): Promise<BoardEntry[]>;
  /**
   * Boards untouched since `before`: each is deleted when `fate(roomId)` says null (its meeting is
   * over and past retention), else marked as touched at the time it returns, to be looked at again
   * once that is past retention. Returns how many were looked at.
   */
  purgeIdle(before: number, limit: number, fate: (roomId: string) => Promise<number | null>): Promise<number>;
  close(): Promise<void>;
}

/** Ops kept per board for nodes that missed some (cluster pub/sub); older gaps get a fresh snapshot. */
export const OPS_KEPT = 256;
