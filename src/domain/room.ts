// The meeting model. Pure data: no I/O, no clock, no randomness.
import type { BreakoutOf, Breakouts } from './breakouts.ts';

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
  /** The business's string about this member (domain/metadata.ts). Absent: none. */
  metadata?: string;
  /** Convene's lobby (domain/lobby.ts): it knocked and waits, not present, or was denied. Absent: neither. */
  lobby?: Knock;
}

/** A member's knock at the lobby: what its entry asked for, applied when it is admitted. */
export interface Knock {
  /** When it knocked, epoch ms. */
  at: number;
  audio: boolean;
  video: boolean;
  /** A host denied it, for this reason (told to the member); it no longer waits. */
  denied?: string;
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
  /**
   * Members the host has invited to speak (E6, audio) who have not answered yet: the invitation is
   * the host's permission, so accepting it unmutes even while participants may not unmute
   * themselves. Cleared by the answer, a new mute-all, or the member leaving. Absent: none.
   */
  speakInvites?: string[];
  /** Raised hands, in the order they were raised (domain/hands.ts). Absent: none. */
  hands?: Hand[];
  /** Everyone sees the hand queue, not only the hosts and the members in it. Absent: hosts only. */
  handsPublic?: boolean;
  /** The business's string about this meeting (domain/metadata.ts). Absent: none. */
  metadata?: string;
  /** Members may set their own metadata. Absent: only hosts (and the server) may. */
  selfMetadata?: boolean;
  /** Convene's lobby (domain/lobby.ts): its settings and who waits. Absent: off, nobody waiting. */
  lobby?: Lobby;
  /** The round of breakout rooms this main meeting runs (domain/breakouts.ts). Absent: none. */
  breakouts?: Breakouts;
  /** This room is a breakout of another meeting. Absent: a meeting of its own. */
  breakoutOf?: BreakoutOf;
  /** Every member who ever entered, in first-entry order. */
  members: Member[];
  nextOrder: number;
  /** Entries in the meeting's audit log so far (domain/audit.ts). Absent: none. */
  audited?: number;
  /** Optimistic-concurrency version: bumped on every commit. */
  version: number;
  /** Sequence number of the last event in the room's log. */
  seq: number;
}

/**
 * A room's lobby. Replaced (never changed in place) by every change, so that a decision sees whether
 * it moved by identity: the committed state's may be shared with readers.
 */
export interface Lobby {
  /** Entries wait to be admitted instead of entering. */
  on: boolean;
  /** The room's creator (its first member) enters directly. */
  exemptCreator: boolean;
  /** userUuids that enter directly (hosts-to-be). */
  exempt: string[];
  /** The waiting members' userIds, in the order they knocked. */
  waiting: string[];
}

