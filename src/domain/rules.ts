// The rules of a meeting: decide(room, command, now) → the new room and what happened, or why not.
// Pure: the same inputs always give the same outputs, and the input room is never mutated (unless
// the caller hands it over, see decide's `reuse`).
import type { Command, Enter, RoomCommand } from './commands.ts';
import { snapshot, type MeetingEvent, type Module } from './events.ts';
import { addMember, blankRoom, currentHost, draftOf, findByUuid, findMember, onlineCount, own, takeBack, type Member, type Room } from './room.ts';
import { answerSpeakInvite, boardEvent, endMeeting, invitedToSpeak, inviteToSpeak, ownsBoard, removeMember, restateChat, roomChanged, screenEvent, startBoard, stopBoard, stopScreen } from './effects.ts';
import { decideHands, handsEvent, lowerHand, raiseHand } from './hands.ts';
import { decideMetadata } from './metadata.ts';
import { decideLobby, exemptFromLobby, knock, lobbyEvent, newLobby, waitingMember } from './lobby.ts';
import { admissible, mayUnmute, newMember, seat } from './entry.ts';
import { decideBreakoutRoom, decideBreakouts, type BreakoutRoomCommand } from './breakouts.ts';

export { MAX_CHAT_RESTATED } from './effects.ts';

export type RuleCode =
  | 'invalid'
  | 'forbidden'
  | 'notFound'
  | 'wrongPassword'
  | 'roomFull'
  | 'chatMuted'
  | 'unmuteForbidden'
  | 'busy'
  | 'duplicateLogin'
  | 'ended'
  | 'notInRoom'
  | 'inactive'
  | 'locked'
  | 'banned'
  | 'tooManyRooms';

export class RuleError extends Error {
  constructor(
    readonly code: RuleCode,
    message: string,
  ) {
    super(message);
    this.name = 'RuleError';
  }
}

export interface Decision {
  room: Room;
  events: MeetingEvent[];
  /** The state changed although nobody is told (e.g. a member's first socket): it must be stored. */
  changed?: boolean;
  /** The member an entry produced (its ids and new session secret); `waiting`: it knocked at the lobby. */
  entered?: { userId: string; session: string; waiting?: boolean };
}

export const MAX_CHAT_LENGTH = 4000;

/**
 * `reuse`: the caller hands `room` over (a draft of its own from an earlier decision, see draftOf)
 * and will use only the returned room from now on, unless the decision is refused or changes
 * nothing: `room` is then as it was.
 */
export function decide(room: Room | null, cmd: Command, now: number, reuse = false): Decision | RuleError {
  const made: Room[] = [];
  const draft = (base: Room): Room => {
    const d = draftOf(base, reuse);
    made.push(d);
    return d;
  };
  try {
    const d =
      cmd.type === 'enter' ? enter(room, cmd, now, draft)
      : isBreakoutRoomCommand(cmd) ? decideBreakoutRoom(room, cmd, now, draft)
      : room ? decideInRoom(room, cmd, now, draft)
      : notFound();
    // Whatever moved the hand queue (a raise, an answer, a member leaving) says so once, last.
    const hands = room && !d.room.ended ? handsEvent(room, d.room) : null;
    if (hands) d.events.push(hands);
    // The lobby's moderators are told what moved in it, once, last; two field checks without a lobby.
    const lobby = room?.lobby !== undefined || d.room.lobby !== undefined ? lobbyEvent(room, d.room, cmd, d) : null;
    if (lobby) d.events.push(lobby);
    // Nothing happened, or a draft was set aside: what it touched is undone (see `reuse`).
    const nothing = d.events.length === 0 && !d.changed && room !== null;
    for (const m of made) if (nothing || m !== d.room) takeBack(m);
    return nothing ? { ...d, room } : d;
  } catch (e) {
    for (const m of made) takeBack(m);
    if (e instanceof RuleError) return e;
    throw e;
  }
}

/** The number of code points in `s` (its UTF-16 length less its surrogate pairs). */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

