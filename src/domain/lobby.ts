// Convene's lobby (waiting room). While it is on, an entry (by password, by RoomToken, through the
// page) knocks instead of entering: its member is recorded, not present, not counted, and waits.
// The moderators (the host, and members with the right to remove others) are told of every knock
// and see who waits; they admit one, some or all, deny one with a reason, or send a member back.
// An admission is an entry: the same checks (lock, ban, a full room) and the same events. Exempt
// from waiting: the room's creator (unless told otherwise), a list of userUuids, and admin
// RoomTokens. Pure, as rules.ts.
import type { Command, EntryPolicy, ServerCaller } from './commands.ts';
import type { Enter } from './commands.ts';
import { snapshot, type MeetingEvent, type Presence } from './events.ts';
import { addMember, currentHost, findMember, onlineCount, own, type Lobby, type Member, type Room } from './room.ts';
import { RuleError, type Decision } from './rules.ts';
import { admissible, newMember, seat } from './entry.ts';
import { removeMember } from './effects.ts';

/** The longest reason a denial may carry (characters). */
export const MAX_DENY_REASON = 256;
/** The most userUuids a room's lobby may exempt. */
export const MAX_LOBBY_EXEMPT = 100;

export type LobbyAction =
  | { action: 'settings'; on?: boolean; exemptCreator?: boolean; exempt?: string[] }
  /** `targets` null: everyone waiting, in the order they knocked, as many as the room takes. */
  | { action: 'admit'; targets: string[] | null }
  | { action: 'deny'; target: string; reason: string }
  | { action: 'sendBack'; target: string };

/** A moderator's (or the server's) lobby command. */
export interface LobbyCommand {
  type: 'lobby';
  /** The moderator acting; null: the server (server API, CLI). */
  actor: string | null;
  /** With a null actor: who asked, for the audit log. */
  by?: ServerCaller;
  do: LobbyAction;
  /** The app's entry rules: an admission is an entry. */
  policy: EntryPolicy;
}

/** A waiting member as the moderators see it. */
export interface KnockView {
  userId: string;
  userName: string;
  avatar: string;
  /** When it knocked, epoch ms. */
  at: number;
}

/** A member that no longer waits without being admitted or denied, and why. */
export interface LobbyLeft extends Omit<KnockView, 'at'> {
  why: 'exit' | 'presence' | 'end';
}

export function newLobby(on: boolean): Lobby {
  return { on, exemptCreator: true, exempt: [], waiting: [] };
}

/** Whether `m` waits in the lobby now. */
export function isWaiting(m: Member): boolean {
  return m.lobby !== undefined && m.lobby.denied === undefined && !m.present;
}

/**
 * The lobby's moderators: the host, and members with the right to remove others. DECISION: a room
 * has one host; an admin RoomToken's member (the business's moderator) is the second "host" that
 * sees and answers knocks, as it may already remove members.
 */
export function moderates(m: Member): boolean {
  return m.present && (m.role === 'host' || m.canKick);
}

/**
 * Entries that skip the lobby: an admin RoomToken (DECISION: a moderator never waits for itself),
 * the room's creator (its first member), the listed userUuids.
 */
export function exemptFromLobby(room: Room, cmd: Enter): boolean {
  const lobby = room.lobby!;
  if (cmd.canKick === true) return true;
  const first = room.members[0];
  if (lobby.exemptCreator && (first === undefined || first.userUuid === cmd.userUuid)) return true;
  return lobby.exempt.includes(cmd.userUuid);
}

/**
 * An entry knocks: its member (new, returning, denied before, or waiting already with an older
 * session) waits, with the new session (the answer's userToken opens its lobby socket). DECISION: a
 * lock or a ban refuses it at once (waiting could not end well); a full room does not (someone may
 * leave before it is admitted). Waiting members do not keep an empty meeting from ending.
 */
export function knock(room: Room, found: Member | undefined, cmd: Enter, now: number): Decision {
  admissible(room, cmd.userUuid, { ...cmd.policy, maxUsers: 0 }, now);
  const m = found ?? addMember(room, newMember(room, cmd, now));
  const again = isWaiting(m);
  m.userName = cmd.userName ?? m.userName;
  m.avatar = cmd.avatar ?? m.avatar;
  m.session = cmd.fresh.session;
  m.realtime = false;
  // Knocking again keeps its place in the line.
  m.lobby = { at: again ? m.lobby!.at : now, audio: cmd.audio, video: cmd.video };
  const lobby = room.lobby!;
  room.lobby = { ...lobby, waiting: again ? lobby.waiting : [...lobby.waiting, m.userId] };
  // Nobody inside: the meeting ends after the empty-room TTL unless someone comes in.
  if (onlineCount(room) === 0 && room.emptySince === null) room.emptySince = now;
  return { room, events: [], changed: true, entered: { userId: m.userId, session: m.session, waiting: true } };
}

