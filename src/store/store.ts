// The storage port. It speaks the meeting's language (rooms, their event logs, apps, keys), not a
// database's, so that SQLite (embedded) and Redis (clustered) can both implement it.
import { createHash } from 'node:crypto';
import type { LoggedEvent } from '../domain/events.ts';
import type { Room } from '../domain/room.ts';
import type { AuditEntry } from '../domain/audit.ts';

export interface MergePublishRtmp {
  enable: boolean;
  audioOnly: boolean;
  height: number;
  width: number;
  fps: number;
  kbps: number;
  url: string;
  streamTitle: string;
}

export interface App {
  /** The Agora App ID for the client API; the Qiniu AppID for the server API. */
  appId: string;
  /** Agora App Certificate (32 hex); null for an App-ID-only app (tokens are then null). */
  certificate: string | null;
  /** Agora token format: AccessToken2 by default, legacy AccessToken for old SDKs. */
  tokenVersion: '007' | '006';
  /** HTTP Basic credentials the meeting clients send. They grant no admin power. */
  customerId: string;
  customerSecret: string;
  /** The access key that owns the app on the admin API; null = every key. */
  owner: string | null;
  hub: string;
  title: string;
  maxUsers: number;
  noAutoKickUser: boolean;
  noAutoCloseRoom: boolean;
  noAutoCreateRoom: boolean;
  /** Convene: the app's new meetings start with the lobby on (entries wait to be admitted). Absent: off. */
  lobby?: boolean;
  mergePublishRtmp: MergePublishRtmp;
  /** Where the app wants event callbacks (set through UpdateApp's eventCb* fields). */
  eventCallback?: { url: string; secret: string; version: string } | null;
  /** Where the app's webhooks go (the eventCb* fields are the endpoint `eventcb`). Absent: none. */
  webhooks?: WebhookEndpoint[];
  createdAt: number;
  updatedAt: number;
}

export interface WebhookEndpoint {
  /** `wh_…`, or `eventcb` for the one the Qiniu eventCb* fields set. */
  id: string;
  url: string;
  /** The signing key: `whsec_<base64>`, or any other text used as the key's raw bytes. */
  secret: string;
  /** The event types it wants (`*`: all, chat included). */
  events: string[];
  createdAt: number;
}

/**
 * What the webhook rows of a commit were made for: the app's endpoints and the events each wants
 * (their URLs and secrets are read when delivering). '' for an app without webhooks. A commit made
 * with another stamp than the stored one is refused, so no node writes rows from a stale view.
 */
export function webhookStamp(app: Pick<App, 'webhooks'> | null): string {
  const endpoints = app?.webhooks ?? [];
  if (endpoints.length === 0) return '';
  const view = JSON.stringify(endpoints.map((e) => [e.id, e.events]));
  return createHash('sha256').update(view).digest('base64url').slice(0, 16);
}

/** One event for one endpoint, written in the commit of the event. */
export interface OutboxRow {
  endpointId: string;
  /** The event's unique id: the `webhook-id` of every attempt. */
  id: string;
  /** The room's seq of the event, and its place among the webhook events of that seq. */
  seq: number;
  idx: number;
  /** The JSON body, signed and sent as it is on every attempt. */
  payload: string;
}

/** The rows of a commit and the stamp they were made under (see webhookStamp). */
export interface CommitOutbox {
  stamp: string;
  rows: OutboxRow[];
}

/** A room's queue of deliveries to one endpoint: delivered one at a time, in seq order. */
export interface Lane {
  appId: string;
  endpointId: string;
  roomId: string;
}

export interface PendingDelivery extends OutboxRow {
  appId: string;
  roomId: string;
  /** Failed attempts so far. */
  attempts: number;
  lastError: string | null;
}

export interface ClaimedLane extends Lane {
  /** The lease: every later step on the lane is refused once another claim holds it. */
  token: string;
  head: PendingDelivery;
}

export interface DeadLetter extends PendingDelivery {
  deadAt: number;
}

/**
 * The webhook outbox: rows written by commits (RoomStore.commit), delivered lane by lane by a
 * dispatcher holding a lease per lane, so that two nodes never deliver a lane at once. Leases and
 * retry times are on the store's clock (Redis's for a cluster).
 */
