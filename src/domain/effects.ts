// What the rules do to a room beyond the field a command sets, and the events that tell it: the
// board and the screen share starting and stopping, a member leaving (its share, its board and
// the host role go with it), the meeting ending, chat reopening. Pure, as rules.ts.
import { snapshot, type LeaveReason, type MeetingEvent, type Presence } from './events.ts';
import { lowerHand } from './hands.ts';
import { boardUsers, firstPresent, onlineCount, own, screenSharers, type Member, type Room } from './room.ts';

/** The member started the board now shared. */
export function ownsBoard(room: Room, m: Member): boolean {
  return room.boardShared && room.boardCreatorId === m.userId;
}

/**
 * Participants whose chat is on, restated when chat reopens for everyone, in rooms up to this size:
 * the Android app zeroes every participant's enableChat on a mute-all-chat and restores it only
 * from a member change. Larger rooms are spared the burst (Android shows enableChat nowhere).
 */
export const MAX_CHAT_RESTATED = 200;

export function restateChat(room: Room, events: MeetingEvent[]): void {
  const restated: Member[] = [];
  for (const m of room.members) {
    if (!m.present || m.role === 'host' || !m.chat) continue;
    if (restated.length === MAX_CHAT_RESTATED) return;
    restated.push(m);
  }
  restated.sort((a, b) => a.order - b.order);
  for (const m of restated) events.push({ type: 'memberChanged', member: snapshot(m) });
}

export function boardEvent(room: Room): MeetingEvent {
  return {
    type: 'boardChanged',
    shared: room.boardShared,
    creatorId: room.boardCreatorId,
    users: boardUsers(room).map(snapshot),
  };
}

export function screenEvent(room: Room): MeetingEvent {
  return { type: 'screenChanged', shared: room.screenSharerId !== '', users: screenSharers(room).map(snapshot) };
}

export function startBoard(room: Room, creator: Member, events: MeetingEvent[], withMemberEvent: boolean): void {
  room.boardShared = true;
  room.boardCreatorId = creator.userId;
  creator.boardGrant = true;
  events.push(boardEvent(room));
  if (withMemberEvent) events.push({ type: 'memberChanged', member: snapshot(creator) });
}

export function stopBoard(room: Room, events: MeetingEvent[]): void {
  room.boardShared = false;
  room.boardCreatorId = '';
  const revoked = room.members.filter((m) => m.boardGrant).map((m) => own(room, m));
  for (const m of revoked) m.boardGrant = false;
  events.push(boardEvent(room));
  for (const m of revoked) if (m.present) events.push({ type: 'memberChanged', member: snapshot(m) });
}

export function stopScreen(room: Room, sharer: Member, events: MeetingEvent[]): void {
  room.screenSharerId = '';
  sharer.sharingScreen = false;
  events.push(screenEvent(room));
}

/** Take a member out of the room: screen, board and host role do not outlive their holder. */
export function removeMember(room: Room, m: Member, events: MeetingEvent[], now: number, why: LeaveReason): void {
  const wasHost = m.role === 'host';
  m.present = false;
  m.role = 'participant';
  events.push({ type: 'membersChanged', changes: [{ member: snapshot(m), present: false, why }], total: onlineCount(room) });
  if (room.screenSharerId === m.userId) stopScreen(room, m, events);
  if (room.boardShared && room.boardCreatorId === m.userId) stopBoard(room, events);
  m.boardGrant = false;
  m.sharingScreen = false;
  answerSpeakInvite(room, m);
  lowerHand(room, m.userId);
  // Gone from the main meeting, gone from its breakout (the service's sync unseats it there).
  if (room.breakouts?.placed[m.userId] !== undefined) leaveRound(room, m.userId);
  if (wasHost) {
    const first = firstPresent(room);
    const heir = first ? own(room, first) : undefined;
    // Each entry carries the role after the change: Android files every role-1 entry as a host.
    const changes: Presence[] = [{ member: snapshot(m), present: false }];
    if (heir) {
      heir.role = 'host';
      changes.push({ member: snapshot(heir), present: true });
    }
    events.push({ type: 'hostChanged', changes });
  }
  if (onlineCount(room) === 0) room.emptySince = now;
}

function leaveRound(room: Room, userId: string): void {
  const placed = { ...room.breakouts!.placed };
  delete placed[userId];
  room.breakouts = { ...room.breakouts!, placed, rev: room.breakouts!.rev + 1 };
}

export function roomChanged(room: Room): MeetingEvent {
  return { type: 'roomChanged', muteAllChat: room.muteAllChat, muteAllAudio: room.muteAllAudio, ended: room.ended, locked: room.locked === true };
}

export function endMeeting(room: Room, events: MeetingEvent[], now: number): void {
  room.ended = true;
  room.endedAt = now;
  room.boardShared = false;
  room.boardCreatorId = '';
  room.screenSharerId = '';
  for (const shared of room.members.filter((x) => x.present || x.boardGrant || x.sharingScreen)) {
    const m = own(room, shared);
    m.present = false;
    m.boardGrant = false;
    m.sharingScreen = false;
  }
  events.push(roomChanged(room));
}

/** Whether the host has invited `m` to speak and `m` has not answered yet. */
export function invitedToSpeak(room: Room, m: Member): boolean {
  return room.speakInvites?.includes(m.userId) === true;
}

/** The host invites `m` to speak (E6, audio): its permission to unmute, until it answers. */
export function inviteToSpeak(room: Room, m: Member): void {
  // A new array: the committed state's may be shared with readers.
  if (!invitedToSpeak(room, m)) room.speakInvites = [...(room.speakInvites ?? []), m.userId];
}

/** `m`'s invitation to speak, if any, is answered (used, refused, or void): gone. */
export function answerSpeakInvite(room: Room, m: Member): void {
  if (!invitedToSpeak(room, m)) return;
  // A new array: the committed state's may be shared with readers.
  const rest = room.speakInvites!.filter((id) => id !== m.userId);
  if (rest.length > 0) room.speakInvites = rest;
  else delete room.speakInvites;
}
