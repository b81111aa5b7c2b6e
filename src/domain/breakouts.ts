// Breakout rooms. A host opens N breakouts, each a meeting of its own (its own roomId, seq, log,
// board, chat), and places the main meeting's members in them: by hand, at random, or letting them
// choose. The main meeting records the round (its rooms, where each member is placed, when it
// ends) and is the truth; the breakouts follow it (service/breakouts.ts syncs them). A member in a
// breakout stays present in the main meeting (its role and state kept there): only its sockets
// follow the breakout, so the return is a switch of sockets, not a new entry. Pure, as rules.ts.
import { snapshot, type MeetingEvent, type MemberSnapshot } from './events.ts';
import { addMember, blankRoom, findMember, onlineCount, own, presentMembers, type Member, type Room } from './room.ts';
import { RuleError } from './rules.ts';
import type { ServerCaller } from './commands.ts';
import { endMeeting, removeMember } from './effects.ts';

export type Assignment = 'manual' | 'random' | 'choose';

export interface BreakoutRoom {
  roomId: string;
  name: string;
}

/** The round of breakouts a main meeting runs (Room.breakouts). */
export interface Breakouts {
  round: string;
  rooms: BreakoutRoom[];
  assignment: Assignment;
  /** userId → the breakout (roomId) the member is placed in; absent: in the main meeting. */
  placed: Record<string, string>;
  /** When they close by themselves (epoch ms); null: when a host closes them. */
  endsAt: number | null;
  /** A close was asked: everyone goes back, and the round goes once every breakout has ended. */
  closing?: boolean;
  openedAt: number;
  /**
   * Bumped by every change of the round: a breakout applies a sync's step only if it was made from
   * this revision or a newer one than it has seen, so a slow sync (another node's) never undoes a
   * newer move.
   */
  rev: number;
}

/** What a breakout knows of its main meeting (Room.breakoutOf). */
export interface BreakoutOf {
  mainRoomId: string;
  round: string;
  name: string;
  endsAt: number | null;
  /** The round's revision its seats and end were last synced from (Breakouts.rev). Absent: none yet. */
  rev?: number;
}

/** Most breakouts in one round, and the longest name and duration (every edge refuses more). */
export const MAX_BREAKOUTS = 50;
export const MAX_BREAKOUT_NAME = 64;
export const MAX_BREAKOUT_MS = 24 * 3_600_000;
export const MAX_BREAKOUT_MESSAGE = 1000;

export type BreakoutsAction =
  | {
      action: 'open';
      names: string[];
      assignment: Assignment;
      /** 'manual': userId → index in `names`; others stay in the main meeting. */
      manual?: Record<string, number>;
      durationMs: number | null;
      /** Chosen by the service: the round's id, the rooms' ids, and the seed of a random assignment. */
      fresh: { round: string; roomIds: string[]; seed: number };
    }
  /** Place `target` in breakout `to` ('' : the main meeting). A member may choose its own in 'choose'. */
  | { action: 'move'; target: string; to: string }
  | { action: 'extend'; byMs: number }
  | { action: 'message'; text: string }
  | { action: 'close' }
  /** The timer (any node): closes the round if its stored endsAt has passed. */
  | { action: 'expire' }
  /** Every breakout of `round` has ended: the round is over (the service, after a close). */
  | { action: 'finish'; round: string };

/** A command on the main meeting. `actor` null: the server (its API, the timer). */
export interface BreakoutsCommand {
  type: 'breakouts';
  actor: string | null;
  /** With a null actor: who asked (the server API's key), for the audit log; absent: the timer. */
  by?: ServerCaller;
  do: BreakoutsAction;
}

/** Who a breakout seats: the main meeting's member, the same ids and session (its token works here). */
export type BreakoutSeat = Pick<Member, 'userId' | 'userUuid' | 'userName' | 'avatar' | 'role' | 'uid' | 'screenId' | 'session' | 'realtime' | 'audio' | 'video'>;