/** How far a due lane of an endpoint at its concurrency is put back by a claim (ms). */
export const BUSY_LANE_DEFER_MS = 1_000;

export interface WebhookOutbox {
  /**
   * Lease up to `limit` lanes whose head is due, for `leaseMs`, to `token`; at most `perEndpoint`
   * lanes of one endpoint (`busy`: lanes of `appId/endpointId` this caller already runs). Due lanes
   * passed over for that are put back by BUSY_LANE_DEFER_MS, so that a busy endpoint's backlog
   * never stands in front of other endpoints' lanes. `caps` gives other limits than `perEndpoint` by
   * endpoint id (the RTM relay's `rtm` lanes of an app, say).
   */
  claim(token: string, leaseMs: number, limit: number, perEndpoint: number, busy: ReadonlyMap<string, number>, caps?: ReadonlyMap<string, number>): Promise<ClaimedLane[]>;
  /**
   * `head` was delivered (`dead` null) or has failed for good (moved to the dead letters).
   * Returns the next head with the lease renewed, null when the lane is empty (and released), or
   * 'lost' when the lease is no longer this caller's (nothing changed).
   */
  advance(lane: Lane, token: string, head: PendingDelivery, dead: { attempts: number; error: string } | null, leaseMs: number): Promise<PendingDelivery | null | 'lost'>;
  /** `head` failed: it is tried again after `delayMs`, by whoever claims the lane then (false: lease lost). */
  retry(lane: Lane, token: string, head: PendingDelivery, attempts: number, error: string, delayMs: number): Promise<boolean>;
  /** Gives the lane up unchanged: due again at once. */
  release(lane: Lane, token: string): Promise<void>;
  /** Deletes every pending row of the lane (its endpoint was removed). Returns how many. */
  drop(lane: Lane, token: string): Promise<number>;
  /** After a restart of the only server (SQLite): leases of the process before it are void. */
  recover(): Promise<void>;
  /** Dead letters of an app (one endpoint's, when given), oldest death first. */
  dead(appId: string, endpointId: string | null, limit: number): Promise<DeadLetter[]>;
  /**
   * Puts dead letters back in their lanes, in seq order, with their attempts reset: those of `ids`
   * (all of the app, or of one endpoint, when null). Returns how many.
   */
  resend(appId: string, endpointId: string | null, ids: string[] | null): Promise<number>;
  /** Deletes the dead letters of an endpoint that is being removed. */
  forget(appId: string, endpointId: string): Promise<number>;
  /** Deliveries waiting (all apps; to one endpoint id only, when given): for the metrics, read when they are scraped. */
  waiting(endpointId?: string): Promise<number>;
}

export interface AccessKey {
  accessKey: string;
  secretKey: string;
  createdAt: number;
  /**
   * May operate the deployment itself through the server API (its nodes: list, drain), not only the
   * apps: granted only on purpose (`convene keys create --operator`). Absent: false.
   */
  operator?: boolean;
}

export interface RoomListQuery {
  appId: string;
  /** Only rooms with at least one member present. */
  activeOnly: boolean;
  prefix: string;
  offset: number;
  limit: number;
  /**
   * Only running rooms whose metadata is exactly this (whether or not anyone is present:
   * `activeOnly` and `prefix` do not apply).
   */
  metadata?: string;
}

export interface RoomSummary {
  roomId: string;
  roomUuid: string;
  online: number;
  ended: boolean;
  startTime: number;
}

export interface EventRange {
  events: LoggedEvent[];
  /** The oldest seq still in the log (0 when the log is empty): a resume from before it needs a snapshot. */
  oldestSeq: number;
}

/**
 * The backend cannot be reached (Redis down or unreachable). Retryable: nothing was written, or the
 * write's outcome is unknown and a retry re-decides from the stored state. Each API answers it in
 * its own envelope (Agora code 503, Qiniu HTTP 503).
 */
