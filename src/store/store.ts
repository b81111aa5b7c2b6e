// The storage port. It speaks the meeting's language (rooms, their event logs, apps, keys), not a
// database's, so that SQLite (embedded) and Redis (clustered) can both implement it.
import type { LoggedEvent } from '../domain/events.ts';
import type { Room } from '../domain/room.ts';

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
  mergePublishRtmp: MergePublishRtmp;
  /** Where the app wants event callbacks (set through UpdateApp's eventCb* fields). */
  eventCallback?: { url: string; secret: string; version: string } | null;
  createdAt: number;
  updatedAt: number;
}

export interface AccessKey {
  accessKey: string;
  secretKey: string;
  createdAt: number;
}

export interface RoomListQuery {
  appId: string;
  /** Only rooms with at least one member present. */
  activeOnly: boolean;
  prefix: string;
  offset: number;
  limit: number;
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

export type CommitResult = { ok: true } | { ok: false; reason: 'conflict' | 'duplicateRoom' };

export interface RoomStore {
  loadRoom(roomId: string): Promise<Room | null>;
  /** The running (not ended) meeting with this key, if any: at most one exists per app and key. */
  findRunningRoom(appId: string, roomUuid: string): Promise<Room | null>;
  /**
   * Atomically store `room` and append `events` to its log, if the stored version is still
   * `expectedVersion` (0: the room must not exist, and no running room may have its key).
   * `room.version` and `room.seq` must already be advanced by the caller.
   */
  commit(room: Room, expectedVersion: number, events: LoggedEvent[]): Promise<CommitResult>;
  eventsSince(roomId: string, afterSeq: number, limit: number): Promise<EventRange>;
  listRooms(q: RoomListQuery): Promise<{ rooms: RoomSummary[]; total: number }>;
  /** Running rooms with at least one member present (e.g. to resume presence timers on start). */
  activeRoomIds(): Promise<string[]>;
  /** Running rooms nobody has been in since at least `before` (epoch ms). */
  emptyRoomsSince(before: number): Promise<string[]>;
  /**
   * Delete up to `limit` meetings that ended at or before `endedBefore` (epoch ms): the room, its
   * members, its event log and every index entry. Running rooms are never touched. Returns how many
   * were deleted; fewer than `limit` means none is left to purge. Idempotent, so every node may run it.
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

  /** Small server-wide values (signing secrets). */
  getMeta(key: string): Promise<string | null>;
  setMetaIfAbsent(key: string, value: string): Promise<string>;

  /** Resolves when the backend answers; throws StoreUnavailableError when it does not (readiness). */
  ping(): Promise<void>;

  close(): Promise<void>;
}