/** Commands the service runs on a breakout to make it follow its main meeting. */
export type BreakoutRoomCommand =
  | { type: 'openBreakout'; appId: string; roomUuid: string; roomId: string; boardId: string; password: string; of: BreakoutOf }
  /** Seat these members (added, or their session brought up to date). */
  | { type: 'seatBreakout'; round: string; rev: number; seats: BreakoutSeat[] }
  /** Members present but not in `keep` leave, each toward its destination (a roomId) in `to`. */
  | { type: 'unseatBreakout'; round: string; rev: number; keep: string[]; to: Record<string, string>; mainRoomId: string }
  | { type: 'breakoutTimer'; round: string; rev: number; endsAt: number | null }
  | { type: 'breakoutMessage'; round: string; msgId: string; from: MemberSnapshot | null; text: string }
  | { type: 'endBreakout'; round: string };

export interface BreakoutsView {
  round: string;
  assignment: Assignment;
  endsAt: number | null;
  closing: boolean;
  rooms: { roomId: string; name: string; members: string[] }[];
}

export type BreakoutStep = 'opened' | 'moved' | 'extended' | 'closing' | 'closed';

export function breakoutsView(b: Breakouts): BreakoutsView {
  const members = new Map<string, string[]>(b.rooms.map((r) => [r.roomId, []]));
  for (const [userId, roomId] of Object.entries(b.placed)) members.get(roomId)?.push(userId);
  return { round: b.round, assignment: b.assignment, endsAt: b.endsAt, closing: b.closing === true, rooms: b.rooms.map((r) => ({ ...r, members: members.get(r.roomId)! })) };
}

/** The breakout roomUuid of a round's i-th room (unique: the round's id is random). */
export function breakoutUuid(round: string, i: number): string {
  return `breakout:${round}:${i + 1}`;
}

