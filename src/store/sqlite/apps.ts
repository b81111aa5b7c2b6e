// The embedded store's small tables beside the rooms: the apps (read on every client-API request,
// kept parsed), the admin access keys, the apps' uid counters and the meta values. Their tables are
// in schema.ts; the store (store.ts) checks for other writers and says which data version it saw.
import type Database from 'better-sqlite3';
import { checkUidCount, webhookStamp, type AccessKey, type App } from '../store.ts';

type KeyRow = Omit<AccessKey, 'operator'> & { operator: number };

export class SqliteApps {
  /** Apps by id, dropped whole when another process has written (the data version moved). */
  private readonly apps = new Map<string, App | null>();
  private appsVersion = -1;
  /** Apps' webhook stamps as stored, valid while no other connection has written (data_version). */
  private readonly stamps = new Map<string, string>();
  private stampsVersion = -1;
  private readonly q;

  constructor(
    db: Database.Database,
    private readonly cacheSize: number,
  ) {
    this.q = {
      getApp: db.prepare('SELECT data FROM apps WHERE app_id = ?').pluck(),
      stamp: db.prepare('SELECT webhooks_stamp FROM apps WHERE app_id = ?').pluck(),
      putApp: db.prepare(
        `INSERT INTO apps (app_id, owner, data, webhooks_stamp) VALUES (?, ?, ?, ?) ON CONFLICT(app_id)
         DO UPDATE SET owner = excluded.owner, data = excluded.data, webhooks_stamp = excluded.webhooks_stamp`,
      ),
      deleteApp: db.prepare('DELETE FROM apps WHERE app_id = ?'),
      allApps: db.prepare('SELECT data FROM apps ORDER BY rowid').pluck(),
      ownedApps: db.prepare('SELECT data FROM apps WHERE owner = ? OR owner IS NULL ORDER BY rowid').pluck(),
      getKey: db.prepare('SELECT access_key AS accessKey, secret_key AS secretKey, created_at AS createdAt, operator FROM access_keys WHERE access_key = ?'),
      putKey: db.prepare('INSERT OR REPLACE INTO access_keys (access_key, secret_key, created_at, operator) VALUES (?, ?, ?, ?)'),
      allKeys: db.prepare('SELECT access_key AS accessKey, secret_key AS secretKey, created_at AS createdAt, operator FROM access_keys ORDER BY created_at'),
      deleteKey: db.prepare('DELETE FROM access_keys WHERE access_key = ?'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      insertMeta: db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)'),
      // One statement: atomic against every other connection on the file (the CLI, a second server).
      reserveUids: db
        .prepare('INSERT INTO uid_counters (app_id, last) VALUES (?, ?) ON CONFLICT(app_id) DO UPDATE SET last = last + excluded.last RETURNING last')
        .pluck(),
    };
  }

  /** The app as stored at data version `version` (the store's, checked this turn). */
  get(appId: string, version: number): App | null {
    if (version !== this.appsVersion) {
      this.apps.clear();
      this.appsVersion = version;
    }
    const hit = this.apps.get(appId);
    if (hit !== undefined) return hit;
    const data = this.q.getApp.get(appId) as string | undefined;
    const app = data === undefined ? null : (JSON.parse(data) as App);
    // Callers never mutate an app (they copy to change one), so one object can be shared.
    if (this.apps.size >= this.cacheSize) this.apps.clear();
    this.apps.set(appId, app);
    return app;
  }

  put(app: App): void {
    const stamp = webhookStamp(app);
    this.q.putApp.run(app.appId, app.owner, JSON.stringify(app), stamp);
    this.apps.delete(app.appId);
    this.stamps.set(app.appId, stamp);
  }

  delete(appId: string): boolean {
    this.apps.delete(appId);
    this.stamps.set(appId, '');
    return this.q.deleteApp.run(appId).changes > 0;
  }

  list(owner: string | null): App[] {
    const rows = (owner === null ? this.q.allApps.all() : this.q.ownedApps.all(owner)) as string[];
    return rows.map((r) => JSON.parse(r) as App);
  }

  /**
   * A write transaction starts at data version `version`: the stamps are read in it, and no other
   * connection can change one before it commits, so a commit is checked against the stamp in force.
   */
  writingAt(version: number): void {
    if (version === this.stampsVersion) return;
    this.stamps.clear();
    this.stampsVersion = version;
  }

  /** The app's stored webhook stamp (in a write transaction: see writingAt). */
  stampOf(appId: string): string {
    let stamp = this.stamps.get(appId);
    if (stamp === undefined) {
      stamp = (this.q.stamp.get(appId) as string | undefined) ?? '';
      if (this.stamps.size >= this.cacheSize) this.stamps.clear();
      this.stamps.set(appId, stamp);
    }
    return stamp;
  }

  getKey(accessKey: string): AccessKey | null {
    const row = this.q.getKey.get(accessKey) as KeyRow | undefined;
    return row ? keyOf(row) : null;
  }

  putKey(key: AccessKey): void {
    this.q.putKey.run(key.accessKey, key.secretKey, key.createdAt, key.operator ? 1 : 0);
  }

  listKeys(): AccessKey[] {
    return (this.q.allKeys.all() as KeyRow[]).map(keyOf);
  }

  deleteKey(accessKey: string): boolean {
    return this.q.deleteKey.run(accessKey).changes > 0;
  }

  /** The first of `count` uids new to the app (see RoomStore.reserveUids). */
  reserveUids(appId: string, count: number): number {
    checkUidCount(count);
    const last = this.q.reserveUids.get(appId, count) as number;
    return last - count + 1;
  }

  getMeta(key: string): string | null {
    return (this.q.getMeta.get(key) as string | undefined) ?? null;
  }

  setMetaIfAbsent(key: string, value: string): string {
    this.q.insertMeta.run(key, value);
    return this.q.getMeta.get(key) as string;
  }
}

/** A key as stored: `operator` only where it is granted (as AccessKey leaves it absent otherwise). */
function keyOf({ operator, ...key }: KeyRow): AccessKey {
  return operator === 1 ? { ...key, operator: true } : key;
}
