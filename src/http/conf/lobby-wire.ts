// Convene's lobby on the realtime socket (docs/realtime.md, "Lobby"): command numbers the shipped
// apps ignore, in the same envelope. 110 goes to the lobby's moderators (who waits, who knocked, who
// left); 111 to the waiting member alone (waiting, admitted, denied). Never relayed to Agora RTM.
import type { MeetingEvent } from '../../domain/events.ts';
import { isWaiting, moderates, waitingViews } from '../../domain/lobby.ts';
import { findMember, type Member, type Room } from '../../domain/room.ts';

export const LOBBY_CMD = 110;
export const LOBBY_STATE_CMD = 111;

type LobbyEvent = Extract<MeetingEvent, { type: 'lobbyChanged' | 'lobbyAdmitted' | 'lobbyDenied' }>;

const bit = (b: boolean) => (b ? 1 : 0);
const who = (m: { userId: string; userName: string } | null) => (m ? { userId: m.userId, userName: m.userName } : null);

export function lobbyMessage(e: LobbyEvent): { type: 'channel'; cmd: number; data: unknown } {
  switch (e.type) {
    case 'lobbyChanged':
      return { type: 'channel', cmd: LOBBY_CMD, data: { on: bit(e.on), list: e.waiting, knocked: e.knocked, left: e.left } };
    case 'lobbyAdmitted':
      return { type: 'channel', cmd: LOBBY_STATE_CMD, data: { state: 'admitted', by: who(e.by) } };
    case 'lobbyDenied':
      return { type: 'channel', cmd: LOBBY_STATE_CMD, data: { state: 'denied', reason: e.reason, by: who(e.by) } };
  }
}

/**
 * What a waiting member's socket is sent first: that it waits. DECISION: its seq is 0 (as its other
 * lobby answers): the lobby is not the room's stream for it, and a client must resume from a room
 * seq only once it has had a snapshot.
 */
export function waitingFrame(m: Member): Buffer {
  const data = { state: 'waiting', at: m.lobby?.at ?? 0 };
  return Buffer.from(JSON.stringify({ type: 'channel', cmd: LOBBY_STATE_CMD, version: 1, timestamp: Date.now(), seq: 0, data }));
}

/** A moderator's snapshot has the lobby when there is one: `{on, list}`. */
export function lobbySnapshotPart(room: Room, userId: string): { lobby?: { on: number; list: ReturnType<typeof waitingViews> } } {
  if (room.lobby === undefined) return {};
  const m = findMember(room, userId);
  if (!m || !moderates(m)) return {};
  return { lobby: { on: bit(room.lobby.on), list: waitingViews(room) } };
}

/** A member's lobby state for GET /{roomId}/lobby: in the room, waiting, or denied (with the reason). */
export function lobbyStateOf(m: Member): 'in' | 'waiting' | 'denied' | 'out' {
  if (m.present) return 'in';
  if (isWaiting(m)) return 'waiting';
  return m.lobby?.denied !== undefined ? 'denied' : 'out';
}
