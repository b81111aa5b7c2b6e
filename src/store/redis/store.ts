// The clustered store: every node's RoomStore on Redis (one server, Sentinel, or a Cluster). Each
// call is one round trip (a Lua script where it reads or writes more than one key), and a commit is
// one atomic script, so nodes never see half a commit and exactly one of two racing writers wins a
// version.
import type { LoggedEvent } from '../../domain/events.ts';
import type { AuditEntry } from '../../domain/audit.ts';
import { changedPositions, onlineCount, saved, type Member, type Room } from '../../domain/room.ts';
import { checkUidCount, webhookStamp, type AccessKey, type App, type CommitOutbox, type CommitResult, type EventRange, type RoomListQuery, type RoomStore, type RoomSummary } from '../store.ts';
import { unavailableOnConnectionError as guard, type RedisClient } from './connection.ts';
import { FORMAT_FIELD, formatOf, readable, refusedFormat, StoreFormatError } from './format.ts';
import { laneOf, RedisOutbox } from './outbox.ts';
import { ReplicaWaits } from './replicas.ts';
import { ConfirmedMarks } from './confirmed.ts';
import { singleSlice, type Slices } from './slices.ts';
import { metadataTag, RoomIndexes } from './indexes.ts';
import * as lua from './scripts.ts';

export interface RedisStoreOptions {
  /** A client made by connectRedis (no keyPrefix: the store prefixes its keys itself). */
  redis: RedisClient;
  /** Starts every key, so that several deployments (or test runs) share one Redis. */
  prefix?: string;
  /** Where the keys live (see slices.ts): one slice under `prefix` by default (a single Redis). */
  slices?: Slices;
  /** Events kept per room; older ones are dropped (a resume from before them gets a snapshot). */
  eventRetention?: number;
  /** Rooms kept parsed in memory; every load still asks Redis for the current version. */
  cacheSize?: number;
  /** close() quits the client only when the store owns it. */
  ownsClient?: boolean;
  /** Replicas that must have a write before it is acknowledged (WAIT; see replicas.ts); 0: none. */
  minReplicas?: number;
  /** How long a write waits for them, ms. */
  replicaTimeoutMs?: number;
}

type ScriptCall = (...args: string[]) => Promise<unknown>;

/** loadRoom's answer (see scripts.ts): the version and the confirmed one, alone or with the room and all or some members. */
type LoadReply = null | [string, string] | [string, string, string, string, 'F' | 'D', (string | null)[]];

export class RedisStore implements RoomStore {
  private readonly redis: RedisClient;
  private readonly slices: Slices;
  private readonly retention: number;
  private readonly cacheSize: number;
  private readonly ownsClient: boolean;
  /** Rooms by id, each the stored state at its version: a version names one state forever. */
  private readonly cache = new Map<string, Room>();
  /** `appId\0roomUuid` → roomId of cached running rooms, so findRunningRoom can name its cached version. */
  private readonly runningIds = new Map<string, string>();
  readonly outbox: RedisOutbox;
  private readonly indexes: RoomIndexes;
  private readonly replicas: ReplicaWaits | null;
  /** A room hash's marks of what the replicas have (version v → cv, seq s → cs; see confirmed.ts). */
  private readonly confirmed: ConfirmedMarks | null;
  /** See RoomStore.reconnections (the store is made on a connection already ready: 0 at first). */
  reconnections = 0;
  private readonly scripts: Record<
    | 'load'
    | 'findRunning'
    | 'commit'
    | 'eventsSince'
    | 'listRooms'
    | 'purgeEnded'
    | 'indexEnded'
    | 'putApp'
    | 'deleteApp'
    | 'listApps'
    | 'setMetaIfAbsent',
    ScriptCall
  >;