/** A waiting member leaves the lobby (its exit, its presence expiring) or connects its lobby socket. */
export function waitingMember(stored: Room, m: Member, cmd: Command, _now: number, draft: (base: Room) => Room): Decision {
  if (!isWaiting(m)) return { room: stored, events: [] };
  const room = draft(stored);
  const mine = own(room, m);
  if (cmd.type === 'realtimeConnected') {
    if (mine.realtime || mine.session !== cmd.session) return { room: stored, events: [] };
    mine.realtime = true;
    return { room, events: [], changed: true };
  }
  if (cmd.type === 'presenceExpired' && cmd.httpOnlyStays && !m.realtime) return { room: stored, events: [] };
  delete mine.lobby;
  unlist(room, [m.userId]);
  return { room, events: [], changed: true };
}

/** Take `ids` off the waiting line. */
function unlist(room: Room, ids: string[]): void {
  const gone = new Set(ids);
  room.lobby = { ...room.lobby!, waiting: room.lobby!.waiting.filter((id) => !gone.has(id)) };
}

/** What a lobby command does; the moderators' lobbyChanged is added by decide() (lobbyEvent). */
export function decideLobby(room: Room, cmd: LobbyCommand, now: number, events: MeetingEvent[]): void {
  const actor = cmd.actor === null ? null : findMember(room, cmd.actor);
  if (cmd.actor !== null && !actor?.present) throw new RuleError('notInRoom', 'you are no longer in this room');
  if (actor && !moderates(actor)) throw new RuleError('forbidden', 'only the host may let members in, keep them out or change the lobby');
  const by = actor ? snapshot(actor) : null;
  const c = cmd.do;
  switch (c.action) {
    case 'settings': {
      if (c.exempt !== undefined && c.exempt.length > MAX_LOBBY_EXEMPT) throw new RuleError('invalid', `at most ${MAX_LOBBY_EXEMPT} exempt users`);
      const was = room.lobby ?? newLobby(false);
      const next: Lobby = { ...was, on: c.on ?? was.on, exemptCreator: c.exemptCreator ?? was.exemptCreator, exempt: c.exempt ? [...new Set(c.exempt)] : was.exempt };
      if (next.on === was.on && next.exemptCreator === was.exemptCreator && sameList(next.exempt, was.exempt) && room.lobby) return;
      room.lobby = next;
      // DECISION: turned off, those waiting come in, as many as the room takes (the rest still wait
      // and may be admitted or denied): nobody is dropped, nobody skips the entry's checks.
      if (was.on && !next.on && next.waiting.length > 0) admit(room, null, cmd.policy, now, by, events, true);
      return;
    }
    case 'admit': {
      if (c.targets !== null && c.targets.length === 0) throw new RuleError('invalid', 'name at least one member to admit');
      admit(room, c.targets, cmd.policy, now, by, events, false);
      return;
    }
    case 'deny': {
      const reason = c.reason.trim();
      if (reason.length > MAX_DENY_REASON) throw new RuleError('invalid', `the reason must be at most ${MAX_DENY_REASON} characters`);
      const m = waitingTarget(room, c.target);
      own(room, m).lobby = { ...m.lobby!, denied: reason };
      unlist(room, [m.userId]);
      events.push({ type: 'lobbyDenied', to: [m.userId], reason, by });
      return;
    }
    case 'sendBack': {
      const target = findMember(room, c.target);
      if (!target?.present) throw new RuleError('notFound', 'user not found in this room');
      if (actor && target.userId === actor.userId) throw new RuleError('invalid', 'you cannot send yourself to the lobby');
      const m = own(room, target);
      removeMember(room, m, events, now, 'lobby');
      // Its session goes on: the same token opens its lobby socket, and its admission continues it.
      m.lobby = { at: now, audio: false, video: false };
      const lobby = room.lobby ?? newLobby(false);
      room.lobby = { ...lobby, waiting: [...lobby.waiting, m.userId] };
      return;
    }
  }
}

