// Presence: who is still in the room when nobody said goodbye. Two kinds of client meet here
// (spec §7): an HTTP-only client (the unmodified Agora apps, curl) is seen only through its calls
// and stays until it exits; a client on the realtime socket is present while a socket is open,
// and when the last one closes it has a grace period to come back silently. After that it leaves
// through the one write path, exactly as if it had called exit.
import type { LoggedEvent } from '../domain/events.ts';
import type { EventBus } from '../bus/bus.ts';
import type { MeetingService } from './meeting.ts';

/**
 * - `auto`: members that connected a socket in their session follow their sockets; HTTP-only ones stay.
 * - `always`: every member without an open socket leaves after the grace period.
 * - `off`: nobody leaves for lack of a socket.
 */
export type PresencePolicy = 'auto' | 'always' | 'off';

export interface PresenceOptions {
  meeting: MeetingService;
  bus: EventBus;
  /** Grace period after the last socket closes, ms. */
  graceMs: number;
  policy: PresencePolicy;
  onError?: (err: unknown, what: string) => void;
}

interface Tracked {
  sockets: number;
  timer: NodeJS.Timeout | null;
}

const key = (roomId: string, userId: string) => `${roomId}/${userId}`;

export class Presence {
  private readonly members = new Map<string, Tracked>();
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly opts: PresenceOptions) {}

  /** Watch entries and departures; members of running rooms that no socket holds get a grace period. */
  async start(): Promise<void> {
    this.unsubscribe = this.opts.bus.subscribe((roomId, events) => this.observe(roomId, events));
    if (this.opts.policy === 'off') return;
    for (const roomId of await this.opts.meeting.activeRoomIds()) {
      const room = await this.opts.meeting.room(roomId);
      for (const m of room?.members ?? []) {
        // After a restart no socket is open yet: socket members must come back within the grace period.
        if (m.present && (m.realtime || this.opts.policy === 'always')) this.away(roomId, m.userId);
      }
    }
  }

  stop(): void {
    this.unsubscribe?.();
    for (const t of this.members.values()) if (t.timer) clearTimeout(t.timer);
    this.members.clear();
  }

  /**
   * A socket of this member's session opened. The first one of a session is recorded in the room
   * (through the write path), so that the member is known as a socket client on every restart.
   */
  connected(roomId: string, member: { userId: string; session: string; realtime: boolean }): void {
    const t = this.track(roomId, member.userId);
    t.sockets++;
    if (t.timer) clearTimeout(t.timer);
    t.timer = null;
    if (member.realtime) return;
    this.opts.meeting
      .execute(roomId, { type: 'realtimeConnected', actor: member.userId, session: member.session })
      .catch((err) => this.opts.onError?.(err, 'presence connect'));
  }

  disconnected(roomId: string, userId: string): void {
    const t = this.members.get(key(roomId, userId));
    if (!t) return;
    t.sockets = Math.max(0, t.sockets - 1);
    if (t.sockets === 0) this.away(roomId, userId);
  }

  /** Whether the member has an open socket on this node. */
  isConnected(roomId: string, userId: string): boolean {
    return (this.members.get(key(roomId, userId))?.sockets ?? 0) > 0;
  }

  private observe(roomId: string, events: LoggedEvent[]): void {
    for (const { event: e } of events) {
      if (e.type === 'membersChanged') {
        for (const c of e.changes) {
          // Under `always` an entry that never connects expires too; under `auto` it is HTTP-only.
          if (c.present && this.opts.policy === 'always') this.away(roomId, c.member.userId);
          else if (!c.present) this.forget(roomId, c.member.userId);
        }
      } else if (e.type === 'memberChanged' && this.opts.policy === 'always') {
        // Activity over HTTP (a re-entry, a change) restarts the grace period of a member with no socket.
        this.away(roomId, e.member.userId);
      } else if (e.type === 'roomChanged' && e.ended) {
        for (const k of [...this.members.keys()]) if (k.startsWith(`${roomId}/`)) this.forget(roomId, k.slice(roomId.length + 1));
      }
    }
  }

  /** Start the grace period unless a socket is open. */
  private away(roomId: string, userId: string): void {
    if (this.opts.policy === 'off') return;
    const t = this.track(roomId, userId);
    if (t.sockets > 0) return;
    if (t.timer) clearTimeout(t.timer);
    t.timer = setTimeout(() => {
      t.timer = null;
      if (t.sockets > 0) return;
      this.members.delete(key(roomId, userId));
      // The rules decide with the stored state: a member that re-entered over HTTP since is HTTP-only again.
      const cmd = { type: 'presenceExpired' as const, target: userId, httpOnlyStays: this.opts.policy === 'auto' };
      this.opts.meeting.execute(roomId, cmd).catch((err) => this.opts.onError?.(err, 'presence expiry'));
    }, this.opts.graceMs);
    t.timer.unref();
  }

  private forget(roomId: string, userId: string): void {
    const k = key(roomId, userId);
    const t = this.members.get(k);
    if (!t) return;
    if (t.timer) clearTimeout(t.timer);
    t.timer = null;
    // Sockets still open belong to a removed member; the gateway closes them. Keep the count.
    if (t.sockets === 0) this.members.delete(k);
  }

  private track(roomId: string, userId: string): Tracked {
    const k = key(roomId, userId);
    let t = this.members.get(k);
    if (!t) {
      t = { sockets: 0, timer: null };
      this.members.set(k, t);
    }
    return t;
  }
}
