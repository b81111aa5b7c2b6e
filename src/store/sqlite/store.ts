// The embedded store: one SQLite file (WAL) under the data directory, or ':memory:' in tests.
// A room and the events of one command are written in a single transaction. The tables are in
// schema.ts; the apps, access keys, uid counters and meta values in apps.ts.
import Database from 'better-sqlite3';
import type { LoggedEvent } from '../../domain/events.ts';
import { changedPositions, onlineCount, saved, type Member, type Room } from '../../domain/room.ts';
import type { AccessKey, App, CommitOutbox, CommitResult, EventRange, RoomListQuery, RoomStore, RoomSummary } from '../store.ts';
import { OUTBOX_SCHEMA, SqliteOutbox } from './outbox.ts';
import { CHECKPOINTER_AFTER, startCheckpointer, type Checkpointer } from './checkpointer.ts';
import { AUDIT_SCHEMA, BY_METADATA, SqliteAudit } from './audit.ts';
import type { AuditEntry } from '../../domain/audit.ts';
import { migrate, SCHEMA } from './schema.ts';
import { SqliteApps } from './apps.ts';

interface PendingCommit {
  room: Room;
  expectedVersion: number;
  events: LoggedEvent[];
  outbox: CommitOutbox | undefined;
  audit: AuditEntry[] | undefined;
  resolve: (r: CommitResult) => void;
  reject: (e: unknown) => void;
}

export interface SqliteOptions {
  /** A file path, or ':memory:'. */
  path: string;
  /** Rooms kept parsed in memory; the stored version is checked on every load. */
  cacheSize?: number;
  /** Events kept per room; older ones are dropped (a resume from before them gets a snapshot). */
  eventRetention?: number;
  /** NORMAL (default) or FULL: see config.ts. */
  synchronous?: 'NORMAL' | 'FULL';
}

export class SqliteStore implements RoomStore {
  private readonly db: Database.Database;
  private readonly cache = new Map<string, Room>();
  /** The running room of each (app, roomUuid) this process has seen: spares entries a query each. */
  private readonly runningIds = new Map<string, string>();
  /** Apps (read on every client-API request), access keys, uid counters and meta values. */
  private readonly apps: SqliteApps;
  private readonly cacheSize: number;
  private readonly retention: number;
  private readonly q;
  private dataVersion = -1;
  private checkedThisTurn = false;
  readonly outbox: SqliteOutbox;
  private readonly audit: SqliteAudit;