function isBreakoutRoomCommand(cmd: Command): cmd is BreakoutRoomCommand {
  switch (cmd.type) {
    case 'openBreakout':
    case 'seatBreakout':
    case 'unseatBreakout':
    case 'breakoutTimer':
    case 'breakoutMessage':
    case 'endBreakout':
      return true;
    default:
      return false;
  }
}

function notFound(): never {
  throw new RuleError('notFound', 'room not found');
}

/** A fresh meeting for an entry that found no running room. */
export function newRoom(cmd: Enter, now: number): Room {
  const room = blankRoom({ roomId: cmd.fresh.roomId, appId: cmd.appId, roomUuid: cmd.roomUuid, roomName: cmd.roomName, password: cmd.password, boardId: cmd.fresh.boardId }, now);
  // The app's default: its new meetings start with the lobby on (lobby.ts).
  if (cmd.policy.lobby === true) room.lobby = newLobby(true);
  return room;
}

function enter(existing: Room | null, cmd: Enter, now: number, draft: (base: Room) => Room): Decision {
  if (existing?.ended) throw new RuleError('ended', 'the meeting has ended');
  if (existing?.breakoutOf) throw new RuleError('forbidden', 'a breakout room is entered from its main meeting, by its host or by choosing it');
  const room = draft(existing ?? newRoom(cmd, now));
  if (existing && !cmd.vouched && room.password !== '' && cmd.password !== room.password) {
    throw new RuleError('wrongPassword', 'wrong room password');
  }
  const events: MeetingEvent[] = [];
  const found = findByUuid(room, cmd.userUuid);
  let member = found ? own(room, found) : undefined;

  if (member?.present) {
    // The same person entering again: same member, new session, the old token revoked.
    if (cmd.policy.noAutoKickUser) {
      throw new RuleError('duplicateLogin', 'this user is already in the room and the app forbids a second login');
    }
    member.userName = cmd.userName ?? member.userName;
    member.avatar = cmd.avatar ?? member.avatar;
    member.audio = cmd.audio && mayUnmute(room, member);
    member.video = cmd.video;
    member.canKick = cmd.canKick ?? false;
    member.session = cmd.fresh.session;
    // A new session is a new client: HTTP-only until it connects a socket.
    member.realtime = false;
    events.push({ type: 'memberChanged', member: snapshot(member) });
    return { room, events, entered: { userId: member.userId, session: member.session } };
  }

  // Convene's lobby: the entry waits to be admitted (lobby.ts). One field check when there is none.
  if (room.lobby?.on === true && !exemptFromLobby(room, cmd)) return knock(room, member, cmd, now);
  // A member inside may enter again (a new session); nobody else while the room is locked.
  admissible(room, cmd.userUuid, cmd.policy, now);
  member ??= addMember(room, newMember(room, cmd, now));
  const how = { userName: cmd.userName, avatar: cmd.avatar, audio: cmd.audio, video: cmd.video, canKick: cmd.canKick ?? false, session: cmd.fresh.session, realtime: false };
  const change = seat(room, member, how, now);
  events.push({ type: 'membersChanged', changes: [change], total: onlineCount(room) });
  return { room, events, entered: { userId: member.userId, session: member.session } };
}

