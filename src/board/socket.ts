// The whiteboard on the realtime socket: what a board socket (`board=1`) sends is checked (shape,
// size, rate), authorized against the room as it is now (the board rules), appended to the board's
// own log and fanned out to every board socket of the room, on every node, in boardSeq order; a
// socket that joins gets the board's strokes first, in pages. The gateway owns the sockets: this
// module sees a seat per socket and sends through the functions the gateway gives it.
import type { RawData } from 'ws';
import { findMember, mayDraw, type Room } from '../domain/room.ts';
import { StoreUnavailableError } from '../store/store.ts';
import type { BoardBus } from './bus.ts';
import { BoardFeed } from './feed.ts';
import type { BoardEntry, BoardLog } from './log.ts';
import { MemberRate } from '../limits/member-rate.ts';
import { parseBoardFrame, type BoardOp, type BoardRefusal } from './strokes.ts';

/** Strokes per boardSnapshot frame. */
export const SNAPSHOT_PAGE = 100;
/** Ops queued for a socket still catching up, beyond which its catch-up starts over. */
const MAX_PENDING = 10_000;
/** Largest frame a board socket may send: a 500-point stroke at full precision (~21 KB) fits. */
export const BOARD_MAX_PAYLOAD = 32 * 1024;

/** One board socket, as the whiteboard sees it. */
export interface BoardSeat {
  readonly roomId: string;
  readonly userId: string;
  /** The member's session when the socket was opened: a replaced session may not draw. */
  readonly session: string;
  /** The rate is counted per member: `roomId` newline `userId`. */
  readonly memberKey: string;
  /** Send a live frame through the socket's outbox. */
  readonly send: (frame: Buffer) => void;
  /** Ops delivered while the socket catches up (sent after its snapshot); null once caught up. */
  pending: BoardEntry[] | null;
  /** Highest boardSeq sent to this socket. */
  lastSeq: number;
  /** This socket's admitted ops, applied one at a time in arrival order. */
  inbound: Promise<void>;
  joined: boolean;
  following: boolean;
  gone: boolean;
  /** The feed lost ops while this socket was catching up: send the snapshot again. */
  again: boolean;
}

export interface WhiteboardOptions {
  log: BoardLog;
  bus: BoardBus;
  /** The meeting as it is now (cached by the store): who may draw is decided on it per op. */
  rooms: { room(roomId: string): Promise<Room | null> };
  /** Ops (and other frames) per second per member; 0: no limit. */
  rate: number;
  /** Strokes a board may hold; a draw beyond is refused (413) until some are erased or cleared. */
  maxStrokes: number;
  /** Compare followed boards with the log this often (ms), for a bus that may lose messages. */
  resyncIntervalMs?: number;
  onError?: (err: unknown, what: string) => void;
  now?: () => number;
}

export class Whiteboard {
  private readonly seats = new Map<string, Set<BoardSeat>>();
  private readonly feed: BoardFeed;
  private readonly rate: MemberRate;
  private readonly now: () => number;

  constructor(private readonly opts: WhiteboardOptions) {
    this.now = opts.now ?? Date.now;
    this.rate = new MemberRate(opts.rate, this.now);
    this.feed = new BoardFeed(
      opts.bus,
      opts.log,
      { entries: (roomId, entries) => this.deliver(roomId, entries), lost: (roomId) => this.lost(roomId) },
      { resyncIntervalMs: opts.resyncIntervalMs, onError: opts.onError },
    );
  }

  seat(s: { roomId: string; userId: string; session: string; memberKey: string; send: (frame: Buffer) => void }): BoardSeat {
    return { ...s, pending: [], lastSeq: 0, inbound: Promise.resolve(), joined: false, following: false, gone: false, again: false };
  }

