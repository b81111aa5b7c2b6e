// The meeting model. Pure data: no I/O, no clock, no randomness.

export type Role = 'host' | 'participant';

/** Mute-all-audio level: 0 off; 1 muted, participants may unmute; 2 muted, unmuting forbidden. */
export type MuteLevel = 0 | 1 | 2;

export interface Member {
  userId: string;
  /** The business's own key for this person; re-entry with it is the same member. */
  userUuid: string;
  userName: string;
  avatar: string;
  role: Role;
  audio: boolean;
  video: boolean;
  chat: boolean;
  boardGrant: boolean;
  sharingScreen: boolean;
  /** RTC uid of the camera stream and of the screen-share stream, unique within the room. */
  uid: number;
  screenId: number;
  /** In the room now. Departed members are kept so that a returning userUuid keeps its ids. */
  present: boolean;
  /** Position in join order (renewed on every fresh join): host succession and paging follow it. */
  order: number;
  joinedAt: number;
  /** May remove other members without being host (a Qiniu RoomToken with `admin` permission). */
  canKick: boolean;
  /**
   * This session has connected a realtime socket. Presence then follows its sockets; a member that
   * never connected is an HTTP-only client (its presence lives elsewhere) and stays until it exits.
   * Stored with the member so that it survives a restart.
   */
  realtime: boolean;
  /** Secret of the member's current session; a new entry replaces it, revoking the old token. */
  session: string;
}

export interface Room {
  roomId: string;
  appId: string;
  roomUuid: string;
  roomName: string;
  channelName: string;
  password: string;
  boardId: string;
  muteAllChat: MuteLevel;
  muteAllAudio: MuteLevel;
  ended: boolean;
  startTime: number;
  endedAt: number | null;
  /** Since when nobody has been present; the meeting ends after the empty-room TTL. */
  emptySince: number | null;
  boardShared: boolean;
  boardCreatorId: string;
  screenSharerId: string;
  /** No new entries while set (members inside stay). Absent in rooms stored before locks existed. */
  locked?: boolean;
  /** Who may not enter again before when (kicked with a ban). Absent in older rooms. */
  bans?: Ban[];
  /** Every member who ever entered, in first-entry order. */
  members: Member[];
  nextOrder: number;
  /** Optimistic-concurrency version: bumped on every commit. */
  version: number;
  /** Sequence number of the last event in the room's log. */
  seq: number;
}

export interface Ban {
  userUuid: string;
  /** Epoch ms. */
  until: number;
}

/** The ban keeping `userUuid` out at `now`, if any. */
export function banOf(room: Room, userUuid: string, now: number): Ban | undefined {
  return room.bans?.find((b) => b.userUuid === userUuid && b.until > now);
}

export function presentMembers(room: Room): Member[] {
  return room.members.filter((m) => m.present).sort((a, b) => a.order - b.order);
}

export function onlineCount(room: Room): number {
  let n = 0;
  for (const m of room.members) if (m.present) n++;
  return n;
}

export function findMember(room: Room, userId: string): Member | undefined {
  return room.members.find((m) => m.userId === userId);
}

export function findByUuid(room: Room, userUuid: string): Member | undefined {
  return room.members.find((m) => m.userUuid === userUuid);
}

export function currentHost(room: Room): Member | undefined {
  return room.members.find((m) => m.present && m.role === 'host');
}

/** Members who may draw: the board's creator plus everyone granted it, while the board is shared. */
export function boardUsers(room: Room): Member[] {
  if (!room.boardShared) return [];
  return presentMembers(room).filter((m) => m.boardGrant || m.userId === room.boardCreatorId);
}

export function screenSharers(room: Room): Member[] {
  const m = room.screenSharerId ? findMember(room, room.screenSharerId) : undefined;
  return m && m.present ? [m] : [];
}

/** Members a draft has copied (and so may change); the others are shared with the stored room. */
const owned = new WeakMap<Room, WeakSet<Member>>();

/**
 * A working copy for one decision: the stored room (possibly cached) is never mutated. Members are
 * copied on write (see `own`), so a command on a 1,000-member room copies the few it changes, and
 * unchanged member objects stay shared (the store reuses their serialised form).
 */
export function draftOf(room: Room): Room {
  // A plain clone then an assignment: V8 is slow on `{...obj, more}`, fast on `{...obj}`.
  const draft = { ...room };
  draft.members = room.members.slice();
  owned.set(draft, new WeakSet());
  return draft;
}

/** The draft's own copy of a member, made on first write. */
export function own(draft: Room, m: Member): Member {
  const mine = owned.get(draft);
  if (!mine) throw new Error('own() needs a draft made by draftOf()');
  if (mine.has(m)) return m;
  const copy = { ...m };
  draft.members[draft.members.indexOf(m)] = copy;
  mine.add(copy);
  return copy;
}