  constructor(opts: RedisStoreOptions) {
    if (opts.redis.options.keyPrefix) throw new Error('RedisStore prefixes its keys itself: give it a client without keyPrefix');
    this.redis = opts.redis;
    this.slices = opts.slices ?? singleSlice(opts.prefix ?? 'convene:');
    this.retention = opts.eventRetention ?? 10_000;
    if (!Number.isInteger(this.retention) || this.retention < 1) throw new Error('eventRetention must be a positive integer');
    this.cacheSize = opts.cacheSize ?? 10_000;
    this.ownsClient = opts.ownsClient ?? false;
    const define = (name: string, numberOfKeys: number, source: string): ScriptCall => {
      // ioredis sends EVALSHA, and the source once per connection or after NOSCRIPT (a restarted Redis).
      this.redis.defineCommand(name, { numberOfKeys, lua: source });
      const fn = (this.redis as unknown as Record<string, ScriptCall>)[name]!;
      return (...args) => fn.apply(this.redis, args);
    };
    this.scripts = {
      load: define('conveneLoadRoom', 3, lua.LOAD),
      findRunning: define('conveneFindRunning', 1, lua.FIND_RUNNING),
      commit: define('conveneCommit', 12, lua.COMMIT),
      eventsSince: define('conveneEventsSince', 2, lua.EVENTS_SINCE),
      listRooms: define('conveneListRooms', 1, lua.LIST_ROOMS),
      purgeEnded: define('convenePurgeEnded', 1, lua.PURGE_ENDED),
      indexEnded: define('conveneIndexEnded', 1, lua.INDEX_ENDED),
      putApp: define('convenePutApp', 4, lua.PUT_APP),
      deleteApp: define('conveneDeleteApp', 3, lua.DELETE_APP),
      listApps: define('conveneListApps', 2, lua.LIST_APPS),
      setMetaIfAbsent: define('conveneSetMetaIfAbsent', 1, lua.SET_META_IF_ABSENT),
    };
    const min = opts.minReplicas ?? 0;
    this.replicas = min > 0 ? new ReplicaWaits(this.redis, min, opts.replicaTimeoutMs ?? 1_000) : null;
    this.confirmed = this.replicas && new ConfirmedMarks(this.redis, this.replicas, ['v', 's'], ['cv', 'cs']);
    this.outbox = new RedisOutbox(this.redis, this.slices, this.replicas);
    this.indexes = new RoomIndexes(this.redis, this.slices, this.scripts);
    // A connection made again may reach another server (Sentinel promoted a replica) that lacks the
    // last writes this node saw: a cached version may then name a state that no longer exists.
    const reconnected = () => {
      this.reconnections++;
      this.cache.clear();
      this.runningIds.clear();
    };
    this.redis.on('ready', reconnected);
    // On a Cluster, a master lost (and its replica promoted) leaves the client's pool: the same.
    if (this.redis.isCluster) this.redis.on('-node', reconnected);
  }

  /**
   * A write acknowledged only once the replicas asked for have it (CONVENE_REDIS_MIN_REPLICAS), so
   * that a promoted replica cannot lack it; otherwise the retryable StoreUnavailableError.
   */
  private written<T>(keys: string[], fn: () => Promise<T>): Promise<T> {
    return guard(async () => {
      const result = await fn();
      await this.replicas?.confirm(keys);
      return result;
    });
  }

  /** Keys naming every master a write to all slices reaches (on a single Redis, the one). */
  private get everySlice(): string[] {
    return [this.slices.global, ...this.slices.prefixes].map((p) => `${p}wh:stamps`);
  }

  private roomKeys(roomId: string): [room: string, members: string, changes: string] {
    const p = this.slices.ofRoom(roomId);
    return [`${p}room:${roomId}`, `${p}members:${roomId}`, `${p}changes:${roomId}`];
  }

  /** A call on one room, whose scripts refuse a room written in a format this release cannot read. */
  private onRoom<T>(where: string, fn: () => Promise<T>): Promise<T> {
    return guard(() =>
      fn().catch((err: unknown) => {
        throw refusedFormat(err, where);
      }),
    );
  }

