// The hand queue: raised hands in the order they were raised. A member raises and lowers its own
// hand; a host lowers one or all, or answers the next (the first hand is lowered and its member
// invited to speak). The shipped apps' "raise hand" is an application to speak (E7, audio): it
// raises the hand too, and the host's answers to it (an invitation accepted, a rejection, the
// microphone granted) lower it. Who sees the queue: the hosts and the members in it, or everyone
// when the host makes it public. Pure, as rules.ts.
import { snapshot, type MeetingEvent } from './events.ts';
import { findMember, own, type Hand, type Member, type Room } from './room.ts';
import { RuleError } from './rules.ts';
import { inviteToSpeak } from './effects.ts';

export type HandsAction =
  | { action: 'raise' }
  | { action: 'lower'; target: string }
  | { action: 'lowerAll' }
  | { action: 'answerNext' }
  | { action: 'visibility'; public: boolean };

export interface HandsCommand {
  type: 'hands';
  actor: string;
  do: HandsAction;
}

/** A raised hand as members see it. */
export interface HandView {
  userId: string;
  userName: string;
  /** When it was raised, epoch ms. */
  at: number;
}

export function handsOf(room: Room): readonly Hand[] {
  return room.hands ?? EMPTY;
}
const EMPTY: readonly Hand[] = Object.freeze([]);

export function handRaised(room: Room, userId: string): boolean {
  return handsOf(room).some((h) => h.userId === userId);
}

/** Raise `m`'s hand at the end of the queue (no change when it is up already). */
export function raiseHand(room: Room, m: Member, now: number): void {
  if (handRaised(room, m.userId)) return;
  // A new array each time: the committed state's may be shared with readers.
  room.hands = [...handsOf(room), { userId: m.userId, at: now }];
}

/** Lower `userId`'s hand, if it is up. */
export function lowerHand(room: Room, userId: string): void {
  if (!handRaised(room, userId)) return;
  const rest = handsOf(room).filter((h) => h.userId !== userId);
  if (rest.length > 0) room.hands = rest;
  else delete room.hands;
}

/** What the hand queue command does; the handsChanged event is added by decide() (handsEvent). */
export function decideHands(room: Room, actor: Member, cmd: HandsCommand, now: number, events: MeetingEvent[]): void {
  const host = actor.role === 'host';
  const c = cmd.do;
  switch (c.action) {
    case 'raise':
      if (host) throw new RuleError('forbidden', 'the host has nobody to raise a hand to');
      return raiseHand(room, actor, now);
    case 'lower':
      if (c.target !== actor.userId && !host) throw new RuleError('forbidden', "only the host may lower another member's hand");
      if (c.target !== actor.userId && !findMember(room, c.target)?.present) throw new RuleError('notFound', 'user not found in this room');
      return lowerHand(room, c.target);
    case 'lowerAll':
      if (!host) throw new RuleError('forbidden', 'only the host may lower every hand');
      delete room.hands;
      return;
    case 'answerNext': {
      if (!host) throw new RuleError('forbidden', 'only the host may answer a raised hand');
      const first = handsOf(room)[0];
      if (!first) throw new RuleError('notFound', 'no hand is raised');
      const target = own(room, findMember(room, first.userId)!);
      lowerHand(room, target.userId);
      // The answer is an invitation to speak (E6, audio): the host's permission, even under mute all.
      inviteToSpeak(room, target);
      events.push({ type: 'invited', to: target.userId, from: snapshot(actor), module: 'audio', action: 'invite' });
      return;
    }
    case 'visibility':
      if (!host) throw new RuleError('forbidden', 'only the host may show or hide the hand queue');
      if ((room.handsPublic === true) === c.public) return;
      if (c.public) room.handsPublic = true;
      else delete room.handsPublic;
      return;
  }
}

/**
 * The queue after a decision that changed it (or its visibility), to those who may see it: everyone
 * when it is or was public; else the hosts, the members in it, and those whose hand went down.
 */
export function handsEvent(before: Room, after: Room): MeetingEvent | null {
  if (handsOf(before) === handsOf(after) && before.handsPublic === after.handsPublic) return null;
  const hands = handsOf(after);
  const isPublic = after.handsPublic === true;
  let to: string[] | null = null;
  if (!isPublic && before.handsPublic !== true) {
    const ids = new Set<string>();
    for (const m of after.members) if (m.present && m.role === 'host') ids.add(m.userId);
    for (const h of handsOf(before)) ids.add(h.userId);
    for (const h of hands) ids.add(h.userId);
    to = [...ids];
  }
  return { type: 'handsChanged', hands: handViews(after), public: isPublic, to };
}

export function handViews(room: Room): HandView[] {
  return handsOf(room).map((h) => ({ userId: h.userId, userName: findMember(room, h.userId)?.userName ?? '', at: h.at }));
}

/** What `userId` may see of the queue: all of it (a host, or a public queue), else its own hand. */
export function handsSeenBy(room: Room, userId: string): { public: boolean; list: HandView[] } {
  const m = findMember(room, userId);
  const all = room.handsPublic === true || m?.role === 'host';
  const list = handViews(room);
  return { public: room.handsPublic === true, list: all ? list : list.filter((h) => h.userId === userId) };
}
