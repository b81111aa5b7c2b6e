// The webhook outbox in SQLite: rows written by the room commits (same transaction), one lane per
// room and endpoint with its lease, and the dead letters. One server owns the file (its lock), so
// leases only guard against this process's own overlapping claims and a crashed predecessor's.
import type Database from 'better-sqlite3';
import { BUSY_LANE_DEFER_MS, type ClaimedLane, type DeadLetter, type Lane, type OutboxRow, type PendingDelivery, type WebhookOutbox } from '../store.ts';

export const OUTBOX_SCHEMA = `
-- Deliveries not yet made, per room and endpoint in (seq, idx) order; deleted once delivered.
CREATE TABLE IF NOT EXISTS webhook_outbox (
  room_id     TEXT NOT NULL,
  endpoint_id TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  idx         INTEGER NOT NULL,
  app_id      TEXT NOT NULL,
  id          TEXT NOT NULL,
  payload     TEXT NOT NULL,
  attempts    INTEGER NOT NULL DEFAULT 0,
  last_error  TEXT,
  PRIMARY KEY (room_id, endpoint_id, seq, idx)
) WITHOUT ROWID;
-- One lane per (room, endpoint) with rows: when its head is due, and who holds it.
CREATE TABLE IF NOT EXISTS webhook_lanes (
  room_id     TEXT NOT NULL,
  endpoint_id TEXT NOT NULL,
  app_id      TEXT NOT NULL,
  due_at      INTEGER NOT NULL,
  token       TEXT,
  PRIMARY KEY (room_id, endpoint_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS webhook_lanes_due ON webhook_lanes(due_at);
CREATE TABLE IF NOT EXISTS webhook_dead (
  app_id      TEXT NOT NULL,
  endpoint_id TEXT NOT NULL,
  room_id     TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  idx         INTEGER NOT NULL,
  id          TEXT NOT NULL,
  payload     TEXT NOT NULL,
  attempts    INTEGER NOT NULL,
  last_error  TEXT,
  dead_at     INTEGER NOT NULL,
  PRIMARY KEY (app_id, endpoint_id, room_id, seq, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS webhook_dead_room ON webhook_dead(room_id);
`;

/** Lanes looked at per claim, at most: those of busy endpoints are passed over. */
const CLAIM_SCAN = 500;

interface Row {
  room_id: string;
  endpoint_id: string;
  seq: number;
  idx: number;
  app_id: string;
  id: string;
  payload: string;
  attempts: number;
  last_error: string | null;
  dead_at?: number;
}

function delivery(r: Row): PendingDelivery {
  return {
    appId: r.app_id,
    roomId: r.room_id,
    endpointId: r.endpoint_id,
    id: r.id,
    seq: r.seq,
    idx: r.idx,
    payload: r.payload,
    attempts: r.attempts,
    lastError: r.last_error,
  };
}