  /** Start following the socket's board: every op from then on reaches it (queued until catchUp). */
  async join(seat: BoardSeat): Promise<void> {
    if (seat.gone) return;
    this.rate.join(seat.memberKey);
    seat.joined = true;
    await this.feed.follow(seat.roomId);
    if (seat.gone) return this.feed.unfollow(seat.roomId);
    seat.following = true;
    let set = this.seats.get(seat.roomId);
    if (!set) this.seats.set(seat.roomId, (set = new Set()));
    set.add(seat);
  }

  /**
   * Send the board as of now in boardSnapshot pages through `send` (the gateway's paced catch-up;
   * false: the socket is gone), then the ops that arrived meanwhile; live ops follow.
   */
  async catchUp(seat: BoardSeat, send: (frame: Buffer) => Promise<boolean>): Promise<void> {
    do {
      seat.again = false;
      const head = await this.opts.log.head(seat.roomId);
      const total = Math.max(1, Math.ceil(head.strokes / SNAPSHOT_PAGE));
      // Pages are read one at a time, each as of now but only up to head.seq: a stroke erased
      // meanwhile is missing from a later page, and its erase (seq above head.seq) follows.
      let after = 0;
      for (let index = 0; index < total; index++) {
        const rows = after < head.seq ? await this.opts.log.strokes(seat.roomId, after, head.seq, SNAPSHOT_PAGE) : [];
        after = rows.length > 0 ? rows[rows.length - 1]!.seq : head.seq;
        const frame = encode({
          type: 'boardSnapshot',
          version: 1,
          timestamp: this.now(),
          boardSeq: head.seq,
          data: { strokes: rows.map((r) => r.stroke), page: { index, total } },
        });
        if (seat.gone || !(await send(frame))) return;
      }
      seat.lastSeq = Math.max(seat.lastSeq, head.seq);
    } while (seat.again && !seat.gone);
    const waiting = seat.pending ?? [];
    seat.pending = null;
    for (const e of waiting) this.sendEntry(seat, e, null);
  }

  leave(seat: BoardSeat): void {
    if (seat.gone) return;
    seat.gone = true;
    seat.pending = null;
    if (seat.joined) this.rate.leave(seat.memberKey);
    if (!seat.following) return;
    const set = this.seats.get(seat.roomId);
    set?.delete(seat);
    if (set?.size === 0) this.seats.delete(seat.roomId);
    this.feed.unfollow(seat.roomId);
  }

  close(): void {
    this.feed.close();
    this.seats.clear();
  }

  /** One frame from a board socket. Never throws; a refusal is answered to this socket only. */
  receive(seat: BoardSeat, data: RawData, isBinary: boolean): void {
    if (seat.gone) return;
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    // Counted before it is parsed: a flood costs a token check per frame and nothing more.
    const wait = this.rate.take(seat.memberKey);
    if (wait > 0) {
      return this.refuse(seat, quickRef(buf), { code: 429, msg: `too many board messages: at most ${this.opts.rate} per second; retry in ${wait} ms` });
    }
    if (isBinary) return this.refuse(seat, undefined, { code: 400, msg: 'binary frames are not understood: send JSON text frames' });
    const parsed = parseBoardFrame(buf.toString('utf8'));
    if (!parsed.ok) return this.refuse(seat, parsed.ref, parsed.refusal);
    seat.inbound = seat.inbound.then(() => this.apply(seat, parsed.ref, parsed.op));
  }

