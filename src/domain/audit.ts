// The audit log: every moderator action in a meeting (a host's on other members and on the room, the
// server's through its API or the CLI), who did it, to whom, and what was before and after. Made
// from a decision and the room it was taken on, committed with it, never changed afterwards.
// Members' own doings (their microphone, their chat, their exit) and the timers' are not in it.
// Pure, as rules.ts.
import type { Command, ServerCaller } from './commands.ts';
import type { MetadataCommand } from './metadata.ts';
import { findMember, type Member, type Room } from './room.ts';
import type { Decision } from './rules.ts';

export const AUDIT_ACTIONS = [
  'member.audio',
  'member.video',
  'member.chat',
  'member.board',
  'member.screen',
  'member.kick',
  'member.metadata',
  'room.muteAudio',
  'room.muteChat',
  'room.lock',
  'room.metadata',
  'room.end',
  'host.transfer',
  'lobby.settings',
  'lobby.admit',
  'lobby.deny',
  'lobby.back',
  'breakouts.open',
  'breakouts.move',
  'breakouts.extend',
  'breakouts.message',
  'breakouts.close',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditPerson {
  userId: string;
  userUuid: string;
  userName: string;
}

/** A member of the meeting (its role then), or the server (an access key `key:<AK>`, or `cli`). */
export type AuditActor = ({ kind: 'member'; role: 'host' | 'participant' } & AuditPerson) | { kind: 'server'; by: ServerCaller };

export interface AuditEntry {
  /** Its place in the meeting's audit log, from 1. */
  n: number;
  /** When it was committed, epoch ms. */
  at: number;
  /** The meeting's seq after its commit: where it happened in the event log. */
  seq: number;
  action: AuditAction;
  actor: AuditActor;
  target: AuditPerson | null;
  /** The fields the action changed, as they were and as they are after it. */
  before: Record<string, unknown>;
  after: Record<string, unknown>;
}

export type AuditDraft = Omit<AuditEntry, 'n' | 'at' | 'seq'>;

/** The commands that may moderate (whether one did is decided per command below). */
const MODERATING: ReadonlySet<Command['type']> = new Set(['changeRoom', 'lockRoom', 'close', 'changeMember', 'shareScreen', 'kick', 'transferHost', 'metadata', 'lobby', 'breakouts']);

const person = (m: Member): AuditPerson => ({ userId: m.userId, userUuid: m.userUuid, userName: m.userName });

/**
 * What to record of `cmd` once decided, given the room before it (taken before deciding: a
 * decision may change the members array it was given). Null: nothing to record for this command.
 */
export function auditWatch(before: Room | null, cmd: Command): ((d: Decision) => AuditDraft[]) | null {
  // Most commands (entries, chat, sockets connecting) are nobody's moderation: one look at the type.
  if (!before || !MODERATING.has(cmd.type)) return null;
  const member = 'actor' in cmd && cmd.actor !== null ? findMember(before, cmd.actor) : undefined;
  const actor: AuditActor = member ? { kind: 'member', role: member.role, ...person(member) } : { kind: 'server', by: ('by' in cmd && cmd.by) || 'server' };
  const target = 'target' in cmd && typeof cmd.target === 'string' ? findMember(before, cmd.target) : undefined;
  const entry = (action: AuditAction, who: Member | null, was: Record<string, unknown>, is: Record<string, unknown>): AuditDraft => ({
    action,
    actor,
    target: who ? person(who) : null,
    before: was,
    after: is,
  });
  switch (cmd.type) {
    case 'changeRoom':
    case 'lockRoom':
      return (d) => roomChanges(before, d.room).map(([action, was, is]) => entry(action, null, was, is));
    case 'close':
      // The empty-room timer is no moderator.
      return cmd.emptySinceAtMost !== null ? null : (d) => (d.room.ended ? [entry('room.end', null, { ended: false }, { ended: true })] : []);
    case 'changeMember':
      if (!target || target.userId === member?.userId) return null;
      return (d) => memberChanges(target, findMember(d.room, target.userId)).map(([action, was, is]) => entry(action, target, was, is));
    case 'shareScreen':
      if (!target || target.userId === member?.userId || cmd.on || !target.sharingScreen) return null;
      return (d) => (findMember(d.room, target.userId)?.sharingScreen ? [] : [entry('member.screen', target, { sharingScreen: true }, { sharingScreen: false })]);
    case 'kick':
      if (!target?.present || target.userId === member?.userId) return null;
      return (d) => {
        // A ban this kick made is a new object (the list is rebuilt); one already there is not.
        const ban = d.room.bans?.find((b) => b.userUuid === target.userUuid && !before.bans?.includes(b));
        return [entry('member.kick', target, { present: true }, ban ? { present: false, bannedUntil: ban.until } : { present: false })];
      };
    case 'transferHost':
      if (!target || target.userId === member?.userId) return null;
      return () => [entry('host.transfer', target, { host: member?.userId ?? null }, { host: target.userId })];
    case 'metadata':
      // A member setting its own where the room allows it is no moderator.
      if (member && member.role !== 'host') return null;
      return (d) => metadataChanges(before, d.room, cmd).map(([action, who, was, is]) => entry(action, who, was, is));
    case 'breakouts': {
      const c = cmd.do;
      // The timer's steps are no moderation; nor is a member choosing its own breakout.
      if (c.action === 'expire' || c.action === 'finish' || (c.action === 'move' && member?.userId === c.target)) return null;
      const target = c.action === 'move' ? findMember(before, c.target) ?? null : null;
      return (d) => breakoutChanges(before, d, c.action).map(([action, was, is]) => entry(action, target, was, is));
    }
    case 'lobby':
      return (d) => lobbyChanges(before, d, cmd.do.action === 'sendBack' ? cmd.do.target : null).map(([action, who, was, is]) => entry(action, who, was, is));
    default:
      return null;
  }
}

type Change = [AuditAction, Record<string, unknown>, Record<string, unknown>];

function roomChanges(was: Room, is: Room): Change[] {
  const out: Change[] = [];
  if (was.muteAllAudio !== is.muteAllAudio) out.push(['room.muteAudio', { muteAllAudio: was.muteAllAudio }, { muteAllAudio: is.muteAllAudio }]);
  if (was.muteAllChat !== is.muteAllChat) out.push(['room.muteChat', { muteAllChat: was.muteAllChat }, { muteAllChat: is.muteAllChat }]);
  if ((was.locked === true) !== (is.locked === true)) out.push(['room.lock', { locked: was.locked === true }, { locked: is.locked === true }]);
  if (!was.ended && is.ended) out.push(['room.end', { ended: false }, { ended: true }]);
  return out;
}

const MEMBER_FIELDS = [
  ['member.audio', 'audio'],
  ['member.video', 'video'],
  ['member.chat', 'chat'],
  ['member.board', 'boardGrant'],
] as const;

function memberChanges(was: Member, is: Member | undefined): Change[] {
  if (!is) return [];
  return MEMBER_FIELDS.filter(([, f]) => was[f] !== is[f]).map(([action, f]) => [action, { [f]: was[f] }, { [f]: is[f] }]);
}

function metadataChanges(was: Room, is: Room, cmd: MetadataCommand): PersonChange[] {
  if (cmd.target === null) {
    const view = (r: Room) => ({ metadata: r.metadata ?? '', selfMetadata: r.selfMetadata === true });
    const a = view(was);
    const b = view(is);
    return a.metadata === b.metadata && a.selfMetadata === b.selfMetadata ? [] : [['room.metadata', null, a, b]];
  }
  const m = findMember(was, cmd.target);
  const after = findMember(is, cmd.target);
  if (!m || !after || (m.metadata ?? '') === (after.metadata ?? '')) return [];
  return [['member.metadata', m, { metadata: m.metadata ?? '' }, { metadata: after.metadata ?? '' }]];
}

type PersonChange = [AuditAction, Member | null, Record<string, unknown>, Record<string, unknown>];

/** The lobby's settings changed, and each member admitted, denied or sent back (turning it off admits too). */
function lobbyChanges(was: Room, d: Decision, sentBack: string | null): PersonChange[] {
  const out: PersonChange[] = [];
  const settings = (r: Room) => ({ on: r.lobby?.on === true, exemptCreator: r.lobby?.exemptCreator !== false, exempt: r.lobby?.exempt ?? [] });
  const [a, b] = [settings(was), settings(d.room)];
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(['lobby.settings', null, a, b]);
  const who = (userId: string) => findMember(was, userId) ?? findMember(d.room, userId) ?? null;
  for (const e of d.events) {
    if (e.type === 'lobbyAdmitted') for (const id of e.to) out.push(['lobby.admit', who(id), { waiting: true }, { waiting: false, present: true }]);
    if (e.type === 'lobbyDenied') for (const id of e.to) out.push(['lobby.deny', who(id), { waiting: true }, { waiting: false, reason: e.reason }]);
  }
  if (sentBack !== null && findMember(was, sentBack)?.present && !findMember(d.room, sentBack)?.present) out.push(['lobby.back', who(sentBack), { present: true }, { present: false, waiting: true }]);
  return out;
}

const BREAKOUT_ACTIONS = { open: 'breakouts.open', move: 'breakouts.move', extend: 'breakouts.extend', message: 'breakouts.message', close: 'breakouts.close' } as const;

/** A host's (or the server's) step on the round of breakouts: the round before and after it. */
function breakoutChanges(was: Room, d: Decision, step: string): Change[] {
  const action = BREAKOUT_ACTIONS[step as keyof typeof BREAKOUT_ACTIONS];
  const changed = d.events.find((e) => e.type === 'breakoutsChanged' || e.type === 'breakoutsMessage');
  if (!action || !changed) return [];
  if (changed.type === 'breakoutsMessage') return [[action, {}, { text: changed.text, msgId: changed.msgId }]];
  if (changed.moved) return [[action, { room: changed.moved.from }, { room: changed.moved.to }]];
  const round = (r: Room) => (r.breakouts ? { rooms: r.breakouts.rooms.map((x) => x.name), assignment: r.breakouts.assignment, endsAt: r.breakouts.endsAt, closing: r.breakouts.closing === true } : null);
  return [[action, { round: round(was) }, { round: round(d.room) }]];
}
