// Presence: a member is online while one of its realtime sockets is open. When the last one
// closes (or when it entered and never connected), a grace period lets it come back silently;
// after that it leaves through the one write path, exactly as if it had called exit.
import type { LoggedEvent } from '../domain/events.ts';
import type { EventBus } from '../bus/bus.ts';
import type { MeetingService } from './meeting.ts';

export interface PresenceOptions {
  meeting: MeetingService;
  bus: EventBus;
  /** Grace period after the last socket closes, ms. */
  graceMs: number;
  /** false: members stay until they exit (deployments whose clients only use HTTP). */
  expiry: boolean;
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

  /** Watch entries and departures, and give members already in running rooms a grace period. */
  async start(): Promise<void> {
    this.unsubscribe = this.opts.bus.subscribe((roomId, events) => this.observe(roomId, events));
    if (!this.opts.expiry) return;
    for (const roomId of await this.opts.meeting.activeRoomIds()) {
      const room = await this.opts.meeting.room(roomId);
      for (const m of room?.members ?? []) if (m.present) this.away(roomId, m.userId);
    }
  }

  stop(): void {
    this.unsubscribe?.();
    for (const t of this.members.values()) if (t.timer) clearTimeout(t.timer);
    this.members.clear();
  }

  connected(roomId: string, userId: string): void {
    const t = this.track(roomId, userId);
    t.sockets++;
    if (t.timer) clearTimeout(t.timer);
    t.timer = null;
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
          if (c.present) this.away(roomId, c.member.userId);
          else this.forget(roomId, c.member.userId);
        }
      } else if (e.type === 'memberChanged') {
        // A re-entry restarts the grace period of a member with no socket.
        this.away(roomId, e.member.userId);
      } else if (e.type === 'roomChanged' && e.ended) {
        for (const k of [...this.members.keys()]) if (k.startsWith(`${roomId}/`)) this.forget(roomId, k.slice(roomId.length + 1));
      }
    }
  }

  /** Start the grace period unless a socket is open. */
  private away(roomId: string, userId: string): void {
    const t = this.track(roomId, userId);
    if (t.sockets > 0 || !this.opts.expiry) return;
    if (t.timer) clearTimeout(t.timer);
    t.timer = setTimeout(() => {
      t.timer = null;
      if (t.sockets > 0) return;
      this.members.delete(key(roomId, userId));
      this.opts.meeting.execute(roomId, { type: 'leave', actor: userId }).catch((err) => this.opts.onError?.(err, 'presence expiry'));
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
