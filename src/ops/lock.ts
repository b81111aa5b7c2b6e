// One server per database: a second `serve` on the same file would keep its own members and
// fan-out, unseen by the first. The lock is a SQLite write lock held open on `<db>.lock`; the
// kernel drops it when the process dies (even by SIGKILL), so a dead server never leaves a stale
// lock, and a pid reused after a restart (as in containers) is never mistaken for a live holder.
import Database from 'better-sqlite3';
import { hostname } from 'node:os';
import type { Config } from '../config.ts';
import { OperationalError, errnoOf } from './errors.ts';
import { checkWritableFile, ensureDataDir, sqliteOpenError } from './store.ts';

export interface ServerLock {
  readonly path: string;
  release(): void;
}

/** Takes the server lock of `config.dbPath`, or throws an OperationalError naming the holder. */
export function lockDatabase(config: Config): ServerLock | null {
  if (config.dbPath === ':memory:') return null;
  ensureDataDir(config);
  const path = `${config.dbPath}.lock`;
  checkWritableFile(config, path, 'lock file', 'remove it (no server uses a directory as its lock)');
  let db: Database.Database;
  try {
    db = new Database(path, { timeout: 0 });
  } catch (err) {
    throw sqliteOpenError(err, path, 'lock file') ?? err;
  }
  try {
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, host TEXT NOT NULL, since INTEGER NOT NULL)');
    db.exec('BEGIN IMMEDIATE');
    // The holder is committed so that a refused server can name it; readers may briefly hold the
    // file, hence the short wait for this commit only.
    db.prepare('DELETE FROM holder').run();
    db.prepare('INSERT INTO holder (pid, host, since) VALUES (?, ?, ?)').run(process.pid, hostname(), Date.now());
    db.pragma('busy_timeout = 2000');
    db.exec('COMMIT');
    db.pragma('busy_timeout = 0');
    // Held from here until release() or the end of the process.
    db.exec('BEGIN IMMEDIATE');
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    if (errnoOf(err) === 'SQLITE_BUSY') {
      const message = heldMessage(db, config.dbPath);
      db.close();
      throw new OperationalError(message);
    }
    db.close();
    throw sqliteOpenError(err, path, 'lock file') ?? err;
  }
  return {
    path,
    release: () => {
      if (db.open) db.close();
    },
  };
}

function heldMessage(db: Database.Database, dbPath: string): string {
  let who = 'another Convene server';
  try {
    db.pragma('busy_timeout = 2000');
    const h = db.prepare('SELECT pid, host, since FROM holder').get() as { pid: number; host: string; since: number } | undefined;
    if (h) who += ` (pid ${h.pid} on host ${h.host}, since ${new Date(h.since).toISOString()})`;
  } catch {
    /* the holder is being written: name no pid */
  }
  return (
    `database ${dbPath} is already served by ${who}: stop it first, or give this server its own CONVENE_DATA_DIR ` +
    `(several nodes serving the same meetings run in cluster mode: set REDIS_URL on each)`
  );
}
