// Coming into a meeting: what an entry must pass (a lock, a ban, a full room), a new member's
// record, and the member taking its seat. An entry does it at once; a member admitted from the
// lobby (lobby.ts) does it when a host lets it in, with the same checks. Pure, as rules.ts.
import type { Enter, EntryPolicy } from './commands.ts';
import { snapshot, type Presence } from './events.ts';
import { banOf, currentHost, findMember, onlineCount, type Member, type Room } from './room.ts';
import { RuleError } from './rules.ts';

/** Why `userUuid` may not come in now (a lock, a ban, a full room), thrown; an admission from the lobby asks the same. */
export function admissible(room: Room, userUuid: string, policy: EntryPolicy, now: number): void {
  if (room.locked) throw new RuleError('locked', 'the room is locked: no new entries');
  const ban = banOf(room, userUuid, now);
  if (ban) throw new RuleError('banned', `you were removed from this meeting and may not enter again before ${new Date(ban.until).toISOString()}`);
  if (policy.maxUsers > 0 && onlineCount(room) >= policy.maxUsers) {
    throw new RuleError('roomFull', `the room is full (${policy.maxUsers} members)`);
  }
}

/** A new member's record (not yet present): its ids are the entry's fresh ones. */
export function newMember(room: Room, cmd: Enter, now: number): Member {
  // uids are unique across the app (an RTM login is app-wide) and never shared with a screenId;
  // the userId is the uid in decimal: the Agora clients read userIds as numbers.
  const userId = String(cmd.fresh.uid);
  if (findMember(room, userId)) throw new Error(`uid ${userId} is already a member's in room ${room.roomId}`);
  return {
    userId,
    userUuid: cmd.userUuid,
    userName: cmd.userName ?? cmd.userUuid,
    avatar: cmd.avatar ?? '',
    role: 'participant',
    audio: false,
    video: false,
    chat: true,
    boardGrant: false,
    sharingScreen: false,
    uid: cmd.fresh.uid,
    screenId: cmd.fresh.uid + 1,
    present: false,
    order: 0,
    joinedAt: now,
    canKick: false,
    realtime: false,
    session: cmd.fresh.session,
  };
}

/** How a member comes in: from its entry, or (admitted from the lobby) from its knock. */
export interface Seating {
  userName?: string;
  avatar?: string;
  audio: boolean;
  video: boolean;
  canKick: boolean;
  session: string;
  /** Its session has a socket already (a member admitted from the lobby keeps its socket). */
  realtime: boolean;
}

/** `member` comes into the room (the caller has checked it may): the change that says so. */
export function seat(room: Room, member: Member, s: Seating, now: number): Presence {
  Object.assign(member, {
    userName: s.userName ?? member.userName,
    avatar: s.avatar ?? member.avatar,
    role: currentHost(room) ? 'participant' : 'host',
    chat: true,
    boardGrant: false,
    sharingScreen: false,
    present: true,
    order: room.nextOrder++,
    joinedAt: now,
    canKick: s.canKick,
    realtime: s.realtime,
    session: s.session,
  });
  member.video = s.video;
  member.audio = s.audio && mayUnmute(room, member);
  if (member.lobby !== undefined) delete member.lobby;
  room.emptySince = null;
  return { member: snapshot(member), present: true };
}

/** Whether a member's own microphone may be on under the room's mute-all level. */
export function mayUnmute(room: Room, m: Member): boolean {
  return m.role === 'host' || room.muteAllAudio === 0;
}