  constructor(opts: SqliteOptions) {
    this.db = new Database(opts.path);
    this.cacheSize = opts.cacheSize ?? 10_000;
    this.retention = opts.eventRetention ?? 10_000;
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode survives a killed process (the OS has the pages); FULL also a power cut.
    this.db.pragma(`synchronous = ${opts.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('wal_autocheckpoint = 20000');
    this.db.exec(SCHEMA);
    this.db.exec(OUTBOX_SCHEMA);
    this.db.exec(AUDIT_SCHEMA);
    migrate(this.db);
    const db = this.db;
    this.apps = new SqliteApps(db, this.cacheSize);
    const commitBatch = db.transaction((batch: PendingCommit[]) => {
      // The webhook stamps are read in the write transaction (apps.ts).
      this.apps.writingAt(this.q.dataVersion.get() as number);
      return batch.map((b) => this.commitTx(b.room, b.expectedVersion, b.events, b.outbox, b.audit));
    });
    // IMMEDIATE: the write lock (and the newest snapshot) from the first statement on.
    this.commitBatch = (batch) => commitBatch.immediate(batch);
    this.outbox = new SqliteOutbox(db);
    this.audit = new SqliteAudit(db);
    this.purgeBatch = db.transaction((endedBefore: number, limit: number) => {
      const ids = this.q.endedBefore.all(endedBefore, limit) as string[];
      for (const id of ids) {
        this.outbox.purgeRoom(id);
        this.audit.purgeRoom(id);
        this.q.deleteEvents.run(id);
        this.q.deleteMembers.run(id);
        this.q.deleteRoom.run(id);
        this.cache.delete(id);
      }
      return ids.length;
    });
    this.q = {
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      room: db.prepare('SELECT data FROM rooms WHERE room_id = ?').pluck(),
      members: db.prepare('SELECT data FROM members WHERE room_id = ? ORDER BY ord').pluck(),
      // An upsert rewrites a changed member in place (its rowid and index entry kept): REPLACE would
      // delete it and append it anew, dirtying its old page, the last page and the index.
      putMember: db.prepare('INSERT INTO members (room_id, ord, data) VALUES (?, ?, ?) ON CONFLICT (room_id, ord) DO UPDATE SET data = excluded.data'),
      running: db.prepare('SELECT room_id FROM rooms WHERE app_id = ? AND room_uuid = ? AND ended = 0').pluck(),
      // Positional parameters: binding by name looks each one up on an object, on every commit.
      insertRoom: db.prepare(
        `INSERT INTO rooms (room_id, app_id, room_uuid, ended, online, empty_since, start_time, version, seq, data, ended_at, metadata)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      updateRoom: db.prepare(
        `UPDATE rooms SET ended = ?, online = ?, empty_since = ?, version = ?, seq = ?, data = ?, ended_at = ?, metadata = ?
         WHERE room_id = ? AND version = ?`,
      ),
      insertEvent: db.prepare('INSERT INTO events (room_id, seq, at, data) VALUES (?, ?, ?, ?)'),
      eventsSince: db.prepare('SELECT seq, at, data FROM events WHERE room_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
      oldestSeq: db.prepare('SELECT MIN(seq) FROM events WHERE room_id = ?').pluck(),
      trimEvents: db.prepare('DELETE FROM events WHERE room_id = ? AND seq <= ?'),
      active: db.prepare('SELECT room_id FROM rooms WHERE ended = 0 AND online > 0').pluck(),
      emptySince: db.prepare('SELECT room_id FROM rooms WHERE ended = 0 AND empty_since IS NOT NULL AND empty_since <= ?').pluck(),
      endedBefore: db.prepare('SELECT room_id FROM rooms WHERE ended = 1 AND ended_at <= ? ORDER BY ended_at LIMIT ?').pluck(),
      deleteRoom: db.prepare('DELETE FROM rooms WHERE room_id = ? AND ended = 1'),
      deleteMembers: db.prepare('DELETE FROM members WHERE room_id = ?'),
      deleteEvents: db.prepare('DELETE FROM events WHERE room_id = ?'),
    };
  }

  async loadRoom(roomId: string): Promise<Room | null> {
    return this.loadRoomSync(roomId);
  }

  private loadRoomSync(roomId: string): Room | null {
    this.checkOtherWriters();
    const cached = this.cache.get(roomId);
    if (cached) return cached;
    const data = this.q.room.get(roomId) as string | undefined;
    if (data === undefined) return null;
    const room = JSON.parse(data) as Room;
    room.members = (this.q.members.all(roomId) as string[]).map((m) => JSON.parse(m) as Member);
    this.remember(room);
    return room;
  }

  /**
   * The cache holds what this connection committed. Another process writing the same file (an
   * operator's tool) bumps SQLite's data_version; checked once per event-loop turn, it drops the
   * cache, so a read never trails another writer by more than one turn.
   */
  private checkOtherWriters(): void {
    if (this.checkedThisTurn) return;
    this.checkedThisTurn = true;
    setImmediate(() => (this.checkedThisTurn = false));
    const v = this.q.dataVersion.get() as number;
    if (v !== this.dataVersion) {
      this.cache.clear();
      this.runningIds.clear();
      this.dataVersion = v;
    }
  }

  async findRunningRoom(appId: string, roomUuid: string): Promise<Room | null> {
    this.checkOtherWriters();
    // Every entry asks: the running rooms this process knows are remembered (a hint, checked).
    const key = appId + KEY_SEP + roomUuid;
    const known = this.runningIds.get(key);
    if (known !== undefined) {
      const room = this.loadRoomSync(known);
      if (room && !room.ended && room.appId === appId && room.roomUuid === roomUuid) return room;
      this.runningIds.delete(key);
    }
    const id = this.q.running.get(appId, roomUuid) as string | undefined;
    return id === undefined ? null : this.loadRoomSync(id);
  }

  private readonly commitTx = (room: Room, expectedVersion: number, events: LoggedEvent[], outbox: CommitOutbox | undefined, audit: AuditEntry[] | undefined): CommitResult => {
    if (outbox && this.apps.stampOf(room.appId) !== outbox.stamp) return { ok: false, reason: 'webhooksChanged' };
    const ended = room.ended ? 1 : 0;
    const data = roomWithoutMembers(room);
    // A meeting ended without an end time (none should be) is kept for the retention from now.
    const endedAt = room.ended ? (room.endedAt ?? Date.now()) : null;
    const metadata = room.metadata || null;
    if (expectedVersion === 0) {
      try {
        this.q.insertRoom.run(room.roomId, room.appId, room.roomUuid, ended, onlineCount(room), room.emptySince, room.startTime, room.version, room.seq, data, endedAt, metadata);
      } catch (e) {
        if ((e as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT')) return { ok: false, reason: 'duplicateRoom' };
        throw e;
      }
    } else if (this.q.updateRoom.run(ended, onlineCount(room), room.emptySince, room.version, room.seq, data, endedAt, metadata, room.roomId, expectedVersion).changes === 0) {
      return { ok: false, reason: 'conflict' };
    }
    // Only the members the decisions changed are written: those the draft says (in a room of
    // thousands, not a pass over all of them), else those that are not the objects of the cached
    // version (members are immutable once committed: decisions copy on write).
    let members = 0;
    const put = (i: number) => void (members++, this.q.putMember.run(room.roomId, i, JSON.stringify(room.members[i])));
    const changed = changedPositions(room);
    if (changed) {
      for (const i of changed) if (i < room.members.length) put(i);
    } else {
      const prev = this.cache.get(room.roomId);
      const known = prev && prev.version === expectedVersion ? prev.members : [];
      room.members.forEach((m, i) => {
        if (known[i] !== m) put(i);
      });
    }
    // About what the checkpointer will have to copy (checkpointer.ts).
    this.rowsWritten += 1 + members + events.length + (outbox?.rows.length ?? 0) + (audit?.length ?? 0);
    for (const e of events) this.q.insertEvent.run(room.roomId, e.seq, e.at, JSON.stringify(e.event));
    if (outbox && outbox.rows.length > 0) this.outbox.write(room.appId, room.roomId, outbox.rows);
    if (audit) this.audit.write(room.roomId, audit);
    // Trim in steps of 256 events so that the delete runs rarely.
    const first = room.seq - events.length + 1;
    if (room.seq > this.retention && Math.floor(room.seq / 256) !== Math.floor((first - 1) / 256)) {
      this.q.trimEvents.run(room.roomId, room.seq - this.retention);
    }
    return { ok: true };
  };

  private readonly commitBatch: (batch: PendingCommit[]) => CommitResult[];
  private readonly purgeBatch: (endedBefore: number, limit: number) => number;
  private batch: PendingCommit[] = [];
  /** Commits until the WAL's checkpoints move to a thread of their own (checkpointer.ts). */
  private untilCheckpointer = CHECKPOINTER_AFTER;
  private checkpointer: Checkpointer | null = null;
  /** Rows the batch being committed wrote: how much the checkpointer has to copy (about). */
  private rowsWritten = 0;

  /**
   * Commits arriving in the same event-loop turn share one SQLite transaction (group commit):
   * each keeps its own version check and result, and none is acknowledged before the batch is
   * committed.
   */
  commit(room: Room, expectedVersion: number, events: LoggedEvent[], outbox?: CommitOutbox, audit?: AuditEntry[]): Promise<CommitResult> {
    return new Promise((resolve, reject) => {
      this.batch.push({ room, expectedVersion, events, outbox, audit, resolve, reject });
      if (this.batch.length === 1) setImmediate(this.flush);
    });
  }

  private readonly flush = (): void => {
    const batch = this.batch;
    this.batch = [];
    this.rowsWritten = 0;
    let results: CommitResult[];
    try {
      results = this.commitBatch(batch);
    } catch (e) {
      for (const b of batch) b.reject(e);
      return;
    }
    if (this.checkpointer) this.checkpointer.committed(this.rowsWritten);
    else if ((this.untilCheckpointer -= batch.length) <= 0) this.startCheckpointer();
    batch.forEach((b, i) => {
      if (results[i]!.ok) {
        saved(b.room);
        this.remember(b.room);
      }
      b.resolve(results[i]!);
    });
  };

  async eventsSince(roomId: string, afterSeq: number, limit: number): Promise<EventRange> {
    const rows = this.q.eventsSince.all(roomId, afterSeq, limit) as { seq: number; at: number; data: string }[];
    const oldestSeq = (this.q.oldestSeq.get(roomId) as number | null) ?? 0;
    return { events: rows.map((r) => ({ seq: r.seq, at: r.at, event: JSON.parse(r.data) })), oldestSeq };
  }

  async listRooms(q: RoomListQuery): Promise<{ rooms: RoomSummary[]; total: number }> {
    // By metadata: the running rooms that have it, through the rooms_metadata index.
    const tagged = q.metadata !== undefined;
    const where = tagged ? [BY_METADATA] : ['app_id = ?', 'ended = 0'];
    const args: (string | number)[] = tagged ? [q.appId, q.metadata!] : [q.appId];
    if (!tagged && q.activeOnly) where.push('online > 0');
    if (!tagged && q.prefix) {
      // length() counts characters as substr() does (JavaScript's .length counts UTF-16 units).
      where.push('substr(room_uuid, 1, length(?)) = ?');
      args.push(q.prefix, q.prefix);
      // A printable ASCII prefix is also a range of the running-rooms index (bytes sort as characters
      // there): only that part of the app's rooms is read (the breakout sweep lists `breakout:` so).
      if (/^[\x20-\x7d]+$/.test(q.prefix)) {
        where.push('room_uuid >= ? AND room_uuid < ?');
        args.push(q.prefix, q.prefix.slice(0, -1) + String.fromCharCode(q.prefix.charCodeAt(q.prefix.length - 1) + 1));
      }
    }
    const clause = where.join(' AND ');
    const total = this.db.prepare(`SELECT COUNT(*) FROM rooms WHERE ${clause}`).pluck().get(...args) as number;
    const rows = this.db
      .prepare(
        `SELECT room_id AS roomId, room_uuid AS roomUuid, online, ended, start_time AS startTime FROM rooms
         WHERE ${clause} ORDER BY room_uuid LIMIT ? OFFSET ?`,
      )
      .all(...args, q.limit, q.offset) as (Omit<RoomSummary, 'ended'> & { ended: number })[];
    return { rooms: rows.map((r) => ({ ...r, ended: r.ended === 1 })), total };
  }

  async auditLog(roomId: string, after: number, limit: number): Promise<AuditEntry[]> {
    return this.audit.read(roomId, after, limit);
  }

  async activeRoomIds(): Promise<string[]> {
    return this.q.active.all() as string[];
  }

  async emptyRoomsSince(before: number): Promise<string[]> {
    return this.q.emptySince.all(before) as string[];
  }

  /**
   * One transaction per call: the caller keeps `limit` small so that commits wait for little. The
   * freed pages go to SQLite's free list and are reused by later rooms, so the file stops growing
   * (no VACUUM, which would rewrite the whole file under a lock).
   */
  async purgeEnded(endedBefore: number, limit: number): Promise<number> {
    if (limit <= 0) return 0;
    return this.purgeBatch(endedBefore, limit);
  }

  async getApp(appId: string): Promise<App | null> {
    // Checked once per event-loop turn, as for rooms (a PRAGMA per request was a tenth of room
    // info's time): an app or its credentials changed by another process (the CLI) is refused
    // from the next turn on, that is by every request that arrives after the change.
    this.checkOtherWriters();
    return this.apps.get(appId, this.dataVersion);
  }

  async putApp(app: App): Promise<void> {
    this.apps.put(app);
  }

  async deleteApp(appId: string): Promise<boolean> {
    return this.apps.delete(appId);
  }

  async listApps(owner: string | null): Promise<App[]> {
    return this.apps.list(owner);
  }

  async getAccessKey(accessKey: string): Promise<AccessKey | null> {
    return this.apps.getKey(accessKey);
  }

  async putAccessKey(key: AccessKey): Promise<void> {
    this.apps.putKey(key);
  }

  async listAccessKeys(): Promise<AccessKey[]> {
    return this.apps.listKeys();
  }

  async deleteAccessKey(accessKey: string): Promise<boolean> {
    return this.apps.deleteKey(accessKey);
  }

  async reserveUids(appId: string, count: number): Promise<number> {
    return this.apps.reserveUids(appId, count);
  }

  async getMeta(key: string): Promise<string | null> {
    return this.apps.getMeta(key);
  }

  async setMetaIfAbsent(key: string, value: string): Promise<string> {
    return this.apps.setMetaIfAbsent(key, value);
  }

  async ping(): Promise<void> {
    this.apps.getMeta('ping');
  }

  private startCheckpointer(): void {
    this.untilCheckpointer = Infinity;
    if (this.db.memory) return;
    this.checkpointer = startCheckpointer(this.db.name, () => {
      this.checkpointer = null;
      this.untilCheckpointer = CHECKPOINTER_AFTER;
    });
  }

  async close(): Promise<void> {
    if (this.batch.length > 0) this.flush();
    await this.checkpointer?.stop();
    this.cache.clear();
    if (this.db.open) this.db.close();
  }

  private remember(room: Room): void {
    this.cache.delete(room.roomId);
    const key = room.appId + KEY_SEP + room.roomUuid;
    if (room.ended) {
      if (this.runningIds.get(key) === room.roomId) this.runningIds.delete(key);
      return;
    }
    // Hints only: past a bound they are dropped and asked for again.
    if (this.runningIds.size >= 4 * this.cacheSize) this.runningIds.clear();
    this.runningIds.set(key, room.roomId);
    this.cache.set(room.roomId, room);
    if (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }
}

const KEY_SEP = '\u0000';

function roomWithoutMembers(room: Room): string {
  // A plain clone and an assignment (V8 is slow on a rest pattern); an undefined field is not written.
  const rest: Partial<Room> = { ...room };
  rest.members = undefined;
  return JSON.stringify(rest);
}