/** A small seeded generator (mulberry32): the random assignment is the seed's, so deciding stays pure. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function requireHost(actor: Member | null, what: string): void {
  if (actor && actor.role !== 'host') throw new RuleError('forbidden', `only the host may ${what}`);
}

function openRound(b: Breakouts | undefined): Breakouts {
  if (!b || b.closing) throw new RuleError('notFound', 'no breakout rooms are open');
  return b;
}

/** A command on the main meeting (decide() has checked it is running). */
export function decideBreakouts(room: Room, cmd: BreakoutsCommand, now: number, events: MeetingEvent[]): void {
  const actorMember = cmd.actor === null ? null : findMember(room, cmd.actor);
  if (cmd.actor !== null && !actorMember?.present) throw new RuleError('notInRoom', 'you are no longer in this room');
  const actor = actorMember ?? null;
  const by = actor ? snapshot(actor) : null;
  if (room.breakoutOf) throw new RuleError('forbidden', 'a breakout room has no breakouts of its own: open them from the main meeting');
  const c = cmd.do;
  const tell = (step: BreakoutStep, extra: Partial<Extract<MeetingEvent, { type: 'breakoutsChanged' }>> = {}) =>
    events.push({ type: 'breakoutsChanged', step, by, view: room.breakouts ? breakoutsView(room.breakouts) : null, ...extra });
  switch (c.action) {
    case 'open': {
      requireHost(actor, 'open breakout rooms');
      // The same round again (a retried request): already done.
      if (room.breakouts?.round === c.fresh.round) return;
      if (room.breakouts) throw new RuleError('busy', 'breakout rooms are already open: close them first');
      if (c.names.length < 1 || c.names.length > MAX_BREAKOUTS || c.fresh.roomIds.length !== c.names.length) {
        throw new RuleError('invalid', `open 1 to ${MAX_BREAKOUTS} breakout rooms`);
      }
      if (c.names.some((n) => n.length === 0 || n.length > MAX_BREAKOUT_NAME)) throw new RuleError('invalid', `a breakout's name is 1 to ${MAX_BREAKOUT_NAME} characters`);
      if (c.durationMs !== null && (c.durationMs < 1000 || c.durationMs > MAX_BREAKOUT_MS)) throw new RuleError('invalid', 'the duration is 1 s to 24 h, or none');
      const rooms = c.names.map((name, i) => ({ roomId: c.fresh.roomIds[i]!, name }));
      const placed: Record<string, string> = {};
      if (c.assignment === 'random') {
        // Participants dealt round-robin in a seeded shuffle; hosts stay in the main meeting.
        const people = presentMembers(room).filter((m) => m.role !== 'host');
        const next = generator(c.fresh.seed);
        for (let i = people.length - 1; i > 0; i--) {
          const j = Math.floor(next() * (i + 1));
          [people[i], people[j]] = [people[j]!, people[i]!];
        }
        people.forEach((m, i) => (placed[m.userId] = rooms[i % rooms.length]!.roomId));
      } else if (c.assignment === 'manual') {
        for (const [userId, i] of Object.entries(c.manual ?? {})) {
          if (!findMember(room, userId)?.present) throw new RuleError('notFound', `user ${userId} not found in this room`);
          if (!Number.isInteger(i) || i < 0 || i >= rooms.length) throw new RuleError('invalid', `user ${userId}: no breakout room ${i}`);
          placed[userId] = rooms[i]!.roomId;
        }
      }
      room.breakouts = { round: c.fresh.round, rooms, assignment: c.assignment, placed, endsAt: c.durationMs === null ? null : now + c.durationMs, openedAt: now, rev: 1 };
      return void tell('opened');
    }
    case 'move': {
      const b = openRound(room.breakouts);
      const self = actor !== null && c.target === actor.userId;
      // A member chooses its own room when the host lets members choose, and may always go back to
      // the main meeting; a host goes where it likes.
      const back = c.to === '' || c.to === room.roomId;
      if (!(self && (b.assignment === 'choose' || back))) requireHost(actor, 'move members between rooms');
      if (!findMember(room, c.target)?.present) throw new RuleError('notFound', 'user not found in this room');
      if (c.to !== '' && c.to !== room.roomId && !b.rooms.some((r) => r.roomId === c.to)) throw new RuleError('notFound', 'no such breakout room');
      const to = c.to === room.roomId ? '' : c.to;
      const from = b.placed[c.target] ?? '';
      if (from === to) return;
      const placed = { ...b.placed };
      if (to === '') delete placed[c.target];
      else placed[c.target] = to;
      room.breakouts = { ...b, placed, rev: b.rev + 1 };
      return void tell('moved', { moved: { userId: c.target, from: from || room.roomId, to: to || room.roomId } });
    }
    case 'extend': {
      const b = openRound(room.breakouts);
      requireHost(actor, 'extend the breakout rooms');
      const base = b.endsAt ?? now;
      if (!(c.byMs > 0) || base + c.byMs - now > MAX_BREAKOUT_MS) throw new RuleError('invalid', 'breakouts last at most 24 h from now');
      room.breakouts = { ...b, endsAt: base + c.byMs, rev: b.rev + 1 };
      return void tell('extended');
    }
    case 'message': {
      openRound(room.breakouts);
      requireHost(actor, 'message every breakout room');
      if (c.text.length === 0 || c.text.length > MAX_BREAKOUT_MESSAGE) throw new RuleError('invalid', `a message is 1 to ${MAX_BREAKOUT_MESSAGE} characters`);
      // The same id goes with each breakout's copy (service/breakouts.ts): one message, however many rooms.
      return void events.push({ type: 'breakoutsMessage', msgId: `${room.roomId}-${room.seq + 1}`, from: by, text: c.text });
    }
    case 'close':
    case 'expire': {
      const b = room.breakouts;
      if (c.action === 'close') requireHost(actor, 'close the breakout rooms');
      // The timer checks the stored end: an extension (on any node) since it was set keeps them open.
      if (c.action === 'expire' && (!b || b.closing || b.endsAt === null || b.endsAt > now)) return;
      if (!b) throw new RuleError('notFound', 'no breakout rooms are open');
      if (b.closing) return;
      room.breakouts = { ...b, closing: true, rev: b.rev + 1 };
      return void tell('closing');
    }
    case 'finish': {
      if (room.breakouts?.round !== c.round || !room.breakouts.closing) return;
      const rooms = room.breakouts.rooms;
      delete room.breakouts;
      return void tell('closed', { closedRooms: rooms });
    }
  }
}