  /**
   * Checks that this release reads the deployment's format (see format.ts), and marks a deployment
   * made before the marker existed (by 0.1.0 or before: format 1, as a new one starts).
   */
  async checkFormat(where: string): Promise<void> {
    const marker = (await this.getMeta(FORMAT_FIELD)) ?? (await this.setMetaIfAbsent(FORMAT_FIELD, String(formatOf(null))));
    if (!readable(marker)) throw new StoreFormatError(marker, where);
  }

  newRoomId(appId: string, roomUuid: string): string {
    return this.slices.newRoomId(appId, roomUuid);
  }

  loadRoom(roomId: string): Promise<Room | null> {
    return this.onRoom(`room ${roomId}`, async () => {
      const cached = this.cache.get(roomId);
      const reply = (await this.scripts.load(...this.roomKeys(roomId), cached ? String(cached.version) : '0')) as LoadReply;
      return this.served(roomId, reply, cached);
    });
  }

  isCurrent(room: Room): boolean {
    return this.cache.get(room.roomId) === room;
  }

  findRunningRoom(appId: string, roomUuid: string): Promise<Room | null> {
    return this.onRoom(`the running room ${roomUuid} of app ${appId}`, async () => {
      const guessId = this.runningIds.get(`${appId}\0${roomUuid}`);
      const guess = guessId === undefined ? undefined : this.cache.get(guessId);
      const reply = (await this.scripts.findRunning(
        `${this.slices.ofKey(appId, roomUuid)}running:${appId}`,
        this.slices.ofKey(appId, roomUuid),
        roomUuid,
        guess?.roomId ?? '',
        guess ? String(guess.version) : '0',
      )) as null | [string, LoadReply];
      if (reply === null) return null;
      const [roomId, load] = reply;
      return this.served(roomId, load, roomId === guess?.roomId ? guess : undefined);
    });
  }

  /** The room a load script answered, once the replicas are known to have it (see confirmed.ts). */
  private async served(roomId: string, reply: LoadReply, cached: Room | undefined): Promise<Room | null> {
    let room = this.roomFrom(roomId, reply, cached);
    if (room === undefined) {
      // A second try with no cached base, for the (unexpected) case where a partial load left a gap.
      reply = (await this.scripts.load(...this.roomKeys(roomId), '0')) as LoadReply;
      room = this.roomFrom(roomId, reply, undefined);
      if (room === undefined) throw new Error(`room ${roomId} is damaged in Redis: members are missing`);
    }
    if (room && this.confirmed) {
      try {
        await this.confirmed.upTo(this.roomKeys(roomId)[0], room.version, Number(reply![1]));
      } catch (err) {
        this.forget(roomId);
        throw err;
      }
    }
    return room;
  }

  /** The room a load script answered; undefined when the members it sent do not complete the cached ones. */
  private roomFrom(roomId: string, reply: LoadReply, cached: Room | undefined): Room | null | undefined {
    if (reply === null) {
      this.forget(roomId);
      return null;
    }
    if (reply.length === 2) {
      if (!cached || String(cached.version) !== reply[0]) throw new Error(`Redis answered version ${reply[0]} of room ${roomId} without its state`);
      this.remember(cached);
      return cached;
    }
    const [, , data, count, mode, pairs] = reply;
    const room = JSON.parse(data) as Room;
    const n = Number(count);
    // Members not sent are unchanged since the cached version: their objects are shared with it.
    const members: Member[] = mode === 'D' && cached ? cached.members.slice(0, n) : [];
    members.length = n;
    for (let i = 0; i < pairs.length; i += 2) {
      const index = Number(pairs[i]);
      const json = pairs[i + 1];
      if (index < n && json) members[index] = JSON.parse(json) as Member;
    }
    for (let i = 0; i < n; i++) if (members[i] === undefined) return undefined;
    room.members = members;
    this.remember(room);
    return room;
  }

