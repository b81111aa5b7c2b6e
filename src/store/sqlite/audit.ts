// Meetings' audit logs in SQLite (domain/audit.ts): appended by the room commits in their
// transaction, read in order, deleted with the meeting when its retention has passed. Also what
// finds an app's running rooms by their metadata.
import type Database from 'better-sqlite3';
import type { AuditEntry } from '../../domain/audit.ts';

export const AUDIT_SCHEMA = `
CREATE TABLE IF NOT EXISTS audit (
  room_id TEXT NOT NULL,
  n       INTEGER NOT NULL,
  data    TEXT NOT NULL,
  PRIMARY KEY (room_id, n)
) WITHOUT ROWID;
`;

/**
 * Running rooms by their metadata: the rooms' `metadata` column (added by migrate(), NULL while
 * unset), indexed only where set, so rooms without metadata cost the index nothing.
 */
export const METADATA_INDEX = 'CREATE INDEX IF NOT EXISTS rooms_metadata ON rooms(app_id, metadata, room_uuid) WHERE ended = 0 AND metadata IS NOT NULL';

/** The WHERE clause that rooms_metadata serves. */
export const BY_METADATA = 'app_id = ? AND ended = 0 AND metadata IS NOT NULL AND metadata = ?';

export class SqliteAudit {
  private readonly q;

  constructor(db: Database.Database) {
    this.q = {
      insert: db.prepare('INSERT INTO audit (room_id, n, data) VALUES (?, ?, ?)'),
      after: db.prepare('SELECT data FROM audit WHERE room_id = ? AND n > ? ORDER BY n LIMIT ?').pluck(),
      purge: db.prepare('DELETE FROM audit WHERE room_id = ?'),
    };
  }

  /** In the commit's transaction. */
  write(roomId: string, entries: AuditEntry[]): void {
    for (const e of entries) this.q.insert.run(roomId, e.n, JSON.stringify(e));
  }

  read(roomId: string, after: number, limit: number): AuditEntry[] {
    return (this.q.after.all(roomId, after, limit) as string[]).map((d) => JSON.parse(d) as AuditEntry);
  }

  /** In the purge's transaction. */
  purgeRoom(roomId: string): void {
    this.q.purge.run(roomId);
  }
}
