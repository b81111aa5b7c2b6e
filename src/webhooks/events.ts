// What an app's webhooks are told, derived from the events of one commit: pure, no I/O. A meeting
// event may say several things (a departure of the host also changes the host; the end of a meeting
// is every member's departure), so each webhook event has the room's seq of the meeting event it
// comes from and its place among that seq's webhook events: (roomId, seq, idx) names it forever,
// and receivers dedupe by the id made of them.
import type { LoggedEvent, MemberSnapshot } from '../domain/events.ts';
import { presentMembers, findMember, type Member, type Room } from '../domain/room.ts';

export const WEBHOOK_EVENT_TYPES = [
  'room.started',
  'room.ended',
  'room.changed',
  'member.joined',
  'member.left',
  'host.changed',
  'screen.started',
  'screen.stopped',
  'board.started',
  'board.stopped',
  'chat.sent',
  'lobby.knocked',
  'lobby.admitted',
  'lobby.denied',
  'lobby.left',
  // Convene's breakout rooms, in the main meeting (a breakout's own members join and leave it as in
  // any meeting, `reason` 'moved' when the round moved them).
  'breakouts.opened',
  'breakouts.moved',
  'breakouts.extended',
  'breakouts.messaged',
  'breakouts.closing',
  'breakouts.closed',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What an endpoint gets when it names no types: everything but chat, which is opt-in. */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEventType[] = WEBHOOK_EVENT_TYPES.filter((t) => t !== 'chat.sent');

/** Every type, chat included. */
export const ALL_WEBHOOK_EVENTS = '*';

/** Why a member left: its own exit, a kick, its realtime presence expiring, or the meeting's end. */
export type LeftBecause = 'exit' | 'kick' | 'presence' | 'end';

export interface WebhookMember {
  userId: string;
  userUuid: string;
  userName: string;
  role: 'host' | 'participant';
}

export interface WebhookEvent {
  type: WebhookEventType;
  seq: number;
  idx: number;
  /** When it was committed (epoch ms). */
  at: number;
  /** The member concerned, where one is. */
  member: WebhookMember | null;
  /** What else the type says (e.g. `reason` of member.left). */
  data: Record<string, unknown>;
}

export function webhookMember(m: MemberSnapshot | Member): WebhookMember {
  return { userId: m.userId, userUuid: m.userUuid, userName: m.userName, role: m.role };
}

/** The unique id of a webhook event: its `webhook-id` on every attempt, to every endpoint. */
export function webhookEventId(roomId: string, seq: number, idx: number): string {
  return `evt_${roomId}_${seq}_${idx}`;
}

/**
 * The webhook events of one commit: `before` is the room as it was loaded for the commit (null for
 * a new meeting), `after` as committed, `logged` its events in seq order.
 */
export function webhookEvents(before: Room | null, after: Room, logged: LoggedEvent[]): WebhookEvent[] {
  const out: WebhookEvent[] = [];
  let sharer = before?.screenSharerId ?? '';
  let boardCreator = before?.boardShared ? before.boardCreatorId : '';
  /** Presence changes of this commit before its end (if it ends the meeting), in order. */
  const moves: { member: MemberSnapshot; present: boolean }[] = [];
  const kicks = new Map<string, { by: MemberSnapshot | null; bannedUntil: number | null }>();
  const memberAfter = (userId: string) => {
    const m = findMember(after, userId);
    return m ? webhookMember(m) : null;
  };

  logged.forEach(({ seq, at, event: e }, i) => {
    let idx = 0;
    const push = (type: WebhookEventType, member: WebhookMember | null, data: Record<string, unknown> = {}) =>
      void out.push({ type, seq, idx: idx++, at, member, data });
    if (i === 0 && before === null) push('room.started', null, { roomName: after.roomName });
    switch (e.type) {
      case 'membersChanged':
        for (const c of e.changes) {
          moves.push(c);
          if (c.present) {
            push('member.joined', webhookMember(c.member));
            continue;
          }
          const data: Record<string, unknown> = { reason: c.why ?? 'exit' };
          const kick = kicks.get(c.member.userId);
          if (c.why === 'kick' && kick) {
            data.kickedBy = kick.by ? webhookMember(kick.by) : null;
            data.bannedUntil = kick.bannedUntil;
          }
          push('member.left', webhookMember(c.member), data);
        }
        break;
      case 'memberKicked':
        kicks.set(e.target.userId, { by: e.by, bannedUntil: e.bannedUntil });
        break;
      case 'hostChanged': {
        const host = e.changes.find((c) => c.present && c.member.role === 'host');
        const previous = e.changes.find((c) => c !== host);
        push('host.changed', host ? webhookMember(host.member) : null, { previousHost: previous ? webhookMember(previous.member) : null });
        break;
      }
      case 'screenChanged':
        if (e.shared && e.users[0] && e.users[0].userId !== sharer) {
          sharer = e.users[0].userId;
          push('screen.started', webhookMember(e.users[0]));
        } else if (!e.shared && sharer) {
          push('screen.stopped', memberAfter(sharer));
          sharer = '';
        }
        break;
      case 'boardChanged':
        if (e.shared && !boardCreator) {
          boardCreator = e.creatorId;
          const creator = e.users.find((u) => u.userId === e.creatorId);
          push('board.started', creator ? webhookMember(creator) : memberAfter(e.creatorId));
        } else if (!e.shared && boardCreator) {
          push('board.stopped', memberAfter(boardCreator));
          boardCreator = '';
        }
        break;
      case 'roomChanged':
        if (!e.ended) {
          push('room.changed', null, { muteAllChat: e.muteAllChat, muteAllAudio: e.muteAllAudio, locked: e.locked });
          break;
        }
        // The end stops what was shared and sends everyone out: said one by one, then the end.
        if (sharer) push('screen.stopped', memberAfter(sharer));
        if (boardCreator) push('board.stopped', memberAfter(boardCreator));
        sharer = boardCreator = '';
        for (const m of presentAtEnd(before, moves)) push('member.left', memberAfter(m.userId) ?? webhookMember(m), { reason: 'end' });
        push('room.ended', null, { startTime: new Date(after.startTime).toISOString() });
        break;
      case 'chatSent':
        push('chat.sent', webhookMember(e.from), { message: e.message, chatType: e.chatType });
        break;
      // Convene's lobby: each knock, admission, denial and departure from it.
      case 'lobbyChanged':
        for (const k of e.knocked) push('lobby.knocked', memberAfter(k.userId), { knockedAt: k.at });
        for (const l of e.left) push('lobby.left', memberAfter(l.userId), { reason: l.why });
        break;
      case 'lobbyAdmitted':
        for (const id of e.to) push('lobby.admitted', memberAfter(id), { admittedBy: e.by ? webhookMember(e.by) : null });
        break;
      case 'lobbyDenied':
        for (const id of e.to) push('lobby.denied', memberAfter(id), { reason: e.reason, deniedBy: e.by ? webhookMember(e.by) : null });
        break;
      case 'breakoutsChanged':
        push(`breakouts.${e.step}`, e.moved ? memberAfter(e.moved.userId) : null, breakoutData(e));
        break;
      case 'breakoutsMessage':
        push('breakouts.messaged', null, { by: e.from ? webhookMember(e.from) : null, text: e.text, msgId: e.msgId });
        break;
      default:
        break;
    }
  });
  return out;
}

/** What a breakout step says: who did it (null: the server), the round, and the member moved. */
function breakoutData(e: Extract<LoggedEvent['event'], { type: 'breakoutsChanged' }>): Record<string, unknown> {
  const data: Record<string, unknown> = { by: e.by ? webhookMember(e.by) : null };
  if (e.view) Object.assign(data, { round: e.view.round, assignment: e.view.assignment, endsAt: e.view.endsAt, rooms: e.view.rooms });
  if (e.moved) data.moved = { from: e.moved.from, to: e.moved.to };
  if (e.closedRooms) data.rooms = e.closedRooms;
  return data;
}

/** Who was in the room when it ended: those present before the commit, moved by its changes. */
function presentAtEnd(before: Room | null, moves: { member: MemberSnapshot; present: boolean }[]): (MemberSnapshot | Member)[] {
  const present = new Map<string, MemberSnapshot | Member>();
  if (before) for (const m of presentMembers(before)) present.set(m.userId, m);
  for (const c of moves) {
    if (c.present) present.set(c.member.userId, c.member);
    else present.delete(c.member.userId);
  }
  return [...present.values()];
}
