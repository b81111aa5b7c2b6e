// The page's WebRTC signalling on the realtime socket: a media socket (`media=1`) may send a signal
// to one other member of its room; it is checked (shape, size, rate), authorized against the room as
// it is now (both still members, the room within the mesh size), and handed to the target's media
// sockets on every node. Signals are not meeting events: no seq, no log, no webhook, no request log
// line; one lost by a cluster's pub/sub is the page's to retry (it asks for a fresh offer).
import type { Bus } from '../bus/bus.ts';
import type { RedisBusKind } from '../bus/redis.ts';
import type { Room } from '../domain/room.ts';
import { MemberRate } from '../limits/member-rate.ts';
import { StoreUnavailableError } from '../store/store.ts';
import { iceServersFor, type MediaConfig } from './config.ts';
import { parseSignal, whyNotSignal, type SignalRefusal } from './signals.ts';

/** A signal on its way between nodes: who sent it, to whom, and what. */
export interface RelayedSignal {
  from: string;
  to: string;
  at: number;
  signal: Record<string, unknown>;
}

export type SignalBus = Bus<RelayedSignal>;

/** The signals' own channel on a cluster (`<prefix>signal`): they carry no seq to check. */
export const SIGNAL_CHANNEL: RedisBusKind<RelayedSignal> = {
  channel: 'signal',
  valid: (m): m is RelayedSignal => {
    const s = m as RelayedSignal | null;
    return typeof s?.from === 'string' && typeof s.to === 'string' && typeof s.signal === 'object' && s.signal !== null;
  },
};

/** One media socket, as the relay sees it. */
export interface MediaSeat {
  readonly roomId: string;
  readonly userId: string;
  /** The member's session when the socket was opened: a replaced session may not signal. */
  readonly session: string;
  /** The rate is counted per member: `roomId` newline `userId`. */
  readonly memberKey: string;
  readonly send: (frame: Buffer) => void;
  /** This socket's signals, checked one at a time in arrival order (an offer before its candidates). */
  inbound: Promise<void>;
  gone: boolean;
}

export interface MediaRelayOptions {
  config: MediaConfig;
  bus: SignalBus;
  /** The meeting as it is now (cached by the store): who may signal whom is decided on it per signal. */
  rooms: { room(roomId: string): Promise<Room | null> };
  onError?: (err: unknown, what: string) => void;
  now?: () => number;
}

export class MediaRelay {
  /** Media sockets per room, per member. */
  private readonly seats = new Map<string, Map<string, Set<MediaSeat>>>();
  private readonly rate: MemberRate;
  private readonly now: () => number;
  private readonly unsubscribe: () => void;

  constructor(private readonly opts: MediaRelayOptions) {
    this.now = opts.now ?? Date.now;
    this.rate = new MemberRate(opts.config.signalRate, this.now);
    this.unsubscribe = opts.bus.subscribe((roomId, s) => this.deliver(roomId, s));
  }

  /** A media socket opens: registered, and told the mesh size and its ICE servers (first frame). */
  open(s: { roomId: string; userId: string; session: string; memberKey: string; send: (frame: Buffer) => void }): MediaSeat {
    const seat: MediaSeat = { ...s, inbound: Promise.resolve(), gone: false };
    this.rate.join(seat.memberKey);
    let room = this.seats.get(seat.roomId);
    if (!room) this.seats.set(seat.roomId, (room = new Map()));
    let mine = room.get(seat.userId);
    if (!mine) room.set(seat.userId, (mine = new Set()));
    mine.add(seat);
    const { meshMax, iceServers } = this.opts.config;
    seat.send(encode({ type: 'media', version: 1, timestamp: this.now(), data: { meshMax, iceServers: iceServersFor(iceServers, seat.userId, this.now()) } }));
    return seat;
  }

  leave(seat: MediaSeat): void {
    if (seat.gone) return;
    seat.gone = true;
    this.rate.leave(seat.memberKey);
    const room = this.seats.get(seat.roomId);
    const mine = room?.get(seat.userId);
    mine?.delete(seat);
    if (mine?.size === 0) room!.delete(seat.userId);
    if (room?.size === 0) this.seats.delete(seat.roomId);
  }

  close(): void {
    this.unsubscribe();
    this.seats.clear();
  }

  /** One message (parsed, `type` "signal") of `bytes` bytes from a media socket. Never throws. */
  receive(seat: MediaSeat, m: Record<string, unknown>, bytes: number): void {
    if (seat.gone || this.overRate(seat, typeof m.ref === 'string' ? m.ref.slice(0, 40) : undefined)) return;
    const parsed = parseSignal(m, bytes);
    if (!parsed.ok) return this.refuse(seat, parsed.ref, parsed.refusal);
    const { to, ref, signal } = parsed.signal;
    seat.inbound = seat.inbound.then(() => this.relay(seat, to, ref, signal));
  }

  /** A frame from a media socket that is no signal (nor a board op): counted like one, and refused. */
  refuseJunk(seat: MediaSeat, msg: string): void {
    if (seat.gone || this.overRate(seat, undefined)) return;
    this.refuse(seat, undefined, { code: 400, msg });
  }

  /** Takes a token from the member's rate; when none is left, says so to the socket (true). */
  private overRate(seat: MediaSeat, ref: string | undefined): boolean {
    const wait = this.rate.take(seat.memberKey);
    if (wait > 0) this.refuse(seat, ref, { code: 429, msg: `too many signals: at most ${this.opts.config.signalRate} per second; retry in ${wait} ms` });
    return wait > 0;
  }

  private refuse(seat: MediaSeat, ref: string | undefined, r: SignalRefusal | { code: 500; msg: string }, to?: string): void {
    if (seat.gone) return;
    const data = { ...(ref !== undefined ? { ref } : {}), ...(to !== undefined ? { to } : {}), code: r.code, msg: r.msg };
    seat.send(encode({ type: 'signalError', version: 1, timestamp: this.now(), data }));
  }

  private async relay(seat: MediaSeat, to: string, ref: string | undefined, signal: Record<string, unknown>): Promise<void> {
    if (seat.gone) return;
    try {
      const room = await this.opts.rooms.room(seat.roomId);
      const forbidden = whyNotSignal(room, seat, to, this.opts.config.meshMax);
      if (forbidden) return this.refuse(seat, ref, forbidden, to);
      this.opts.bus.publish(seat.roomId, { from: seat.userId, to, at: this.now(), signal });
    } catch (err) {
      if (err instanceof StoreUnavailableError) return this.refuse(seat, ref, { code: 503, msg: 'try again later: storage unavailable; the signal was not sent' }, to);
      this.opts.onError?.(err, 'media signal');
      this.refuse(seat, ref, { code: 500, msg: 'internal error; the signal was not sent' }, to);
    }
  }

  /** A checked signal reaches every media socket its target has on this node. */
  private deliver(roomId: string, s: RelayedSignal): void {
    const targets = this.seats.get(roomId)?.get(s.to);
    if (!targets) return;
    const frame = encode({ type: 'signal', version: 1, timestamp: s.at, data: { from: s.from, signal: s.signal } });
    for (const seat of targets) if (!seat.gone) seat.send(frame);
  }
}

function encode(m: unknown): Buffer {
  return Buffer.from(JSON.stringify(m));
}
