// What members, admins and timers ask of a meeting. Randomness (ids, secrets) arrives in the
// command from the service, so that deciding stays pure and repeatable.
import type { MuteLevel } from './room.ts';
import type { Module } from './events.ts';
import type { HandsCommand } from './hands.ts';
import type { MetadataCommand } from './metadata.ts';

/**
 * Who asked on the server's behalf, for the audit log: an access key of the server API
 * (`key:<AK>`), or `cli` for the command line. Absent: the server itself.
 */
export type ServerCaller = string;
import type { LobbyCommand } from './lobby.ts';
import type { BreakoutRoomCommand, BreakoutsCommand } from './breakouts.ts';

/** The app's rules that apply when someone enters. */
export interface EntryPolicy {
  /** 0 = unlimited. */
  maxUsers: number;
  /** true: a second entry of an online userUuid is refused instead of replacing the first. */
  noAutoKickUser: boolean;
  /** Convene: the app's new meetings start with the lobby on (entries wait to be admitted). */
  lobby?: boolean;
}

export interface Enter {
  type: 'enter';
  appId: string;
  roomUuid: string;
  roomName: string;
  password: string;
  userUuid: string;
  /** Absent (a RoomToken names no one): a returning member keeps its name, a new one is called by its userUuid. */
  userName?: string;
  avatar?: string;
  audio: boolean;
  video: boolean;
  policy: EntryPolicy;
  /** Entry vouched for by the business (a signed RoomToken): the room password is not asked. */
  vouched?: boolean;
  /** The right to remove other members, whatever the role. */
  canKick?: boolean;
  /**
   * Fresh identifiers, used only where something new comes into being. `uid`: a new member's uids,
   * `uid` (camera) and `uid + 1` (screen), nobody's before in the app; its userId is `String(uid)`.
   */
  fresh: { roomId: string; boardId: string; uid: number; session: string };
}

export interface ChangeRoom {
  type: 'changeRoom';
  actor: string;
  muteAllChat?: MuteLevel;
  muteAllAudio?: MuteLevel;
  end?: boolean;
  shareBoard?: boolean;
  /** Lock (no new entries; members inside stay) or unlock the room. */
  locked?: boolean;
}

/** Lock or unlock a room on behalf of the server (admin API, CLI). */
export interface LockRoom {
  type: 'lockRoom';
  locked: boolean;
  by?: ServerCaller;
}

export interface ChangeMember {
  type: 'changeMember';
  actor: string;
  target: string;
  audio?: boolean;
  video?: boolean;
  chat?: boolean;
  boardGrant?: boolean;
}

export interface Invite {
  type: 'invite';
  actor: string;
  target: string;
  module: Exclude<Module, 'chat'>;
  action: 'invite' | 'rejectApply';
}

export interface Apply {
  type: 'apply';
  actor: string;
  /** The host the applicant named; when it is not a host, the current host is asked. */
  target: string;
  module: Exclude<Module, 'chat'>;
  action: 'apply' | 'rejectInvite';
}

export interface ShareScreen {
  type: 'shareScreen';
  actor: string;
  target: string;
  on: boolean;
}

export interface ShareBoard {
  type: 'shareBoard';
  actor: string;
  target: string;
  on: boolean;
}

export interface TransferHost {
  type: 'transferHost';
  actor: string;
  target: string;
}

export interface Leave {
  type: 'leave';
  actor: string;
}

/** A member's session opened its first realtime socket: from now on its sockets tell its presence. */
export interface RealtimeConnected {
  type: 'realtimeConnected';
  actor: string;
  /** The session the socket authenticated with; an older, replaced session changes nothing. */
  session: string;
}

/**
 * A member has been without a realtime socket for the grace period. It leaves, unless it is an
 * HTTP-only client (never connected in this session) and `httpOnlyStays`.
 */
export interface PresenceExpired {
  type: 'presenceExpired';
  target: string;
  httpOnlyStays: boolean;
}

/** The longest ban a kick may carry, seconds (30 days): every edge refuses more. */
export const MAX_BAN_SECONDS = 30 * 86_400;

/** Remove a member. `actor` null: the server itself (admin API). */
export interface Kick {
  type: 'kick';
  actor: string | null;
  target: string;
  /** Also keep the member's userUuid out of this meeting for this long (ms); 0 or absent: no ban. */
  banMs?: number;
  /** Who asked, when the server removes the member (actor null). */
  by?: ServerCaller;
}

export interface Chat {
  type: 'chat';
  actor: string;
  message: string;
  chatType: number;
}

/** End the meeting on behalf of the server (admin close, empty-room timer). */
export interface Close {
  type: 'close';
  /** Only end if the room is still empty since at least this instant (timer); null: always. */
  emptySinceAtMost: number | null;
  by?: ServerCaller;
}

export interface ServerMessage {
  type: 'serverMessage';
  /** userUuids; empty = everyone present. */
  targets: string[];
  msgId: string;
  text: string;
}

export type Command =
  | Enter
  | ChangeRoom
  | ChangeMember
  | Invite
  | Apply
  | ShareScreen
  | ShareBoard
  | TransferHost
  | Leave
  | RealtimeConnected
  | PresenceExpired
  | Kick
  | Chat
  | Close
  | LockRoom
  | ServerMessage
  | HandsCommand
  | MetadataCommand
  | LobbyCommand
  | BreakoutsCommand
  | BreakoutRoomCommand;

export type RoomCommand = Exclude<Command, Enter>;

/**
 * Whether a command changes only what nobody is told of (a member's realtime flag): deciding it
 * after the commands that arrive behind it changes no outcome, so it may give way to them.
 */
export function isQuiet(cmd: RoomCommand): boolean {
  return cmd.type === 'realtimeConnected';
}
