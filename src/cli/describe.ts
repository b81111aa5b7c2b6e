// A meeting's events in words, one line each, for an operator reading `rooms tail`. Members are
// named by their userUuid (the business's key); events name members by userId, so the names seen
// so far are remembered.
import type { LoggedEvent, MeetingEvent, MemberSnapshot } from '../domain/events.ts';
import type { Room } from '../domain/room.ts';

const MUTE = ['off', 'on', 'on (no unmuting)'];

export class EventNarrator {
  private readonly uuids = new Map<string, string>();

  constructor(room: Room) {
    for (const m of room.members) this.uuids.set(m.userId, m.userUuid);
  }

  /** `#17  2026-11-23T08:32:30.123Z  members  + ann (host)  · 1 in the room` */
  line(logged: LoggedEvent): string {
    const text = this.words(logged.event);
    return `#${logged.seq}  ${new Date(logged.at).toISOString()}  ${text}`;
  }

  private who(m: MemberSnapshot): string {
    this.uuids.set(m.userId, m.userUuid);
    return m.userName && m.userName !== m.userUuid ? `${m.userUuid} (${JSON.stringify(m.userName)})` : m.userUuid;
  }

  private byId(userId: string): string {
    return this.uuids.get(userId) ?? `userId ${userId}`;
  }

  private words(e: MeetingEvent): string {
    const onOff = (b: boolean) => (b ? 'on' : 'off');
    switch (e.type) {
      case 'chatSent':
        return `chat     ${this.who(e.from)}: ${JSON.stringify(e.message)}`;
      case 'membersChanged':
        return `members  ${e.changes.map((c) => `${c.present ? '+' : '-'} ${this.who(c.member)}${c.present ? ` as ${c.member.role}` : ''}`).join(', ')}  · ${e.total} in the room`;
      case 'roomChanged':
        if (e.ended) return 'room     the meeting has ended';
        return `room     mute-all audio ${MUTE[e.muteAllAudio]}, chat ${MUTE[e.muteAllChat]}; ${e.locked ? 'locked' : 'open'}`;
      case 'memberChanged': {
        const m = e.member;
        return `member   ${this.who(m)}: ${m.role}, audio ${onOff(m.audio)}, video ${onOff(m.video)}, chat ${onOff(m.chat)}${m.sharingScreen ? ', sharing screen' : ''}${m.boardGrant ? ', may draw' : ''}`;
      }
      case 'boardChanged':
        return e.shared ? `board    shared by ${this.byId(e.creatorId)}; drawing: ${e.users.map((u) => this.who(u)).join(', ') || 'nobody'}` : 'board    no longer shared';
      case 'screenChanged':
        return e.shared ? `screen   shared by ${e.users.map((u) => this.who(u)).join(', ')}` : 'screen   no longer shared';
      case 'hostChanged':
        return `host     ${e.changes.map((c) => `${this.who(c.member)} is ${c.member.role}`).join(', ')}`;
      case 'memberKicked':
        return `kick     ${this.who(e.target)} removed by ${e.by ? this.who(e.by) : 'the server'}${e.bannedUntil ? `; banned until ${new Date(e.bannedUntil).toISOString()}` : ''}`;
      case 'invited':
        return `invite   ${this.who(e.from)} → ${this.byId(e.to)}: ${e.module} (${e.action})`;
      case 'applied':
        return `apply    ${this.who(e.from)} → ${this.byId(e.to)}: ${e.module} (${e.action})`;
      case 'noticed':
        return `notice   ${this.who(e.from)} (${e.fromRole}) → ${this.byId(e.to)}: ${e.module} ${onOff(e.on)}`;
      case 'serverMessage':
        return `message  from the server to ${e.to ? e.to.map((id) => this.byId(id)).join(', ') : 'everyone'}: ${JSON.stringify(e.text)}`;
      case 'handsChanged':
        return `hands    ${e.hands.length ? e.hands.map((h, i) => `${i + 1}. ${this.byId(h.userId)}`).join(', ') : 'none raised'}${e.public ? ' (shown to everyone)' : ''}`;
      case 'metadataChanged':
        return `metadata ${e.userId === null ? `of the room${e.selfMetadata ? ' (members may set their own)' : ''}` : `of ${this.byId(e.userId)}`}: ${e.metadata === '' ? 'cleared' : JSON.stringify(e.metadata)}`;
      case 'lobbyChanged': {
        // A waiting member has no userUuid in these events: its name, unless it was seen in the room.
        const name = (k: { userId: string; userName: string }) => this.uuids.get(k.userId) ?? `${JSON.stringify(k.userName)} (userId ${k.userId})`;
        const knocked = e.knocked.map((k) => `knock ${name(k)}`);
        const left = e.left.map((l) => `${name(l)} left (${l.why})`);
        const what = [...knocked, ...left].join(', ');
        return `lobby    ${what ? `${what}; ` : ''}${e.waiting.length} waiting${e.on ? '' : ' (lobby off)'}`;
      }
      case 'lobbyAdmitted':
        return `lobby    admitted by ${e.by ? this.who(e.by) : 'the server'}: ${e.to.map((id) => this.byId(id)).join(', ')}`;
      case 'lobbyDenied':
        return `lobby    denied by ${e.by ? this.who(e.by) : 'the server'}: ${e.to.map((id) => this.byId(id)).join(', ')}${e.reason ? ` (${JSON.stringify(e.reason)})` : ''}`;
      case 'breakoutsChanged': {
        const by = e.by ? this.who(e.by) : 'the server';
        const rooms = e.view ? `: ${e.view.rooms.map((r) => `${r.name} (${r.members.length})`).join(', ')}${e.view.endsAt ? `, until ${new Date(e.view.endsAt).toISOString()}` : ''}` : '';
        const moved = e.moved ? ` ${this.byId(e.moved.userId)} → ${e.moved.to}` : '';
        return `breakout ${e.step} by ${by}${moved}${rooms}`;
      }
      case 'breakoutChanged':
        return `breakout ${JSON.stringify(e.name)} of ${e.mainRoomId}${e.endsAt ? `, until ${new Date(e.endsAt).toISOString()}` : ''}`;
      case 'breakoutsMessage':
        return `breakout message from ${e.from ? this.who(e.from) : 'the server'}: ${JSON.stringify(e.text)}`;
      default: {
        // An event type newer than this narrator: shown as stored rather than dropped.
        const unknown: { type?: string } = e;
        return `${unknown.type ?? 'event'}  ${JSON.stringify(e)}`;
      }
    }
  }
}
