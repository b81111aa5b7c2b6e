// The board log on one process: a SQLite file of its own next to the meeting database
// (convene.db → convene-board.db). Not the meeting database itself: the store drops its cached
// rooms whenever another connection writes its file, so strokes written there would make every
// meeting command read its room again.
import { closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { DrawnStroke } from './strokes.ts';
import { OPS_KEPT, type Appended, type BoardChange, type BoardEntry, type BoardHead, type BoardLog } from './log.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS boards (
  room_id TEXT PRIMARY KEY,
  seq     INTEGER NOT NULL,
  strokes INTEGER NOT NULL,
  at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS boards_at ON boards(at);
-- The strokes on the board now (erased and cleared ones are deleted), in drawing order.
CREATE TABLE IF NOT EXISTS board_strokes (
  room_id   TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  stroke_id TEXT NOT NULL,
  data      TEXT NOT NULL,
  PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS board_stroke_ids ON board_strokes(room_id, stroke_id);
-- The last OPS_KEPT ops of each board, for catching up on a gap.
CREATE TABLE IF NOT EXISTS board_ops (
  room_id TEXT NOT NULL,
  seq     INTEGER NOT NULL,
  data    TEXT NOT NULL,
  PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
`;

/** The board file beside the meeting database (':memory:' stays in memory). */
export function boardDbPath(dbPath: string): string {
  if (dbPath === ':memory:') return dbPath;
  return dbPath.endsWith('.db') ? `${dbPath.slice(0, -3)}-board.db` : `${dbPath}-board`;
}

export class SqliteBoardLog implements BoardLog {
  private readonly db: Database.Database;
  private readonly q;
  private readonly appendTx: (roomId: string, change: BoardChange, max: number) => Appended;

  constructor(path: string) {
    // Owner-only when created here, as the meeting database (ops/store.ts).
    if (path !== ':memory:') closeSync(openSync(path, 'a', 0o600));
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    const db = this.db;
    this.q = {
      head: db.prepare('SELECT seq, strokes FROM boards WHERE room_id = ?'),
      putHead: db.prepare('INSERT OR REPLACE INTO boards (room_id, seq, strokes, at) VALUES (?, ?, ?, ?)'),
      hasStroke: db.prepare('SELECT 1 FROM board_strokes WHERE room_id = ? AND stroke_id = ?').pluck(),
      addStroke: db.prepare('INSERT INTO board_strokes (room_id, seq, stroke_id, data) VALUES (?, ?, ?, ?)'),
      eraseStroke: db.prepare('DELETE FROM board_strokes WHERE room_id = ? AND stroke_id = ?'),
      clearStrokes: db.prepare('DELETE FROM board_strokes WHERE room_id = ?'),
      strokes: db.prepare('SELECT seq, data FROM board_strokes WHERE room_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?'),
      addOp: db.prepare('INSERT INTO board_ops (room_id, seq, data) VALUES (?, ?, ?)'),
      trimOps: db.prepare('DELETE FROM board_ops WHERE room_id = ? AND seq <= ?'),
      ops: db.prepare('SELECT data FROM board_ops WHERE room_id = ? AND seq > ? ORDER BY seq LIMIT ?').pluck(),
      idle: db.prepare('SELECT room_id FROM boards WHERE at <= ? ORDER BY at LIMIT ?').pluck(),
      touch: db.prepare('UPDATE boards SET at = ? WHERE room_id = ?'),
      deleteBoard: db.prepare('DELETE FROM boards WHERE room_id = ?'),
      deleteOps: db.prepare('DELETE FROM board_ops WHERE room_id = ?'),
    };
    this.appendTx = db.transaction((roomId: string, change: BoardChange, max: number): Appended => {
      const head = (this.q.head.get(roomId) as BoardHead | undefined) ?? { seq: 0, strokes: 0 };
      const seq = head.seq + 1;
      let strokes = head.strokes;
      if (change.op === 'draw') {
        if (strokes >= max) return { ok: false, why: 'full' };
        if (this.q.hasStroke.get(roomId, change.stroke.id)) return { ok: false, why: 'taken' };
        const drawn: DrawnStroke = { ...change.stroke, by: change.by };
        this.q.addStroke.run(roomId, seq, change.stroke.id, JSON.stringify(drawn));
        strokes++;
      } else if (change.op === 'erase') {
        if (this.q.eraseStroke.run(roomId, change.strokeId).changes === 0) return { ok: false, why: 'missing' };
        strokes--;
      } else {
        this.q.clearStrokes.run(roomId);
        strokes = 0;
      }
      const entry = { seq, ...change } as BoardEntry;
      this.q.putHead.run(roomId, seq, strokes, change.at);
      this.q.addOp.run(roomId, seq, JSON.stringify(entry));
      this.q.trimOps.run(roomId, seq - OPS_KEPT);
      return { ok: true, entry };
    });
  }

  async append(roomId: string, change: BoardChange, maxStrokes: number): Promise<Appended> {
    return this.appendTx(roomId, change, maxStrokes);
  }

  async head(roomId: string): Promise<BoardHead> {
    return (this.q.head.get(roomId) as BoardHead | undefined) ?? { seq: 0, strokes: 0 };
  }

  async strokes(roomId: string, afterSeq: number, upTo: number, limit: number): Promise<{ seq: number; stroke: DrawnStroke }[]> {
    const rows = this.q.strokes.all(roomId, afterSeq, upTo, limit) as { seq: number; data: string }[];
    return rows.map((r) => ({ seq: r.seq, stroke: JSON.parse(r.data) as DrawnStroke }));
  }

  async since(roomId: string, afterSeq: number, limit: number): Promise<BoardEntry[]> {
    return (this.q.ops.all(roomId, afterSeq, limit) as string[]).map((d) => JSON.parse(d) as BoardEntry);
  }

  async purgeIdle(before: number, limit: number, fate: (roomId: string) => Promise<number | null>): Promise<number> {
    const ids = this.q.idle.all(before, limit) as string[];
    for (const id of ids) {
      const later = await fate(id);
      if (later === null) {
        this.db.transaction(() => {
          this.q.clearStrokes.run(id);
          this.q.deleteOps.run(id);
          this.q.deleteBoard.run(id);
        })();
      } else {
        this.q.touch.run(later, id);
      }
    }
    return ids.length;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