/** A breakout's own command (run by the service, never by a member): `room` is null when it is being made. */
export function decideBreakoutRoom(room: Room | null, cmd: BreakoutRoomCommand, now: number, draft: (base: Room) => Room): { room: Room; events: MeetingEvent[]; changed?: boolean } {
  if (cmd.type === 'openBreakout') {
    if (room) return { room, events: [] };
    const fresh = blankRoom({ roomId: cmd.roomId, appId: cmd.appId, roomUuid: cmd.roomUuid, roomName: cmd.of.name, password: cmd.password, boardId: cmd.boardId }, now);
    fresh.breakoutOf = cmd.of;
    return { room: fresh, events: [{ type: 'breakoutChanged', mainRoomId: cmd.of.mainRoomId, name: cmd.of.name, endsAt: cmd.of.endsAt }] };
  }
  // A command of another round, or on an ended breakout: nothing to do (every step may run twice).
  if (!room || !room.breakoutOf || room.breakoutOf.round !== cmd.round || room.ended) return { room: room!, events: [] };
  // A sync made from an older revision of the round than one already applied: stale, ignored.
  const applied = room.breakoutOf.rev ?? 0;
  if (cmd.type !== 'breakoutMessage' && cmd.type !== 'endBreakout' && cmd.rev < applied) return { room, events: [] };
  const r = draft(room);
  const events: MeetingEvent[] = [];
  // A newer revision is recorded, though nobody is told.
  const newer = cmd.type !== 'breakoutMessage' && cmd.type !== 'endBreakout' && cmd.rev > applied;
  if (newer) r.breakoutOf = { ...r.breakoutOf!, rev: cmd.rev };
  switch (cmd.type) {
    case 'seatBreakout': {
      const seated: Member[] = [];
      for (const s of cmd.seats) {
        const found = findMember(r, s.userId);
        if (found?.present) {
          if (found.session !== s.session) own(r, found).session = s.session;
          continue;
        }
        const m = found ? own(r, found) : addMember(r, { ...s, chat: true, boardGrant: false, sharingScreen: false, present: true, order: 0, joinedAt: now, canKick: false });
        Object.assign(m, s, { present: true, order: r.nextOrder++, joinedAt: now, boardGrant: false, sharingScreen: false });
        seated.push(m);
      }
      if (seated.length > 0) {
        r.emptySince = null;
        events.push({ type: 'membersChanged', changes: seated.map((m) => ({ member: snapshot(m), present: true })), total: onlineCount(r) });
      }
      // A session brought up to date, or a newer revision, is stored, though nobody is told.
      return { room: r, events, ...((seated.length === 0 && cmd.seats.length > 0) || newer ? { changed: true } : {}) };
    }
    case 'unseatBreakout': {
      const keep = new Set(cmd.keep);
      for (const m of presentMembers(r)) {
        if (keep.has(m.userId)) continue;
        const before = events.length;
        removeMember(r, own(r, m), events, now, 'moved');
        // The departure says where the member went: its sockets follow it there.
        const left = events[before];
        if (left?.type === 'membersChanged') left.changes[0]!.to = cmd.to[m.userId] ?? cmd.mainRoomId;
      }
      return { room: r, events, changed: newer };
    }
    case 'breakoutTimer':
      if (r.breakoutOf!.endsAt === cmd.endsAt) return newer ? { room: r, events, changed: true } : { room, events: [] };
      r.breakoutOf = { ...r.breakoutOf!, endsAt: cmd.endsAt };
      events.push({ type: 'breakoutChanged', mainRoomId: r.breakoutOf.mainRoomId, name: r.breakoutOf.name, endsAt: cmd.endsAt });
      return { room: r, events };
    case 'breakoutMessage':
      events.push({ type: 'breakoutsMessage', msgId: cmd.msgId, from: cmd.from, text: cmd.text });
      return { room: r, events };
    case 'endBreakout':
      // Everyone back to the main meeting: its sockets switch there (the gateway) as the breakout ends.
      endMeeting(r, events, now);
      return { room: r, events };
  }
}