export class StoreUnavailableError extends Error {
  readonly retryable = true;
  constructor(message = 'storage is unavailable; retry shortly', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** A block of uids is 1 to 65,536 of them (a caller's mistake otherwise, refused before any write). */
export function checkUidCount(count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > 65_536) throw new RangeError(`reserveUids: count must be an integer from 1 to 65536, not ${count}`);
}

/** `webhooksChanged`: the app's webhook endpoints changed since the outbox's stamp was taken. */
export type CommitResult = { ok: true } | { ok: false; reason: 'conflict' | 'duplicateRoom' | 'webhooksChanged' };

export interface RoomStore {
  /** Times the store's connection was made again (Redis restarted, or a failover); none for SQLite. */
  readonly reconnections?: number;
  /**
   * A fresh id for a new meeting of (app, roomUuid), where the store places its meetings by id (a
   * Redis Cluster's slices); a random id otherwise.
   */
  newRoomId?(appId: string, roomUuid: string): string;
  loadRoom(roomId: string): Promise<Room | null>;
  /**
   * Whether `room`, as this store answered it, is still the newest state of its room this process
   * knows (nothing committed or loaded since). A caller that read it moments ago may then commit on it
   * without reading it again: the commit's version check still catches another node's write. Absent
   * where a read costs no round trip (SQLite).
   */
  isCurrent?(room: Room): boolean;
  /** The running (not ended) meeting with this key, if any: at most one exists per app and key. */
  findRunningRoom(appId: string, roomUuid: string): Promise<Room | null>;
  /**
   * Atomically store `room` and append `events` to its log, if the stored version is still
   * `expectedVersion` (0: the room must not exist, and no running room may have its key).
   * `room.version` and `room.seq` must already be advanced by the caller. With `outbox`, its rows
   * are written in the same transaction (script), if the app's webhook stamp is still its stamp
   * (else nothing is written: `webhooksChanged`); without it, no stamp is checked. `audit`: entries
   * appended to the room's audit log in the same transaction, numbered on from the stored room's
   * `audited` (the room's `audited` already counts them).
   */
  commit(room: Room, expectedVersion: number, events: LoggedEvent[], outbox?: CommitOutbox, audit?: AuditEntry[]): Promise<CommitResult>;
  /** Up to `limit` entries of a meeting's audit log after entry `after`, in order (kept and purged with the meeting). */
  auditLog(roomId: string, after: number, limit: number): Promise<AuditEntry[]>;
  eventsSince(roomId: string, afterSeq: number, limit: number): Promise<EventRange>;
  listRooms(q: RoomListQuery): Promise<{ rooms: RoomSummary[]; total: number }>;
  /** Running rooms with at least one member present (e.g. to resume presence timers on start). */
  activeRoomIds(): Promise<string[]>;
  /** Running rooms nobody has been in since at least `before` (epoch ms). */
  emptyRoomsSince(before: number): Promise<string[]>;
  /**
   * Delete up to `limit` meetings that ended at or before `endedBefore` (epoch ms): the room, its
   * members, its event log, its webhook deliveries (pending and dead) and every index entry.
   * Running rooms are never touched. Returns how many were deleted; fewer than `limit` means none
   * is left to purge. Idempotent, so every node may run it.
   */
  purgeEnded(endedBefore: number, limit: number): Promise<number>;

  getApp(appId: string): Promise<App | null>;
  putApp(app: App): Promise<void>;
  deleteApp(appId: string): Promise<boolean>;
  listApps(owner: string | null): Promise<App[]>;

  getAccessKey(accessKey: string): Promise<AccessKey | null>;
  putAccessKey(key: AccessKey): Promise<void>;
  listAccessKeys(): Promise<AccessKey[]>;
  deleteAccessKey(accessKey: string): Promise<boolean>;

  /** The webhook deliveries the commits wrote. */
  readonly outbox: WebhookOutbox;

  /**
   * Reserve `count` (≥ 1) consecutive member uids of an app that nobody has had before: returns
   * the first (the first block of an app starts at 1). An RTM login is app-wide (`String(uid)`),
   * so uids are unique across the app, not per room; one write per block, atomic across nodes.
   */
  reserveUids(appId: string, count: number): Promise<number>;

  /** Small server-wide values (signing secrets). */
  getMeta(key: string): Promise<string | null>;
  setMetaIfAbsent(key: string, value: string): Promise<string>;

  /** Resolves when the backend answers; throws StoreUnavailableError when it does not (readiness). */
  ping(): Promise<void>;

  close(): Promise<void>;
}
