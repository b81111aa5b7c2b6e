// Presence: who is still in the room when nobody said goodbye. Two kinds of client meet here
// (spec §7): an HTTP-only client (the unmodified Agora apps, curl) is seen only through its calls
// and stays until it exits; a client on the realtime socket is present while a socket is open,
// and when the last one closes it has a grace period to come back silently, on any node. After that
// it leaves through the one write path, exactly as if it had called exit. Where sockets are and
// whose grace period is over is the directory's (one process, or the whole cluster); each expiry is
// claimed by one node, and the rules decide it again with the stored state, so a member leaves once.
import type { LoggedEvent } from '../domain/events.ts';
import { RuleError } from '../domain/rules.ts';
import type { PresenceDirectory } from '../presence/directory.ts';
import type { MeetingService } from './meeting.ts';

/**
 * - `auto`: members that connected a socket in their session follow their sockets; HTTP-only ones stay.
 * - `always`: every member without an open socket leaves after the grace period.
 * - `off`: nobody leaves for lack of a socket.
 */
export type PresencePolicy = 'auto' | 'always' | 'off';

export interface PresenceOptions {
  meeting: MeetingService;
  directory: PresenceDirectory;
  /** Grace period after the last socket closes, ms (the directory keeps it; used here for pacing). */
  graceMs: number;
  policy: PresencePolicy;
  onError?: (err: unknown, what: string) => void;
}

/** A claimed expiry not settled within this long is offered to the cluster again. */
const LEASE_MS = 30_000;

export class Presence {
  private unobserve: (() => void) | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;

  constructor(private readonly opts: PresenceOptions) {}

  /** Watch entries and departures; members of running rooms that no socket holds get a grace period. */
  async start(): Promise<void> {
    await this.opts.directory.start();
    if (this.opts.policy === 'off') return;
    // Events this node commits: each is observed once in the cluster, by the node that committed it.
    this.unobserve = this.opts.meeting.observe((roomId, events) => this.observe(roomId, events));
    for (const roomId of await this.opts.meeting.activeRoomIds()) {
      const room = await this.opts.meeting.room(roomId);
      for (const m of room?.members ?? []) {
        // After a restart: socket members not connected anywhere must come back within the grace period.
        // Members waiting in the lobby too: their lobby socket must come back, or they stop waiting.
        const here = m.present || (m.lobby !== undefined && m.lobby.denied === undefined);
        if (here && (m.realtime || this.opts.policy === 'always')) await this.opts.directory.away(roomId, m.userId, true);
      }
    }
    // Expiries are found by polling the directory, often enough for the grace period's precision.
    const every = Math.min(1_000, Math.max(20, Math.floor(this.opts.graceMs / 10)));
    this.ticker = setInterval(() => void this.tick(), every);
    this.ticker.unref();
  }

  async stop(): Promise<void> {
    this.unobserve?.();
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    await this.ticking;
    await this.opts.directory.stop();
  }

  /**
   * A socket of this member's session opened on this node. The first one of a session is recorded
   * in the room (through the write path), so that the member is known as a socket client everywhere.
   */
  connected(roomId: string, member: { userId: string; session: string; realtime: boolean }, socketId: string): void {
    this.opts.directory.opened(roomId, member.userId, socketId).catch((err) => this.opts.onError?.(err, 'presence connect'));
    if (member.realtime) return;
    this.opts.meeting
      .execute(roomId, { type: 'realtimeConnected', actor: member.userId, session: member.session })
      .catch((err) => this.opts.onError?.(err, 'presence connect'));
  }

  /** The member's open sockets on every node (as recorded), for the per-member socket cap. */
  socketCount(roomId: string, userId: string): Promise<number> {
    return this.opts.directory.socketCount(roomId, userId);
  }

  disconnected(roomId: string, userId: string, socketId: string): void {
    this.opts.directory.closed(roomId, userId, socketId).catch((err) => this.opts.onError?.(err, 'presence disconnect'));
  }

  private observe(roomId: string, events: LoggedEvent[]): void {
    if (this.opts.policy !== 'always') return;
    for (const { event: e } of events) {
      // Under `always` an entry that never connects expires too, and activity over HTTP (a re-entry,
      // a change) restarts the grace period of a member with no socket.
      const away = (userId: string) =>
        this.opts.directory.away(roomId, userId, false).catch((err) => this.opts.onError?.(err, 'presence'));
      if (e.type === 'membersChanged') for (const c of e.changes) if (c.present) void away(c.member.userId);
      if (e.type === 'memberChanged') void away(e.member.userId);
      // A knock at the lobby is an entry that may never connect its socket either.
      if (e.type === 'lobbyChanged') for (const k of e.knocked) void away(k.userId);
    }
  }

  /** Let the members whose grace period is over leave; each claimed by this node alone. */
  tick(): Promise<void> {
    this.ticking ??= (async () => {
      try {
        const due = await this.opts.directory.claimExpired(LEASE_MS);
        // All at once: the departures from one room are decided and committed together (one cmd 2
        // for many members), so an expiry storm takes a few writes, not one per member.
        await Promise.all(
          due.map(async (ref) => {
            // The rules decide with the stored state: a member that re-entered over HTTP since is HTTP-only again.
            const cmd = { type: 'presenceExpired' as const, target: ref.userId, httpOnlyStays: this.opts.policy === 'auto' };
            try {
              await this.opts.meeting.execute(ref.roomId, cmd);
            } catch (err) {
              // A room that ended or is gone needs nothing more; anything else is retried after the lease.
              if (!(err instanceof RuleError)) return this.opts.onError?.(err, 'presence expiry');
            }
            await this.opts.directory.settle(ref);
          }),
        );
      } catch (err) {
        this.opts.onError?.(err, 'presence expiry');
      } finally {
        this.ticking = null;
      }
    })();
    return this.ticking;
  }
}