  commit(room: Room, expectedVersion: number, events: LoggedEvent[], outbox?: CommitOutbox, audit?: AuditEntry[]): Promise<CommitResult> {
    return this.onRoom(`room ${room.roomId}`, async () => {
      // Members are immutable once stored (decisions copy on write): against the version this
      // store last saw, only new member objects are sent. Without that base, all are.
      // The draft names what changed since the version it was made from (checked by the script),
      // so a commit in a room of thousands sends a few members without a pass over all of them.
      const changed = changedPositions(room);
      const prev = this.cache.get(room.roomId);
      const base = changed ? null : prev && prev.version === expectedVersion ? prev.members : null;
      const partial = changed !== null || base !== null;
      const memberArgs: string[] = [];
      if (changed) {
        for (const i of changed) if (i < room.members.length) memberArgs.push(String(i), JSON.stringify(room.members[i]));
      } else {
        room.members.forEach((m, i) => {
          if (!base || base[i] !== m) memberArgs.push(String(i), JSON.stringify(m));
        });
      }
      const online = onlineCount(room);
      const eventArgs: string[] = [];
      for (const e of events) eventArgs.push(String(e.seq), JSON.stringify({ seq: e.seq, at: e.at, event: e.event }));
      // Scores travel as strings: Lua would print a large number with 14 digits only.
      const rows = (outbox?.rows ?? []).map((r) => {
        const lane = laneOf({ appId: room.appId, endpointId: r.endpointId, roomId: room.roomId });
        const row = { ...r, appId: room.appId, roomId: room.roomId, attempts: 0, lastError: null };
        return [lane, r.id, String(r.seq * lua.LANE_SCORE_IDX + r.idx), JSON.stringify(row)];
      });
      const p = this.slices.ofRoom(room.roomId);
      // The running-room index the script checks is the slice of (app, roomUuid): a room made with an
      // id from elsewhere than newRoomId would be found by neither (one slice: always the same).
      if (expectedVersion === 0 && p !== this.slices.ofKey(room.appId, room.roomUuid)) throw new Error(`room ${room.roomId}: its id was not drawn by newRoomId for this store`);
      const [roomKey, membersKey, changesKey] = this.roomKeys(room.roomId);
      const result = await this.scripts.commit(
        roomKey,
        membersKey,
        `${p}events:${room.roomId}`,
        changesKey,
        `${p}running:${room.appId}`,
        `${p}active`,
        `${p}empty`,
        `${p}listed:${room.appId}`,
        `${p}listed-active:${room.appId}`,
        `${p}ended`,
        `${p}wh:stamps`,
        `${p}wh:due`,
        room.roomId,
        String(expectedVersion),
        String(room.version),
        String(room.seq),
        room.appId,
        room.roomUuid,
        room.ended ? '1' : '0',
        String(online),
        room.emptySince === null ? '' : String(room.emptySince),
        String(room.startTime),
        roomWithoutMembers(room),
        String(room.members.length),
        String(this.retention),
        partial ? '0' : '1',
        String(memberArgs.length / 2),
        // A meeting ended without an end time (none should be) is kept for the retention from now.
        room.ended ? String(room.endedAt ?? Date.now()) : '',
        outbox ? '1' : '0',
        outbox?.stamp ?? '',
        rows.length > 0 ? JSON.stringify(rows) : '',
        p,
        metadataTag(room.metadata),
        audit ? JSON.stringify(audit.map((e) => JSON.stringify(e))) : '',
        ...memberArgs,
        ...eventArgs,
      );
      if (result === 'ok') {
        if (this.replicas) {
          // Until the replicas confirm it, this version may yet be lost to a failover: not a base.
          this.cache.delete(room.roomId);
          await this.replicas.confirm([roomKey]);
          this.confirmed!.raise(roomKey, [room.version, room.seq]);
        }
        saved(room);
        this.remember(room);
        return { ok: true };
      }
      if (result === 'webhooksChanged') await this.restamp(room.appId, room.roomId);
      if (result === 'conflict' || result === 'duplicateRoom' || result === 'webhooksChanged') return { ok: false, reason: result };
      throw new Error(`unexpected commit answer from Redis: ${String(result)}`);
    });
  }

