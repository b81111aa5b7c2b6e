// Breakout rooms on the socket: a member placed in another room of its meeting (a breakout, or
// back in the main meeting) keeps its sockets; each is switched there by the server — the new room
// followed before the old is left, cmd 121 naming the room it is in now, then that room's snapshot
// and what came after it. No new token, no new entry, no rejoin race. The gateway owns the sockets;
// this is what it does when their member moves.
import type { LoggedEvent } from '../domain/events.ts';
import { findMember, type Room } from '../domain/room.ts';
import type { MeetingService } from '../service/meeting.ts';
import type { Presence } from '../service/presence.ts';
import type { RoomFeed } from '../service/feed.ts';
import { formatSessionToken } from '../tokens/session.ts';
import { Close } from './close.ts';
import { snapshotMembers, type RealtimeFormat } from './snapshot.ts';

/** What the switch reads and changes of a socket (the gateway's own record of it). */
export interface Placed {
  id: string;
  /** The room whose events it gets. */
  roomId: string;
  /** The main meeting its token is for: presence stays there while it is in a breakout. */
  home: string;
  userId: string;
  session: string;
  lastSeq: number;
  pending: LoggedEvent[] | null;
  closing: boolean;
  /** Being switched: the gateway's session checks leave it alone meanwhile. */
  moving?: boolean;
  /** Carries the board or media (bound to one room's board and mesh). */
  talk: unknown;
}

export interface SwitchPorts<C extends Placed> {
  meeting: MeetingService;
  presence: Presence;
  format: RealtimeFormat;
  feed: RoomFeed;
  /** Move the socket to `roomId`: its roomId, and the gateway's sets and counts. */
  rehome(c: C, roomId: string): void;
  send(c: C, frame: Buffer): void;
  sendLive(c: C, e: LoggedEvent): void;
  end(c: C, why: { code: number; reason: string }): void;
  /** The gateway's session check of the socket in its room now (it may have moved again). */
  check(c: C): Promise<void>;
}

/**
 * Whether a socket's member may be elsewhere now: gone from its breakout (moved, or the breakout
 * ended), or placed in a breakout while its socket is in the main meeting.
 */
export function mayHaveMoved(c: Placed, room: Room | null): boolean {
  const m = room ? findMember(room, c.userId) : undefined;
  if (c.roomId !== c.home) return !room || room.ended || !m?.present || m.session !== c.session;
  const b = room?.breakouts;
  return !!b && !b.closing && b.placed[c.userId] !== undefined && !!m?.present && m.session === c.session;
}

export class RoomSwitch<C extends Placed> {
  constructor(private readonly p: SwitchPorts<C>) {}

  /**
   * Where is this socket's member now (the main meeting, or the breakout it is seated in)? The
   * socket follows it there; one whose member is gone from the meeting closes as it would have.
   */
  async relocate(c: C): Promise<void> {
    c.moving = true;
    try {
      const where = await this.p.meeting.breakouts.whereIs(c.home, c.userId, c.session);
      if (c.closing) return;
      if (!where.room) return this.p.end(c, where.gone === 'ended' ? Close.ended : where.gone === 'replaced' ? Close.replaced : Close.removed);
      if (where.room.roomId !== c.roomId) await this.switchTo(c, where.room);
    } finally {
      c.moving = false;
    }
    // Moved again meanwhile: one more look.
    if (!c.closing) await this.p.check(c);
  }

  private async switchTo(c: C, to: Room): Promise<void> {
    // DECISION: a socket carrying the board or media is bound to its room's board and mesh: it is
    // closed (4412), and its client opens it again with the main token (it is then placed here).
    if (c.talk) return this.p.end(c, Close.moved);
    // The new room followed first, while the socket still counts in the old one: a close meanwhile
    // undoes the old room's registration as ever, and this follow below.
    try {
      await this.p.feed.follow(to.roomId);
    } catch (err) {
      this.p.end(c, Close.unavailable);
      throw err;
    }
    if (c.closing) return void this.p.feed.unfollow(to.roomId);
    const from = c.roomId;
    this.p.rehome(c, to.roomId);
    this.p.feed.unfollow(from);
    if (from !== c.home) this.p.presence.disconnected(from, c.userId, c.id);
    c.lastSeq = 0;
    // Events of the new room from now on wait for its snapshot.
    c.pending = [];
    const room = (await this.p.meeting.room(c.roomId)) ?? to;
    if (c.closing) return;
    const me = findMember(room, c.userId);
    if (c.roomId !== c.home && me) this.p.presence.connected(c.roomId, me, c.id);
    this.p.send(c, this.p.format.moved({ roomId: room.roomId, mainRoomId: c.home, name: room.roomName }));
    const token = formatSessionToken({ roomId: c.home, userId: c.userId, secret: c.session });
    this.p.send(c, this.p.format.snapshot(room, { userId: c.userId, userToken: token }, snapshotMembers(room, c.userId)));
    c.lastSeq = room.seq;
    const pending = c.pending ?? [];
    c.pending = null;
    for (const e of pending) this.p.sendLive(c, e);
  }
}
