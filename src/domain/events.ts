// What happened in a meeting. Every committed event gets the room's next sequence number.
import type { Member, MuteLevel, Role } from './room.ts';
import type { HandView } from './hands.ts';
import type { KnockView, LobbyLeft } from './lobby.ts';
import type { BreakoutRoom, BreakoutStep, BreakoutsView } from './breakouts.ts';

/** A member as others may see it: everything but the session secret. */
export type MemberSnapshot = Omit<Member, 'session'>;

export type Module = 'audio' | 'video' | 'board' | 'chat';

/**
 * Why a member left: it exited, was kicked, its realtime presence expired, it was sent to the lobby,
 * or (a breakout's member) the round moved it.
 */
export type LeaveReason = 'exit' | 'kick' | 'presence' | 'lobby' | 'moved';

export interface Presence {
  member: MemberSnapshot;
  present: boolean;
  /** A departure in membersChanged says why (absent in events logged before it was kept). */
  why?: LeaveReason;
  /** A member 'moved' to another room of its meeting (a breakout, or the main meeting): that room's id. */
  to?: string;
}

export type MeetingEvent =
  | { type: 'chatSent'; from: MemberSnapshot; message: string; chatType: number }
  | { type: 'membersChanged'; changes: Presence[]; total: number }
  | { type: 'roomChanged'; muteAllChat: MuteLevel; muteAllAudio: MuteLevel; ended: boolean; locked: boolean }
  | { type: 'memberChanged'; member: MemberSnapshot }
  | { type: 'boardChanged'; shared: boolean; creatorId: string; users: MemberSnapshot[] }
  | { type: 'screenChanged'; shared: boolean; users: MemberSnapshot[] }
  | { type: 'hostChanged'; changes: Presence[] }
  | { type: 'memberKicked'; by: MemberSnapshot | null; target: MemberSnapshot; bannedUntil: number | null }
  // Peer events: delivered to one member only.
  | { type: 'invited'; to: string; from: MemberSnapshot; module: Module; action: 'invite' | 'rejectApply' }
  | { type: 'applied'; to: string; from: MemberSnapshot; module: Module; action: 'apply' | 'rejectInvite' }
  | { type: 'noticed'; to: string; from: MemberSnapshot; fromRole: Role; module: Module; on: boolean }
  | { type: 'serverMessage'; to: string[] | null; msgId: string; text: string }
  // Convene: the hand queue, to those who may see it (null: everyone).
  | { type: 'handsChanged'; hands: HandView[]; public: boolean; to: string[] | null }
  // Convene: the room's metadata (userId null) or a member's changed, to everyone.
  | { type: 'metadataChanged'; userId: string | null; metadata: string; selfMetadata: boolean }
  // Convene: the lobby, to its moderators: who waits now, who knocked and who left since the last.
  | { type: 'lobbyChanged'; to: string[]; on: boolean; waiting: KnockView[]; knocked: KnockView[]; left: LobbyLeft[] }
  // Convene: to the members admitted from the lobby, or to the one denied. `by` null: the server.
  | { type: 'lobbyAdmitted'; to: string[]; by: MemberSnapshot | null }
  | { type: 'lobbyDenied'; to: string[]; reason: string; by: MemberSnapshot | null }
  // Convene: breakout rooms (domain/breakouts.ts). In the main meeting: the round as it is now
  // (null once closed) and the step that made it so.
  | {
      type: 'breakoutsChanged';
      step: BreakoutStep;
      by: MemberSnapshot | null;
      view: BreakoutsView | null;
      moved?: { userId: string; from: string; to: string };
      closedRooms?: BreakoutRoom[];
    }
  // In a breakout: its name and end (when it opens, and when its end moves).
  | { type: 'breakoutChanged'; mainRoomId: string; name: string; endsAt: number | null }
  // A host's message to every breakout (and the main meeting), one msgId in each room.
  | { type: 'breakoutsMessage'; msgId: string; from: MemberSnapshot | null; text: string };

/** Who an event is for: a userId list, or null for the whole room. */
export function recipientsOf(e: MeetingEvent): string[] | null {
  switch (e.type) {
    case 'invited':
    case 'applied':
    case 'noticed':
      return [e.to];
    case 'serverMessage':
    case 'handsChanged':
    case 'lobbyChanged':
    case 'lobbyAdmitted':
    case 'lobbyDenied':
      return e.to;
    default:
      return null;
  }
}

export function snapshot(m: Member): MemberSnapshot {
  const { session: _secret, ...rest } = m;
  return rest;
}

/** An event as stored in the room's log. */
export interface LoggedEvent {
  seq: number;
  at: number;
  event: MeetingEvent;
}
