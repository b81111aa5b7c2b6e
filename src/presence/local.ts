// Presence for one process: socket counts and grace deadlines in memory.
import type { MemberRef, PresenceDirectory } from './directory.ts';

const SEP = '\u0000';

export class LocalDirectory implements PresenceDirectory {
  /**
   * Open sockets per room and member: one socket's id, or a set once a member holds several. Keyed
   * by the room's and member's own strings, so an idle member costs one map entry, no key or set.
   */
  private readonly sockets = new Map<string, Map<string, string | Set<string>>>();
  /** Members away, with the time their grace period ends (or their lease does, once claimed). */
  private readonly deadlines = new Map<string, number>();
  readonly ready = true;

  constructor(
    private readonly graceMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async start(): Promise<void> {}

  async opened(roomId: string, userId: string, socketId: string): Promise<void> {
    let room = this.sockets.get(roomId);
    if (!room) this.sockets.set(roomId, (room = new Map()));
    const held = room.get(userId);
    if (held === undefined) room.set(userId, socketId);
    else if (typeof held === 'string') room.set(userId, new Set([held, socketId]));
    else held.add(socketId);
    if (this.deadlines.size > 0) this.deadlines.delete(roomId + SEP + userId);
  }

  async socketCount(roomId: string, userId: string): Promise<number> {
    const held = this.sockets.get(roomId)?.get(userId);
    return held === undefined ? 0 : typeof held === 'string' ? 1 : held.size;
  }

  async closed(roomId: string, userId: string, socketId: string): Promise<void> {
    const room = this.sockets.get(roomId);
    const held = room?.get(userId);
    if (held === undefined) return;
    if (typeof held === 'string') {
      if (held !== socketId) return;
    } else {
      if (!held.delete(socketId)) return;
      if (held.size > 0) return;
    }
    room!.delete(userId);
    if (room!.size === 0) this.sockets.delete(roomId);
    this.deadlines.set(roomId + SEP + userId, this.now() + this.graceMs);
  }

  async away(roomId: string, userId: string, keep: boolean): Promise<void> {
    const k = roomId + SEP + userId;
    if (this.sockets.get(roomId)?.has(userId) || (keep && this.deadlines.has(k))) return;
    this.deadlines.set(k, this.now() + this.graceMs);
  }

  async claimExpired(leaseMs: number): Promise<MemberRef[]> {
    const now = this.now();
    const due: MemberRef[] = [];
    for (const [k, at] of this.deadlines) {
      if (at > now) continue;
      const claim = now + leaseMs;
      this.deadlines.set(k, claim);
      const i = k.indexOf(SEP);
      due.push({ roomId: k.slice(0, i), userId: k.slice(i + 1), claim });
    }
    return due;
  }

  async settle(ref: MemberRef): Promise<void> {
    const k = ref.roomId + SEP + ref.userId;
    // Only the claim: a member that came back in between has no deadline, or a fresh one.
    if (this.deadlines.get(k) === ref.claim) this.deadlines.delete(k);
  }

  async stop(): Promise<void> {
    this.sockets.clear();
    this.deadlines.clear();
  }
}