  private async apply(seat: BoardSeat, ref: string | undefined, op: BoardOp): Promise<void> {
    if (seat.gone) return;
    try {
      const room = await this.opts.rooms.room(seat.roomId);
      const forbidden = whyNot(room, seat);
      if (forbidden) return this.refuse(seat, ref, { code: 403, msg: forbidden });
      const r = await this.opts.log.append(seat.roomId, { at: this.now(), by: seat.userId, ...op }, this.opts.maxStrokes);
      if (r.ok) return this.opts.bus.publish(seat.roomId, r.entry);
      if (r.why === 'full') {
        return this.refuse(seat, ref, { code: 413, msg: `the board holds the most strokes allowed (${this.opts.maxStrokes}): erase some or clear it first` });
      }
      const id = op.op === 'draw' ? op.stroke.id : op.op === 'erase' ? op.strokeId : '';
      this.refuse(seat, ref, {
        code: 400,
        msg: r.why === 'taken' ? `a stroke with id ${id} is already on the board: choose another (random) id` : `no stroke with id ${id} on the board (erased or cleared already)`,
      });
    } catch (err) {
      if (err instanceof StoreUnavailableError) return this.refuse(seat, ref, { code: 503, msg: 'try again later: storage unavailable; nothing was drawn' });
      this.opts.onError?.(err, 'board op');
      this.refuse(seat, ref, { code: 500, msg: 'internal error; nothing was drawn' });
    }
  }

  private refuse(seat: BoardSeat, ref: string | undefined, r: BoardRefusal | { code: 500; msg: string }): void {
    if (seat.gone) return;
    const data = ref === undefined ? { code: r.code, msg: r.msg } : { ref, code: r.code, msg: r.msg };
    seat.send(encode({ type: 'boardError', version: 1, timestamp: this.now(), data }));
  }

  private deliver(roomId: string, entries: BoardEntry[]): void {
    const set = this.seats.get(roomId);
    if (!set) return;
    for (const e of entries) {
      // Encoded once per op, whatever the number of sockets.
      const frame = { buf: null as Buffer | null };
      for (const seat of set) {
        if (!seat.pending) this.sendEntry(seat, e, frame);
        // A catch-up that falls this far behind is cheaper to restart from a fresh snapshot.
        else if (seat.pending.push(e) > MAX_PENDING) {
          seat.pending = [];
          seat.again = true;
        }
      }
    }
  }

  private sendEntry(seat: BoardSeat, e: BoardEntry, frame: { buf: Buffer | null } | null): void {
    if (e.seq <= seat.lastSeq || seat.gone) return;
    seat.lastSeq = e.seq;
    const buf = frame?.buf ?? entryFrame(e);
    if (frame) frame.buf = buf;
    seat.send(buf);
  }

  /** Ops were lost beyond the log's reach: every socket of the board gets it afresh. */
  private lost(roomId: string): void {
    for (const seat of this.seats.get(roomId) ?? []) {
      if (seat.pending) {
        seat.again = true;
        continue;
      }
      seat.pending = [];
      const live = async (frame: Buffer) => {
        seat.send(frame);
        return !seat.gone;
      };
      this.catchUp(seat, live).catch((err) => this.opts.onError?.(err, 'board snapshot'));
    }
  }
}

/** Why this socket's member may not change the board now; null: it may. */
function whyNot(room: Room | null, seat: BoardSeat): string | null {
  if (!room || room.ended) return 'the meeting has ended';
  const m = findMember(room, seat.userId);
  if (!m || !m.present || m.session !== seat.session) return 'you are no longer in this room';
  if (!room.boardShared) return 'the board is not shared: a member starts it first (E9 with state 1)';
  if (!mayDraw(room, seat.userId)) return "only the host, the board's creator and members granted the board may draw: ask for it (E7 type 3)";
  return null;
}

function entryFrame(e: BoardEntry): Buffer {
  const data = e.op === 'draw' ? { op: e.op, by: e.by, stroke: e.stroke } : e.op === 'erase' ? { op: e.op, by: e.by, strokeId: e.strokeId } : { op: e.op, by: e.by };
  return encode({ type: 'board', version: 1, timestamp: e.at, boardSeq: e.seq, data });
}

function encode(m: unknown): Buffer {
  return Buffer.from(JSON.stringify(m));
}

/** The ref of a frame refused unread (over the rate), if it is near the start as clients send it. */
function quickRef(buf: Buffer): string | undefined {
  return /"ref"\s*:\s*"([^"\\]{0,40})"/.exec(buf.toString('utf8', 0, 256))?.[1];
}
