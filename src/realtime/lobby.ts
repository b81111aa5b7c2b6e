// The sockets of members waiting in a room's lobby (domain/lobby.ts): told that they wait (seq 0: they
// have no room state), then only their own lobby answers, never the room's events. Admitted, a
// socket goes on as the member's from a snapshot (the gateway's catch-up); denied, it is told why and
// closed; a member sent back from the room has its room sockets closed, to reconnect to the lobby.
import type { LoggedEvent } from '../domain/events.ts';
import { recipientsOf } from '../domain/events.ts';
import { isWaiting } from '../domain/lobby.ts';
import { findMember, type Member, type Room } from '../domain/room.ts';
import { Close, deniedClose } from './close.ts';
import type { RealtimeFormat } from './snapshot.ts';

/** What of a gateway socket the lobby reads and sets. */
export interface LobbySocket {
  roomId: string;
  userId: string;
  session: string;
  lastSeq: number;
  /** Live events held while the socket is being set up (or catching up). */
  pending: LoggedEvent[] | null;
  closing: boolean;
  /** Its member waits in the lobby: it gets the lobby state only. */
  waiting: boolean;
}

/** What the lobby asks of the gateway. */
export interface LobbyGateway<C extends LobbySocket> {
  room(roomId: string): Promise<Room | null>;
  format: RealtimeFormat;
  send(c: C, frame: Buffer): void;
  end(c: C, why: { code: number; reason: string }): void;
  /** The socket goes on as a member's: a snapshot, then the room's events (its catch-up). */
  admitted(c: C): Promise<void>;
  /** Close it if its member left, was replaced or its meeting ended (as any socket). */
  check(roomId: string, conns: C[]): Promise<void>;
  onError?: (err: unknown, what: string) => void;
}

export class LobbySockets<C extends LobbySocket> {
  constructor(private readonly g: LobbyGateway<C>) {}

  /**
   * A waiting member's socket, followed and registered: told that it waits. It was followed before
   * the member is read again here, so an answer given meanwhile is in `pending` or in this read.
   */
  async open(c: C): Promise<void> {
    const room = await this.g.room(c.roomId);
    if (c.closing) return;
    const m = room ? findMember(room, c.userId) : undefined;
    if (!room || room.ended || !m) return this.g.end(c, Close.ended);
    if (m.present && m.session === c.session) {
      // Admitted in the meantime: it goes on as a member's.
      c.waiting = false;
      return this.g.admitted(c);
    }
    c.lastSeq = room.seq;
    if (isWaiting(m) && m.session === c.session) this.g.send(c, this.g.format.waiting(m));
    const pending = c.pending ?? [];
    c.pending = null;
    for (const [i, e] of pending.entries()) {
      if (c.closing) return;
      // Admitted by one of them: the rest wait behind its snapshot.
      if (!c.waiting) return void (c.pending as LoggedEvent[] | null)?.push(...pending.slice(i));
      this.live(c, e, recipientsOf(e.event));
    }
    if (!c.closing && c.waiting) await this.g.check(c.roomId, [c]);
  }

  /** A live event to a waiting socket: only its own lobby answers (seq 0), never the room's events. */
  live(c: C, e: LoggedEvent, to: string[] | null): void {
    if (e.seq <= c.lastSeq) return;
    c.lastSeq = e.seq;
    const ev = e.event;
    if ((ev.type !== 'lobbyAdmitted' && ev.type !== 'lobbyDenied') || to === null || !to.includes(c.userId)) return;
    this.g.send(c, this.g.format.event({ ...e, seq: 0 }));
    if (ev.type === 'lobbyDenied') return this.g.end(c, deniedClose(ev.reason));
    // Admitted: the same socket goes on as the member's, from a snapshot (no second entry).
    c.waiting = false;
    c.pending = [];
    this.g.admitted(c).catch((err) => {
      this.g.onError?.(err, 'realtime admission');
      this.g.end(c, Close.lost);
    });
  }

  /** A socket whose member is out of the room with a lobby state: a waiting one stays, the others go. */
  outside(c: C, m: Member): void {
    if (m.lobby?.denied !== undefined) return this.g.end(c, deniedClose(m.lobby.denied));
    if (m.session !== c.session) return this.g.end(c, Close.replaced);
    // Sent back from the room. DECISION: closed (4412) rather than turned into a lobby socket in
    // place: a board or media seat goes with it, and the reconnect is the one path into the lobby.
    if (!c.waiting) this.g.end(c, Close.toLobby);
  }
}