function waitingTarget(room: Room, userId: string): Member {
  const m = findMember(room, userId);
  if (!m || !isWaiting(m)) throw new RuleError('notFound', 'nobody of that userId waits in the lobby');
  return m;
}

/**
 * Admit `targets` (null: everyone waiting, in knock order) as entries: each must pass the entry's
 * checks when admitted. DECISION: admitting all stops quietly where the room is full (the rest wait;
 * refused only if nobody fits); `quiet` (the lobby turned off) also where it is locked. One
 * membership change for all of them.
 */
function admit(room: Room, targets: string[] | null, policy: EntryPolicy, now: number, by: Presence['member'] | null, events: MeetingEvent[], quiet: boolean): void {
  const all = targets === null;
  const ids = all ? [...room.lobby!.waiting] : [...new Set(targets)];
  const changes: Presence[] = [];
  const admitted: string[] = [];
  for (const id of ids) {
    const waiting = all ? findMember(room, id)! : waitingTarget(room, id);
    try {
      admissible(room, waiting.userUuid, policy, now);
    } catch (err) {
      const stop = err instanceof RuleError && (quiet || (all && err.code === 'roomFull' && admitted.length > 0));
      if (stop) break;
      throw err;
    }
    const m = own(room, waiting);
    changes.push(seat(room, m, { audio: m.lobby!.audio, video: m.lobby!.video, canKick: false, session: m.session, realtime: m.realtime }, now));
    admitted.push(m.userId);
  }
  if (admitted.length === 0) return;
  unlist(room, admitted);
  events.push({ type: 'lobbyAdmitted', to: admitted, by });
  // As if they had entered: one membership message for all of them.
  events.push({ type: 'membersChanged', changes, total: onlineCount(room) });
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function view(m: Member, at: number): KnockView {
  return { userId: m.userId, userName: m.userName, avatar: m.avatar, at };
}

/** Who waits, as the moderators see it. */
export function waitingViews(room: Room): KnockView[] {
  const out: KnockView[] = [];
  for (const id of room.lobby?.waiting ?? []) {
    const m = findMember(room, id);
    if (m?.lobby) out.push(view(m, m.lobby.at));
  }
  return out;
}

/** The present moderators' userIds. */
export function moderatorsOf(room: Room): string[] {
  const ids: string[] = [];
  for (const m of room.members) if (moderates(m)) ids.push(m.userId);
  return ids;
}

/**
 * What moved in the lobby with one decision, for its moderators: who knocked (again) and who left
 * without being admitted or denied (known from the command: in a batch the rooms before and after
 * share their member records), and who waits now; also the list for a member who has just become
 * host. Null when nothing did.
 */
export function lobbyEvent(before: Room | null, after: Room, cmd: Command, d: Decision): MeetingEvent | null {
  const was = before?.lobby;
  const lobby = after.lobby;
  if (!lobby) return null;
  if (after.ended) {
    // The meeting ended: nobody waits any more (said for the webhooks; no moderator is left to tell).
    if (before?.ended === true || lobby.waiting.length === 0) return null;
    const left = waitingViews(after).map(({ at: _at, ...v }): LobbyLeft => ({ ...v, why: 'end' }));
    return { type: 'lobbyChanged', to: [], on: lobby.on, waiting: [], knocked: [], left };
  }
  if (was === lobby) {
    // Nothing moved; a member who has just become host still needs the list (the others have it).
    const host = currentHost(after)?.userId;
    if (host === undefined || host === (before ? currentHost(before)?.userId : undefined) || (!lobby.on && lobby.waiting.length === 0)) return null;
    return { type: 'lobbyChanged', to: [host], on: lobby.on, waiting: waitingViews(after), knocked: [], left: [] };
  }
  const knocked: KnockView[] = [];
  const left: LobbyLeft[] = [];
  if (cmd.type === 'enter' && d.entered?.waiting) {
    const m = findMember(after, d.entered.userId)!;
    knocked.push(view(m, m.lobby!.at));
  }
  if ((cmd.type === 'leave' || cmd.type === 'presenceExpired') && was) {
    const id = cmd.type === 'leave' ? cmd.actor : cmd.target;
    const m = findMember(after, id);
    if (m && was.waiting.includes(id) && !lobby.waiting.includes(id)) {
      left.push({ userId: m.userId, userName: m.userName, avatar: m.avatar, why: cmd.type === 'leave' ? 'exit' : 'presence' });
    }
  }
  return { type: 'lobbyChanged', to: moderatorsOf(after), on: lobby.on, waiting: waitingViews(after), knocked, left };
}