function decideInRoom(stored: Room, cmd: Exclude<RoomCommand, BreakoutRoomCommand>, now: number, draft: (base: Room) => Room): Decision {
  // Leaving is idempotent, even after the member was removed or the meeting ended; presence
  // reports may arrive after the member is gone: both then change nothing.
  if (cmd.type === 'leave' || cmd.type === 'presenceExpired' || cmd.type === 'realtimeConnected') {
    const m = findMember(stored, cmd.type === 'presenceExpired' ? cmd.target : cmd.actor);
    // One waiting in the lobby leaves it, or connects its lobby socket (lobby.ts).
    if (m?.lobby !== undefined && !m.present && !stored.ended) return waitingMember(stored, m, cmd, now, draft);
    if (stored.ended || !m?.present) return { room: stored, events: [] };
  }
  if (stored.ended) throw new RuleError('ended', 'the meeting has ended');
  const room = draft(stored);
  const events: MeetingEvent[] = [];
  const done = (): Decision => ({ room, events });

  switch (cmd.type) {
    case 'breakouts':
      decideBreakouts(room, cmd, now, events);
      return done();
    case 'lockRoom': {
      if ((room.locked === true) === cmd.locked) return { room: stored, events: [] };
      room.locked = cmd.locked;
      events.push(roomChanged(room));
      return done();
    }
    case 'close': {
      // A breakout ends with its round (service/breakouts.ts), not for being empty a while.
      if (cmd.emptySinceAtMost !== null && (room.emptySince === null || room.emptySince > cmd.emptySinceAtMost || room.breakoutOf)) {
        return { room: stored, events: [] };
      }
      endMeeting(room, events, now);
      return done();
    }
    case 'serverMessage': {
      if (onlineCount(room) === 0) throw new RuleError('inactive', 'room not active');
      const to: string[] = [];
      for (const uuid of cmd.targets) {
        const m = findByUuid(room, uuid);
        if (!m?.present) throw new RuleError('notFound', 'user not found');
        to.push(m.userId);
      }
      events.push({ type: 'serverMessage', to: to.length ? to : null, msgId: cmd.msgId, text: cmd.text });
      return done();
    }
    case 'kick': {
      const target = presentTarget(room, cmd.target);
      const actor = cmd.actor === null ? null : actingMember(room, cmd.actor);
      if (actor && actor.userId === target.userId) {
        removeMember(room, target, events, now, 'exit');
        return done();
      }
      if (actor && actor.role !== 'host' && !actor.canKick) throw new RuleError('forbidden', 'only the host may remove other members');
      let bannedUntil: number | null = null;
      if (cmd.banMs && cmd.banMs > 0) {
        bannedUntil = now + cmd.banMs;
        // Expired bans go as a new one comes: the list holds only bans still in force.
        room.bans = [...(room.bans ?? []).filter((b) => b.until > now && b.userUuid !== target.userUuid), { userUuid: target.userUuid, until: bannedUntil }];
      }
      events.push({ type: 'memberKicked', by: actor ? snapshot(actor) : null, target: snapshot(target), bannedUntil });
      removeMember(room, target, events, now, 'kick');
      return done();
    }
    case 'lobby':
      // A moderator, or the server (null actor), acts on the lobby.
      decideLobby(room, cmd, now, events);
      return done();
    case 'realtimeConnected': {
      const m = findMember(room, cmd.actor)!;
      if (m.realtime || m.session !== cmd.session) return { room: stored, events: [] };
      own(room, m).realtime = true;
      return { room, events, changed: true };
    }
    case 'metadata':
      // A member or the server (actor null).
      decideMetadata(room, cmd.actor === null ? null : actingMember(room, cmd.actor), cmd, events);
      return done();
    case 'presenceExpired': {
      const m = findMember(room, cmd.target)!;
      if (cmd.httpOnlyStays && !m.realtime) return { room: stored, events: [] };
      removeMember(room, own(room, m), events, now, 'presence');
      return done();
    }
    default:
      break;
  }

  const actor = actingMember(room, cmd.actor);
  switch (cmd.type) {
    case 'leave':
      removeMember(room, actor, events, now, 'exit');
      return done();

    case 'changeRoom': {
      requireHost(actor, 'change the room');
      const chatReopened = cmd.muteAllChat === 0 && room.muteAllChat !== 0 && !cmd.end;
      if (cmd.muteAllChat !== undefined) room.muteAllChat = cmd.muteAllChat;
      if (cmd.muteAllAudio !== undefined) {
        room.muteAllAudio = cmd.muteAllAudio;
        // Clients apply the same rule on receipt of the room change, so no per-member events.
        if (cmd.muteAllAudio !== 0) for (const m of room.members) if (m.role !== 'host' && m.audio) own(room, m).audio = false;
        // A new mute-all overrides the invitations made before it.
        if (cmd.muteAllAudio !== 0) delete room.speakInvites;
      }
      if (cmd.locked !== undefined) room.locked = cmd.locked;
      if (cmd.shareBoard === true && !room.boardShared) startBoard(room, actor, events, false);
      if (cmd.shareBoard === false && room.boardShared) stopBoard(room, events);
      if (cmd.end) {
        endMeeting(room, events, now);
      } else if (cmd.muteAllChat !== undefined || cmd.muteAllAudio !== undefined || cmd.locked !== undefined) {
        events.push(roomChanged(room));
      }
      if (chatReopened) restateChat(room, events);
      return done();
    }

    case 'changeMember': {
      const target = presentTarget(room, cmd.target);
      const self = target.userId === actor.userId;
      // The board's creator grants and revokes the board (iOS answers a board application so).
      const boardOnly = cmd.audio === undefined && cmd.video === undefined && cmd.chat === undefined;
      if (!self && actor.role !== 'host' && !(boardOnly && ownsBoard(room, actor))) {
        throw new RuleError('forbidden', 'only the host may change another member');
      }
      if (self && actor.role !== 'host') {
        if (cmd.chat === true && !target.chat) throw new RuleError('forbidden', 'only the host may enable your chat');
        if (cmd.boardGrant === true && !target.boardGrant) {
          throw new RuleError('forbidden', 'only the host or the board creator may grant the board');
        }
        if (cmd.audio === true && !target.audio && room.muteAllAudio === 2 && !invitedToSpeak(room, target)) {
          throw new RuleError('unmuteForbidden', 'the host has muted everyone; apply to the host to unmute');
        }
      }
      const changed: [Module, boolean][] = [];
      const set = (module: Module, key: 'audio' | 'video' | 'chat' | 'boardGrant', value: boolean | undefined) => {
        if (value === undefined || target[key] === value) return;
        target[key] = value;
        changed.push([module, value]);
      };
      // Turning its audio on or off is the member's answer to an invitation to speak.
      if (self && cmd.audio !== undefined) answerSpeakInvite(room, target);
      set('audio', 'audio', cmd.audio);
      // A hand is answered once its member may speak.
      if (cmd.audio === true && target.audio) lowerHand(room, target.userId);
      set('video', 'video', cmd.video);
      set('board', 'boardGrant', cmd.boardGrant);
      set('chat', 'chat', cmd.chat);
      if (changed.length === 0) return done();
      events.push({ type: 'memberChanged', member: snapshot(target) });
      if (changed.some(([m]) => m === 'board')) events.push(boardEvent(room));
      if (!self) {
        for (const [module, on] of changed) {
          events.push({ type: 'noticed', to: target.userId, from: snapshot(actor), fromRole: actor.role, module, on });
        }
      }
      return done();
    }

    case 'invite': {
      // The board's creator answers the board applications it is sent (see 'apply'): it may invite
      // to the board or reject an application for it.
      if (!(cmd.module === 'board' && ownsBoard(room, actor))) requireHost(actor, 'invite members');
      const target = presentTarget(room, cmd.target);
      if (target.userId === actor.userId) return done();
      if (cmd.module === 'audio' && cmd.action === 'rejectApply') lowerHand(room, target.userId);
      if (cmd.module === 'audio' && cmd.action === 'invite') inviteToSpeak(room, target);
      events.push({ type: 'invited', to: target.userId, from: snapshot(actor), module: cmd.module, action: cmd.action });
      return done();
    }

    case 'apply': {
      if (actor.role === 'host') throw new RuleError('forbidden', 'the host has nobody to apply to');
      // The named member hears it if it can grant the request: the host anything, the board's
      // creator the board (both shipped clients name the board's owner for a board apply).
      const named = findMember(room, cmd.target);
      const canGrant =
        !!named?.present &&
        named.userId !== actor.userId &&
        (named.role === 'host' || (cmd.module === 'board' && room.boardShared && named.userId === room.boardCreatorId));
      const to = canGrant ? named : currentHost(room);
      if (!to) throw new RuleError('notFound', 'the room has no host to apply to');
      if (cmd.module === 'audio' && cmd.action === 'rejectInvite') answerSpeakInvite(room, actor);
      // An application to speak is a raised hand (the shipped apps' "raise hand").
      if (cmd.module === 'audio' && cmd.action === 'apply') raiseHand(room, actor, now);
      events.push({ type: 'applied', to: to.userId, from: snapshot(actor), module: cmd.module, action: cmd.action });
      return done();
    }

    case 'shareScreen': {
      const target = presentTarget(room, cmd.target);
      if (cmd.on) {
        if (target.userId !== actor.userId) throw new RuleError('forbidden', 'members can only share their own screen');
        if (room.screenSharerId === actor.userId) return done();
        if (room.screenSharerId) throw new RuleError('busy', 'another member is already sharing the screen');
        room.screenSharerId = actor.userId;
        actor.sharingScreen = true;
        // The sharer's own state first: the Web client lists the wrong member as sharing otherwise.
        events.push({ type: 'memberChanged', member: snapshot(actor) }, screenEvent(room));
        return done();
      }
      if (target.userId !== actor.userId && actor.role !== 'host') {
        throw new RuleError('forbidden', "only the host may stop another member's screen share");
      }
      if (room.screenSharerId !== target.userId) return done();
      stopScreen(room, target, events);
      events.push({ type: 'memberChanged', member: snapshot(target) });
      return done();
    }

    case 'shareBoard': {
      const target = presentTarget(room, cmd.target);
      const controls = actor.role === 'host' || actor.userId === room.boardCreatorId;
      if (cmd.on) {
        if (!room.boardShared) {
          startBoard(room, actor, events, true);
          return done();
        }
        if (!controls) {
          if (target.userId === actor.userId) throw new RuleError('busy', 'another member is already sharing the board');
          throw new RuleError('forbidden', 'only the host or the board creator may grant the board');
        }
        if (!target.boardGrant) {
          target.boardGrant = true;
          events.push(boardEvent(room), { type: 'memberChanged', member: snapshot(target) });
        }
        return done();
      }
      if (room.boardShared && target.userId === room.boardCreatorId) {
        if (!controls) throw new RuleError('forbidden', 'only the host or the board creator may stop the board');
        stopBoard(room, events);
        return done();
      }
      if (!controls && target.userId !== actor.userId) {
        throw new RuleError('forbidden', 'only the host or the board creator may revoke the board');
      }
      if (target.boardGrant) {
        target.boardGrant = false;
        events.push(boardEvent(room), { type: 'memberChanged', member: snapshot(target) });
      }
      return done();
    }

    case 'transferHost': {
      requireHost(actor, 'pass the host role');
      const target = presentTarget(room, cmd.target);
      if (target.userId === actor.userId) return done();
      target.role = 'host';
      actor.role = 'participant';
      events.push({
        type: 'hostChanged',
        changes: [
          { member: snapshot(target), present: true },
          { member: snapshot(actor), present: true },
        ],
      });
      return done();
    }

    case 'hands':
      decideHands(room, actor, cmd, now, events);
      return done();

    case 'chat': {
      // Characters are code points, as the edge's schema counts them (an emoji is one, not two).
      if (cmd.message.length === 0 || (cmd.message.length > MAX_CHAT_LENGTH && codePoints(cmd.message) > MAX_CHAT_LENGTH)) {
        throw new RuleError('invalid', `message must be 1 to ${MAX_CHAT_LENGTH} characters`);
      }
      if (!actor.chat) throw new RuleError('chatMuted', 'your chat has been disabled by the host');
      if (actor.role !== 'host' && room.muteAllChat !== 0) throw new RuleError('chatMuted', 'the host has muted chat for everyone');
      events.push({ type: 'chatSent', from: snapshot(actor), message: cmd.message, chatType: cmd.chatType });
      return done();
    }
  }
}

/** The acting member, as the draft's own copy (so that the rules may change it). */
function actingMember(room: Room, userId: string): Member {
  const m = findMember(room, userId);
  if (!m?.present) throw new RuleError('notInRoom', 'you are no longer in this room');
  return own(room, m);
}

/** The member acted upon, as the draft's own copy. */
function presentTarget(room: Room, userId: string): Member {
  const m = findMember(room, userId);
  if (!m?.present) throw new RuleError('notFound', 'user not found in this room');
  return own(room, m);
}

function requireHost(actor: Member, what: string): void {
  if (actor.role !== 'host') throw new RuleError('forbidden', `only the host may ${what}`);
}