export class SqliteOutbox implements WebhookOutbox {
  private readonly q;
  private readonly tx;

  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number = Date.now,
  ) {
    this.q = {
      insertRow: db.prepare(
        'INSERT OR REPLACE INTO webhook_outbox (room_id, endpoint_id, seq, idx, app_id, id, payload, attempts, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      // A lane already waiting (retry time, lease) keeps its due time.
      openLane: db.prepare('INSERT INTO webhook_lanes (room_id, endpoint_id, app_id, due_at, token) VALUES (?, ?, ?, ?, NULL) ON CONFLICT DO NOTHING'),
      dueLanes: db.prepare('SELECT room_id, endpoint_id, app_id, token FROM webhook_lanes WHERE due_at <= ? ORDER BY due_at LIMIT ?'),
      lane: db.prepare('SELECT token FROM webhook_lanes WHERE room_id = ? AND endpoint_id = ?').pluck(),
      head: db.prepare('SELECT * FROM webhook_outbox WHERE room_id = ? AND endpoint_id = ? ORDER BY seq, idx LIMIT 1'),
      lease: db.prepare('UPDATE webhook_lanes SET due_at = ?, token = ? WHERE room_id = ? AND endpoint_id = ?'),
      defer: db.prepare('UPDATE webhook_lanes SET due_at = ? WHERE room_id = ? AND endpoint_id = ?'),
      closeLane: db.prepare('DELETE FROM webhook_lanes WHERE room_id = ? AND endpoint_id = ?'),
      deleteRow: db.prepare('DELETE FROM webhook_outbox WHERE room_id = ? AND endpoint_id = ? AND seq = ? AND idx = ?'),
      failed: db.prepare('UPDATE webhook_outbox SET attempts = ?, last_error = ? WHERE room_id = ? AND endpoint_id = ? AND seq = ? AND idx = ?'),
      release: db.prepare('UPDATE webhook_lanes SET due_at = ?, token = NULL WHERE room_id = ? AND endpoint_id = ? AND token = ?'),
      dropRows: db.prepare('DELETE FROM webhook_outbox WHERE room_id = ? AND endpoint_id = ?'),
      recover: db.prepare('UPDATE webhook_lanes SET token = NULL, due_at = MIN(due_at, ?) WHERE token IS NOT NULL'),
      bury: db.prepare(
        `INSERT OR REPLACE INTO webhook_dead (app_id, endpoint_id, room_id, seq, idx, id, payload, attempts, last_error, dead_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      deadOfApp: db.prepare('SELECT * FROM webhook_dead WHERE app_id = ? ORDER BY dead_at, room_id, seq, idx LIMIT ?'),
      deadOfEndpoint: db.prepare('SELECT * FROM webhook_dead WHERE app_id = ? AND endpoint_id = ? ORDER BY dead_at, room_id, seq, idx LIMIT ?'),
      unbury: db.prepare('DELETE FROM webhook_dead WHERE app_id = ? AND endpoint_id = ? AND room_id = ? AND seq = ? AND idx = ?'),
      forget: db.prepare('DELETE FROM webhook_dead WHERE app_id = ? AND endpoint_id = ?'),
      purgeRows: db.prepare('DELETE FROM webhook_outbox WHERE room_id = ?'),
      purgeLanes: db.prepare('DELETE FROM webhook_lanes WHERE room_id = ?'),
      purgeDead: db.prepare('DELETE FROM webhook_dead WHERE room_id = ?'),
      waiting: db.prepare('SELECT COUNT(*) FROM webhook_outbox').pluck(),
      waitingFor: db.prepare('SELECT COUNT(*) FROM webhook_outbox WHERE endpoint_id = ?').pluck(),
    };
    const tx = <A extends unknown[], R>(fn: (...args: A) => R) => {
      const t = db.transaction(fn);
      return (...args: A): R => t.immediate(...args);
    };
    this.tx = {
      claim: tx((token: string, leaseMs: number, limit: number, perEndpoint: number, busy: ReadonlyMap<string, number>, caps: ReadonlyMap<string, number>): ClaimedLane[] => {
        const now = this.now();
        const out: ClaimedLane[] = [];
        const taken = new Map<string, number>();
        for (const l of this.q.dueLanes.all(now, CLAIM_SCAN) as { room_id: string; endpoint_id: string; app_id: string }[]) {
          if (out.length >= limit) break;
          const endpoint = `${l.app_id}/${l.endpoint_id}`;
          const running = (busy.get(endpoint) ?? 0) + (taken.get(endpoint) ?? 0);
          if (running >= (caps.get(l.endpoint_id) ?? perEndpoint)) {
            this.q.defer.run(now + BUSY_LANE_DEFER_MS, l.room_id, l.endpoint_id);
            continue;
          }
          const head = this.q.head.get(l.room_id, l.endpoint_id) as Row | undefined;
          if (!head) {
            this.q.closeLane.run(l.room_id, l.endpoint_id);
            continue;
          }
          this.q.lease.run(now + leaseMs, token, l.room_id, l.endpoint_id);
          taken.set(endpoint, (taken.get(endpoint) ?? 0) + 1);
          out.push({ appId: l.app_id, endpointId: l.endpoint_id, roomId: l.room_id, token, head: delivery(head) });
        }
        return out;
      }),
      advance: tx((lane: Lane, token: string, head: PendingDelivery, dead: { attempts: number; error: string } | null, leaseMs: number) => {
        if (this.q.lane.get(lane.roomId, lane.endpointId) !== token) return 'lost' as const;
        const now = this.now();
        if (dead) {
          this.q.bury.run(lane.appId, lane.endpointId, lane.roomId, head.seq, head.idx, head.id, head.payload, dead.attempts, dead.error, now);
        }
        this.q.deleteRow.run(lane.roomId, lane.endpointId, head.seq, head.idx);
        const next = this.q.head.get(lane.roomId, lane.endpointId) as Row | undefined;
        if (!next) {
          this.q.closeLane.run(lane.roomId, lane.endpointId);
          return null;
        }
        this.q.lease.run(now + leaseMs, token, lane.roomId, lane.endpointId);
        return delivery(next);
      }),
      retry: tx((lane: Lane, token: string, head: PendingDelivery, attempts: number, error: string, delayMs: number) => {
        if (this.q.lane.get(lane.roomId, lane.endpointId) !== token) return false;
        this.q.failed.run(attempts, error, lane.roomId, lane.endpointId, head.seq, head.idx);
        this.q.release.run(this.now() + delayMs, lane.roomId, lane.endpointId, token);
        return true;
      }),
      drop: tx((lane: Lane, token: string) => {
        if (this.q.lane.get(lane.roomId, lane.endpointId) !== token) return 0;
        const n = this.q.dropRows.run(lane.roomId, lane.endpointId).changes;
        this.q.closeLane.run(lane.roomId, lane.endpointId);
        return n;
      }),
      resend: tx((appId: string, endpointId: string | null, ids: string[] | null) => {
        const rows = (endpointId === null ? this.q.deadOfApp.all(appId, -1) : this.q.deadOfEndpoint.all(appId, endpointId, -1)) as Row[];
        const wanted = ids === null ? null : new Set(ids);
        const now = this.now();
        let n = 0;
        for (const r of rows) {
          if (wanted && !wanted.has(r.id)) continue;
          this.q.insertRow.run(r.room_id, r.endpoint_id, r.seq, r.idx, r.app_id, r.id, r.payload, 0, null);
          this.q.openLane.run(r.room_id, r.endpoint_id, r.app_id, now);
          this.q.unbury.run(r.app_id, r.endpoint_id, r.room_id, r.seq, r.idx);
          n++;
        }
        return n;
      }),
    };
  }

  /** The rows of one commit: called inside the room's commit transaction. */
  write(appId: string, roomId: string, rows: OutboxRow[]): void {
    const opened = new Set<string>();
    for (const r of rows) {
      this.q.insertRow.run(roomId, r.endpointId, r.seq, r.idx, appId, r.id, r.payload, 0, null);
      if (!opened.has(r.endpointId)) {
        opened.add(r.endpointId);
        this.q.openLane.run(roomId, r.endpointId, appId, 0);
      }
    }
  }

  /** Everything of a room being purged: called inside the purge transaction. */
  purgeRoom(roomId: string): void {
    this.q.purgeRows.run(roomId);
    this.q.purgeLanes.run(roomId);
    this.q.purgeDead.run(roomId);
  }

  async claim(token: string, leaseMs: number, limit: number, perEndpoint: number, busy: ReadonlyMap<string, number>, caps: ReadonlyMap<string, number> = new Map()): Promise<ClaimedLane[]> {
    if (limit <= 0) return [];
    return this.tx.claim(token, leaseMs, limit, perEndpoint, busy, caps);
  }

  async advance(lane: Lane, token: string, head: PendingDelivery, dead: { attempts: number; error: string } | null, leaseMs: number) {
    return this.tx.advance(lane, token, head, dead, leaseMs);
  }

  async retry(lane: Lane, token: string, head: PendingDelivery, attempts: number, error: string, delayMs: number): Promise<boolean> {
    return this.tx.retry(lane, token, head, attempts, error, delayMs);
  }

  async release(lane: Lane, token: string): Promise<void> {
    this.q.release.run(this.now(), lane.roomId, lane.endpointId, token);
  }

  async drop(lane: Lane, token: string): Promise<number> {
    return this.tx.drop(lane, token);
  }

  async recover(): Promise<void> {
    this.q.recover.run(this.now());
  }

  async dead(appId: string, endpointId: string | null, limit: number): Promise<DeadLetter[]> {
    const rows = (endpointId === null ? this.q.deadOfApp.all(appId, limit) : this.q.deadOfEndpoint.all(appId, endpointId, limit)) as Row[];
    return rows.map((r) => ({ ...delivery(r), deadAt: r.dead_at! }));
  }

  async resend(appId: string, endpointId: string | null, ids: string[] | null): Promise<number> {
    return this.tx.resend(appId, endpointId, ids);
  }

  async forget(appId: string, endpointId: string): Promise<number> {
    return this.q.forget.run(appId, endpointId).changes;
  }

  async waiting(endpointId?: string): Promise<number> {
    return (endpointId === undefined ? this.q.waiting.get() : this.q.waitingFor.get(endpointId)) as number;
  }
}