export interface Hand {
  userId: string;
  /** Epoch ms. */
  at: number;
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

/** A meeting that has just started: nobody in it yet, nothing shared, nothing muted. */
export function blankRoom(ids: Pick<Room, 'roomId' | 'appId' | 'roomUuid' | 'roomName' | 'password' | 'boardId'>, now: number): Room {
  return {
    ...ids,
    channelName: ids.roomId,
    muteAllChat: 0,
    muteAllAudio: 0,
    ended: false,
    startTime: now,
    endedAt: null,
    emptySince: null,
    boardShared: false,
    boardCreatorId: '',
    screenSharerId: '',
    members: [],
    nextOrder: 1,
    version: 0,
    seq: 0,
  };
}

export function presentMembers(room: Room): Member[] {
  return room.members.filter((m) => m.present).sort((a, b) => a.order - b.order);
}

const rosters = new WeakMap<Room, readonly Member[]>();

/**
 * presentMembers of a committed room state (one no longer changed), sorted once per state: the
 * snapshots and member pages of a storm into one version share it.
 */
export function rosterOf(room: Room): readonly Member[] {
  let r = rosters.get(room);
  if (!r) rosters.set(room, (r = presentMembers(room)));
  return r;
}

/** The present member who joined first (the next host when the host goes), without sorting. */
export function firstPresent(room: Room): Member | undefined {
  let first: Member | undefined;
  for (const m of room.members) if (m.present && (!first || m.order < first.order)) first = m;
  return first;
}

// Lookups and counts in O(1), or in the number of members a draft changed, never in the room's
// size: a 20,000-member room must decide an entry as fast as a 20-member one.
//
// Positions: members are only ever appended (departed ones stay), so a member's position never
// changes, and one map from userId (and one from userUuid) to position serves a room and every
// draft made from it. Drafts that are thrown away may have added entries the kept version does not
// hold: a lookup checks that the position holds that very member.
//
// Counts: a stored room's head count and host are computed once; a draft's are its base's
// adjusted by the members it has copied (see `own`).

interface Positions {
  byId: Map<string, number>;
  byUuid: Map<string, number>;
}

interface DraftChanges {
  /** Position → the member there before this draft copied or added it (undefined: added). */
  before: Map<number, Member | undefined>;
  /** Copies made by this draft (and so its to change). */
  mine: WeakSet<Member>;
  baseOnline: number;
  baseLive: number;
  baseHost: Member | undefined;
  /** Positions changed since the version the store holds, shared along a chain of drafts (see changedPositions). */
  unsaved: Set<number>;
  /** The members array is the base's own, changed in place (see draftOf's `reuse`); its length before. */
  inPlace: number | null;
}

const positionsOf = new WeakMap<Room, Positions>();
const changesOf = new WeakMap<Room, DraftChanges>();
/** Head count and host of a room no longer being changed (a draft once it is the base of another). */
const settledCounts = new WeakMap<Room, Counts>();

interface Counts {
  /** Members present. */
  online: number;
  /** Members present whose session has connected a realtime socket (a fan-out reaches them). */
  live: number;
  host: Member | undefined;
}
/** Positions not yet saved, for rooms the store holds (a fresh set per saved version). */
const unsavedOf = new WeakMap<Room, Set<number>>();

function positions(room: Room): Positions {
  let p = positionsOf.get(room);
  if (!p) {
    p = { byId: new Map(), byUuid: new Map() };
    room.members.forEach((m, i) => {
      p!.byId.set(m.userId, i);
      p!.byUuid.set(m.userUuid, i);
    });
    positionsOf.set(room, p);
  }
  return p;
}

function at(room: Room, index: Map<string, number>, key: string, field: 'userId' | 'userUuid'): Member | undefined {
  const i = index.get(key);
  if (i === undefined) return undefined;
  const m = room.members[i];
  if (m && m[field] === key) return m;
  // Written by a draft that was thrown away: find it the long way (rare) and fix the entry.
  const j = room.members.findIndex((x) => x[field] === key);
  if (j < 0) return undefined;
  index.set(key, j);
  return room.members[j];
}

/**
 * Rooms of at most this many members are searched rather than indexed: a scan of a few members is
 * as fast as a map, and the maps' ~100 bytes per member are most of a small room's overhead.
 */
const SCANNED = 32;

function scan(room: Room, key: string, field: 'userId' | 'userUuid'): Member | undefined {
  for (const m of room.members) if (m[field] === key) return m;
  return undefined;
}

export function findMember(room: Room, userId: string): Member | undefined {
  if (room.members.length <= SCANNED) return scan(room, userId, 'userId');
  return at(room, positions(room).byId, userId, 'userId');
}

export function findByUuid(room: Room, userUuid: string): Member | undefined {
  if (room.members.length <= SCANNED) return scan(room, userUuid, 'userUuid');
  return at(room, positions(room).byUuid, userUuid, 'userUuid');
}

export function onlineCount(room: Room): number {
  return counts(room).online;
}

/** Members present whose session has connected a realtime socket: those a fan-out costs a frame each. */
export function liveCount(room: Room): number {
  return counts(room).live;
}

export function currentHost(room: Room): Member | undefined {
  return counts(room).host;
}

function counts(room: Room): Counts {
  const settled = settledCounts.get(room);
  if (settled) return settled;
  const d = changesOf.get(room);
  if (!d) {
    // A room as loaded: counted once, it is never changed (decisions work on drafts).
    let online = 0;
    let live = 0;
    let host: Member | undefined;
    for (const m of room.members) {
      if (!m.present) continue;
      online++;
      if (m.realtime) live++;
      if (m.role === 'host') host ??= m;
    }
    const c = { online, live, host };
    settledCounts.set(room, c);
    return c;
  }
  let online = d.baseOnline;
  let live = d.baseLive;
  let host = d.baseHost;
  for (const [i, was] of d.before) {
    const now = room.members[i]!;
    online += (now.present ? 1 : 0) - (was?.present ? 1 : 0);
    live += (now.present && now.realtime ? 1 : 0) - (was?.present && was.realtime ? 1 : 0);
    if (host !== undefined && host.userId === now.userId) host = undefined;
  }
  if (host === undefined) {
    // The base's host changed, or there was none: a host, if any, is among the changed members
    // (one that is unchanged was host in the base already).
    for (const i of d.before.keys()) {
      const now = room.members[i]!;
      if (now.present && now.role === 'host') {
        host = now;
        break;
      }
    }
  }
  // An unchanged host is the very object the base held.
  return { online, live, host };
}

/** Members who may draw: the board's creator plus everyone granted it, while the board is shared. */
export function boardUsers(room: Room): Member[] {
  if (!room.boardShared) return [];
  return presentMembers(room).filter((m) => m.boardGrant || m.userId === room.boardCreatorId);
}

/**
 * Whether `userId` may draw on the board now: while it is shared, the host, its creator and the
 * members granted it (the rule a boardToken's `draw` claim encodes, plus the board being shared).
 */
export function mayDraw(room: Room, userId: string): boolean {
  if (!room.boardShared || room.ended) return false;
  const m = findMember(room, userId);
  return !!m && m.present && (m.role === 'host' || m.boardGrant || m.userId === room.boardCreatorId);
}

export function screenSharers(room: Room): Member[] {
  const m = room.screenSharerId ? findMember(room, room.screenSharerId) : undefined;
  return m && m.present ? [m] : [];
}

/**
 * A working copy for one decision: the stored room (possibly cached) is never mutated. Members are
 * copied on write (see `own`), so a command on a 1,000-member room copies the few it changes, and
 * unchanged member objects stay shared (the store reuses their serialised form).
 *
 * With `reuse`, a draft made by an earlier decision that nobody else holds (the previous command of
 * the same batch) lends its members array instead of having it copied: a batch of entries into a
 * 20,000-member room copies the array once, not once per entry. The base must then not be used
 * again, unless the decision is taken back (`takeBack`), which restores it.
 */
export function draftOf(room: Room, reuse = false): Room {
  // The base is final from now on: its counts can be fixed once.
  const base = counts(room);
  settledCounts.set(room, base);
  // A plain clone then an assignment: V8 is slow on `{...obj, more}`, fast on `{...obj}`.
  const draft = { ...room };
  const parent = changesOf.get(room);
  // Only an unsaved draft's array is private to its chain; a saved or loaded room's is shared with readers.
  const inPlace = reuse && parent !== undefined && !unsavedOf.has(room);
  if (!inPlace) draft.members = room.members.slice();
  // The base's index serves the draft too (positions never change); a small room has none.
  const indexed = positionsOf.get(room);
  if (indexed) positionsOf.set(draft, indexed);
  let unsaved = unsavedOf.get(room) ?? parent?.unsaved;
  if (!unsaved) unsavedOf.set(room, (unsaved = new Set()));
  changesOf.set(draft, {
    before: new Map(),
    mine: new WeakSet(),
    baseOnline: base.online,
    baseLive: base.live,
    baseHost: base.host,
    unsaved,
    inPlace: inPlace ? room.members.length : null,
  });
  return draft;
}

/**
 * Undo a draft's changes to a members array it shares with its base (a refused decision, or one
 * that changed nothing): the base is as it was. Nothing to do for a draft with its own array.
 */
export function takeBack(draft: Room): void {
  const d = changesOf.get(draft);
  if (!d || d.inPlace === null) return;
  for (const [i, was] of d.before) if (was !== undefined) draft.members[i] = was;
  draft.members.length = d.inPlace;
  d.before.clear();
}

function changes(draft: Room): DraftChanges {
  const d = changesOf.get(draft);
  if (!d) throw new Error('a member can only be changed in a draft made by draftOf()');
  return d;
}

/** The draft's own copy of a member, made on first write. */
export function own(draft: Room, m: Member): Member {
  const d = changes(draft);
  if (d.mine.has(m)) return m;
  const i = draft.members.length <= SCANNED ? draft.members.indexOf(m) : positions(draft).byId.get(m.userId);
  if (i === undefined || i < 0 || draft.members[i] !== m) throw new Error(`member ${m.userId} is not in this draft`);
  const copy = { ...m };
  draft.members[i] = copy;
  d.mine.add(copy);
  if (!d.before.has(i)) d.before.set(i, m);
  d.unsaved.add(i);
  return copy;
}

/** A new member, at the end of the draft's members: returns the draft's own (changeable) copy. */
export function addMember(draft: Room, m: Member): Member {
  const d = changes(draft);
  const i = draft.members.length;
  const copy = { ...m };
  draft.members.push(copy);
  d.mine.add(copy);
  d.before.set(i, undefined);
  d.unsaved.add(i);
  // An index made already (shared along the chain) learns the newcomer; otherwise it is made when needed.
  const p = positionsOf.get(draft);
  if (p) {
    p.byId.set(m.userId, i);
    p.byUuid.set(m.userUuid, i);
  }
  return copy;
}

/**
 * The positions of the members a room has changed since the version it was drafted from was saved
 * (by this decision and the earlier ones of the same batch): what a store must write. Null when the
 * room was not made by draftOf (write every member). May include a few more (a decision that was
 * refused); never fewer.
 */
export function changedPositions(room: Room): ReadonlySet<number> | null {
  return changesOf.get(room)?.unsaved ?? null;
}

/**
 * The store has saved `room`: drafts made from it start counting changes afresh. What it recorded
 * as a draft (the members it replaced, its copies) is let go: a stored room is kept for as long as
 * its meeting runs, and those records would keep the previous version's members alive with it.
 */
export function saved(room: Room): void {
  unsavedOf.set(room, new Set());
  if (!changesOf.has(room)) return;
  settledCounts.set(room, counts(room));
  changesOf.delete(room);
}
