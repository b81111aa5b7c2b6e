// The embedded store's tables (store.ts, apps.ts; outbox.ts and audit.ts have their own), and
// what brings a database made by an older version up to them.
import type Database from 'better-sqlite3';
import { METADATA_INDEX } from './audit.ts';

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS rooms (
  room_id     TEXT PRIMARY KEY,
  app_id      TEXT NOT NULL,
  room_uuid   TEXT NOT NULL,
  ended       INTEGER NOT NULL,
  online      INTEGER NOT NULL,
  empty_since INTEGER,
  start_time  INTEGER NOT NULL,
  version     INTEGER NOT NULL,
  seq         INTEGER NOT NULL,
  data        TEXT NOT NULL,
  ended_at    INTEGER,
  -- Room.metadata, NULL while unset (see audit.ts). Added by migrate() to databases made before it.
  metadata    TEXT
);
-- At most one running meeting per (app, roomUuid): concurrent first entries create one room.
CREATE UNIQUE INDEX IF NOT EXISTS rooms_running ON rooms(app_id, room_uuid) WHERE ended = 0;
CREATE INDEX IF NOT EXISTS rooms_empty ON rooms(empty_since) WHERE ended = 0 AND empty_since IS NOT NULL;
-- (rooms_ended, on ended_at, is created by migrate(): databases made before that column lack it.)
-- (members and events: MEMBERS_EVENTS below, created in migrate().)
CREATE TABLE IF NOT EXISTS apps (
  app_id TEXT PRIMARY KEY,
  owner  TEXT,
  data   TEXT NOT NULL,
  -- webhookStamp(app): checked by the commits that write webhook rows ('' without webhooks).
  webhooks_stamp TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS access_keys (
  access_key TEXT PRIMARY KEY,
  secret_key TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  -- 1: an operator key (AccessKey.operator). Added by migrate() to databases made before it.
  operator   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
-- The last member uid each app has handed out (see reserveUids).
CREATE TABLE IF NOT EXISTS uid_counters (
  app_id TEXT PRIMARY KEY,
  last   INTEGER NOT NULL
);
`;

/**
 * Members apart from their room (a change to one member of a large meeting rewrites one row), and
 * the rooms' event logs. Both in insertion order (rowid) with a unique index on the room's key:
 * the rows one group commit writes for entries into 500 different rooms land on the same few last
 * pages instead of one page per room, which halves what a commit writes to the WAL (the tables
 * were WITHOUT ROWID, clustered by room, until 2026-12: migrate() converts them).
 */
const MEMBERS_EVENTS = `
CREATE TABLE IF NOT EXISTS members (
  id      INTEGER PRIMARY KEY,
  room_id TEXT NOT NULL,
  ord     INTEGER NOT NULL,
  data    TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS members_room ON members(room_id, ord);
CREATE TABLE IF NOT EXISTS events (
  id      INTEGER PRIMARY KEY,
  room_id TEXT NOT NULL,
  seq     INTEGER NOT NULL,
  at      INTEGER NOT NULL,
  data    TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_room ON events(room_id, seq);
`;

/**
 * Brings a database made by an older version up to this schema. Under a write lock, so that a
 * server and an operator's CLI opening the same old file at once migrate it once.
 */
export function migrate(db: Database.Database): void {
  db.transaction(() => {
    const columns = db.prepare("SELECT name FROM pragma_table_info('rooms')").pluck().all() as string[];
    if (!columns.includes('ended_at')) {
      db.exec('ALTER TABLE rooms ADD COLUMN ended_at INTEGER');
      // Meetings that ended before the column existed: their end is in the JSON; without one,
      // the retention counts from now, so nothing is deleted earlier than it should be.
      db.prepare("UPDATE rooms SET ended_at = COALESCE(json_extract(data, '$.endedAt'), ?) WHERE ended = 1").run(Date.now());
    }
    db.exec('CREATE INDEX IF NOT EXISTS rooms_ended ON rooms(ended_at) WHERE ended = 1');
    // Rooms stored before metadata existed have none.
    if (!columns.includes('metadata')) db.exec('ALTER TABLE rooms ADD COLUMN metadata TEXT');
    db.exec(METADATA_INDEX);
    const appColumns = db.prepare("SELECT name FROM pragma_table_info('apps')").pluck().all() as string[];
    // Apps stored before webhooks existed have none: '' is their stamp.
    if (!appColumns.includes('webhooks_stamp')) db.exec("ALTER TABLE apps ADD COLUMN webhooks_stamp TEXT NOT NULL DEFAULT ''");
    const keyColumns = db.prepare("SELECT name FROM pragma_table_info('access_keys')").pluck().all() as string[];
    // Keys made before operator keys existed are not operators.
    if (!keyColumns.includes('operator')) db.exec('ALTER TABLE access_keys ADD COLUMN operator INTEGER NOT NULL DEFAULT 0');
    const clustered = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN ('members', 'events') AND sql LIKE '%WITHOUT ROWID%'").pluck().all() as string[];
    for (const t of clustered) db.exec(`ALTER TABLE ${t} RENAME TO ${t}_clustered`);
    db.exec(MEMBERS_EVENTS);
    // Copied in the old order (room by room), so each room's rows stay together on disk.
    if (clustered.includes('members')) db.exec('INSERT INTO members (room_id, ord, data) SELECT room_id, ord, data FROM members_clustered; DROP TABLE members_clustered');
    if (clustered.includes('events')) db.exec('INSERT INTO events (room_id, seq, at, data) SELECT room_id, seq, at, data FROM events_clustered; DROP TABLE events_clustered');
  }).immediate();
}