  eventsSince(roomId: string, afterSeq: number, limit: number): Promise<EventRange> {
    return guard(async () => {
      const [roomKey] = this.roomKeys(roomId);
      const [oldest, page, confirmedSeq] = (await this.scripts.eventsSince(`${this.slices.ofRoom(roomId)}events:${roomId}`, roomKey, String(afterSeq), String(limit))) as [string, string[], string];
      const events = page.map((e) => JSON.parse(e) as LoggedEvent);
      if (this.confirmed && events.length > 0) await this.confirmed.upTo(roomKey, events[events.length - 1]!.seq, Number(confirmedSeq));
      return { events, oldestSeq: Number(oldest) };
    });
  }

  auditLog(roomId: string, after: number, limit: number): Promise<AuditEntry[]> {
    return guard(async () => {
      const [roomKey] = this.roomKeys(roomId);
      const page = await this.redis.lrange(`${this.slices.ofRoom(roomId)}audit:${roomId}`, after, after + limit - 1);
      const entries = page.map((e) => JSON.parse(e) as AuditEntry);
      // The mark read after the page (one raised since only covers more); an entry past it is confirmed first.
      if (this.confirmed && entries.length > 0) await this.confirmed.upTo(roomKey, entries[entries.length - 1]!.seq, Number((await this.redis.hget(roomKey, 'cs')) ?? 0));
      return entries;
    });
  }

  listRooms(q: RoomListQuery): Promise<{ rooms: RoomSummary[]; total: number }> {
    return guard(() => this.indexes.list(q));
  }

  activeRoomIds(): Promise<string[]> {
    return guard(() => this.indexes.active());
  }

  emptyRoomsSince(before: number): Promise<string[]> {
    return guard(() => this.indexes.emptySince(before));
  }

  purgeEnded(endedBefore: number, limit: number): Promise<number> {
    return guard(async () => {
      if (limit <= 0) return 0;
      const ids = await this.indexes.purgeEnded(endedBefore, limit);
      for (const id of ids) this.forget(id);
      return ids.length;
    });
  }

  getApp(appId: string): Promise<App | null> {
    return guard(async () => {
      const json = await this.redis.hget(`${this.slices.global}apps`, appId);
      return json === null ? null : (JSON.parse(json) as App);
    });
  }

  putApp(app: App): Promise<void> {
    return this.written(this.everySlice, async () => {
      const p = this.slices.global;
      const stamp = webhookStamp(app);
      await this.scripts.putApp(`${p}apps`, `${p}apps-order`, `${p}apps-counter`, `${p}wh:stamps`, app.appId, JSON.stringify(app), stamp);
      await this.stampSlices(app.appId, stamp);
    });
  }

  deleteApp(appId: string): Promise<boolean> {
    return this.written(this.everySlice, async () => {
      const p = this.slices.global;
      const existed = (await this.scripts.deleteApp(`${p}apps`, `${p}apps-order`, `${p}wh:stamps`, appId)) === 1;
      await this.stampSlices(appId, '');
      return existed;
    });
  }

  /**
   * On a Cluster every slice keeps its own copy of the apps' webhook stamps (a commit checks its
   * slice's, in its script), set after the app; one left behind by a stop in between is set again
   * by the first commit it refuses (see commit). On a single Redis the one copy is the app script's.
   */
  private async stampSlices(appId: string, stamp: string): Promise<void> {
    const slices = this.slices.prefixes.filter((p) => p !== this.slices.global);
    await Promise.all(slices.map((p) => (stamp === '' ? this.redis.hdel(`${p}wh:stamps`, appId) : this.redis.hset(`${p}wh:stamps`, appId, stamp))));
  }

  /** A commit refused for its webhook stamp: the slice's copy is made the app's again (see stampSlices). */
  private async restamp(appId: string, roomId: string): Promise<void> {
    const p = this.slices.ofRoom(roomId);
    if (p === this.slices.global) return;
    const app = await this.getApp(appId);
    const stamp = app ? webhookStamp(app) : '';
    await (stamp === '' ? this.redis.hdel(`${p}wh:stamps`, appId) : this.redis.hset(`${p}wh:stamps`, appId, stamp));
  }

  listApps(owner: string | null): Promise<App[]> {
    return guard(async () => {
      const rows = (await this.scripts.listApps(`${this.slices.global}apps`, `${this.slices.global}apps-order`)) as string[];
      const apps = rows.map((r) => JSON.parse(r) as App);
      return owner === null ? apps : apps.filter((a) => a.owner === owner || a.owner === null);
    });
  }

  getAccessKey(accessKey: string): Promise<AccessKey | null> {
    return guard(async () => {
      const json = await this.redis.hget(`${this.slices.global}access-keys`, accessKey);
      return json === null ? null : (JSON.parse(json) as AccessKey);
    });
  }

  putAccessKey(key: AccessKey): Promise<void> {
    return this.written([`${this.slices.global}access-keys`], async () => {
      const stored: AccessKey = { accessKey: key.accessKey, secretKey: key.secretKey, createdAt: key.createdAt, ...(key.operator ? { operator: true } : {}) };
      await this.redis.hset(`${this.slices.global}access-keys`, key.accessKey, JSON.stringify(stored));
    });
  }

  listAccessKeys(): Promise<AccessKey[]> {
    return guard(async () => {
      const rows = await this.redis.hvals(`${this.slices.global}access-keys`);
      const keys = rows.map((r) => JSON.parse(r) as AccessKey);
      return keys.sort((a, b) => a.createdAt - b.createdAt || (a.accessKey < b.accessKey ? -1 : a.accessKey > b.accessKey ? 1 : 0));
    });
  }

  deleteAccessKey(accessKey: string): Promise<boolean> {
    return this.written([`${this.slices.global}access-keys`], async () => (await this.redis.hdel(`${this.slices.global}access-keys`, accessKey)) === 1);
  }

  async reserveUids(appId: string, count: number): Promise<number> {
    checkUidCount(count);
    // INCRBY is atomic: racing nodes get disjoint blocks (confirmed like a commit: a block lost
    // to a failover would be handed out twice).
    const key = `${this.slices.global}uids:${appId}`;
    return this.written([key], async () => (await this.redis.incrby(key, count)) - count + 1);
  }

  getMeta(key: string): Promise<string | null> {
    return guard(() => this.redis.hget(`${this.slices.global}meta`, key));
  }

  setMetaIfAbsent(key: string, value: string): Promise<string> {
    const meta = `${this.slices.global}meta`;
    return this.written([meta], async () => (await this.scripts.setMetaIfAbsent(meta, key, value)) as string);
  }

  ping(): Promise<void> {
    return guard(async () => {
      await this.redis.ping();
    });
  }

  async close(): Promise<void> {
    this.cache.clear();
    this.runningIds.clear();
    if (!this.ownsClient || this.redis.status === 'end') return;
    try {
      await this.redis.quit();
    } catch {
      // Not connected (quit cannot be sent): stop reconnecting all the same.
    }
    // Also after a QUIT: through Sentinel, ioredis keeps its failover detector's connections to the
    // Sentinels until disconnect() (they would keep the process alive and reconnect forever).
    this.redis.disconnect();
  }

  /** Keeps `room` as the freshest known state; the least recently used room leaves when full. */
  private remember(room: Room): void {
    // A load answered before this store's own later commit must not replace that commit's state.
    const current = this.cache.get(room.roomId);
    if (current && current.version > room.version) return;
    const key = `${room.appId}\0${room.roomUuid}`;
    this.cache.delete(room.roomId);
    if (room.ended) {
      if (this.runningIds.get(key) === room.roomId) this.runningIds.delete(key);
      return;
    }
    this.cache.set(room.roomId, room);
    this.runningIds.set(key, room.roomId);
    if (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.forget(oldest);
    }
  }

  private forget(roomId: string): void {
    const room = this.cache.get(roomId);
    this.cache.delete(roomId);
    const key = room && `${room.appId}\0${room.roomUuid}`;
    if (key !== undefined && this.runningIds.get(key) === roomId) this.runningIds.delete(key);
  }
}

function roomWithoutMembers(room: Room): string {
  const { members: _members, ...rest } = room;
  return JSON.stringify(rest);
}
