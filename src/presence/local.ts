// Presence for one process: socket counts and grace deadlines in memory.
import type { MemberRef, PresenceDirectory } from './directory.ts';

const SEP = '\u0000';

export class LocalDirectory implements PresenceDirectory {
  private readonly sockets = new Map<string, Set<string>>();
  /** Members away, with the time their grace period ends (or their lease does, once claimed). */
  private readonly deadlines = new Map<string, number>();
  readonly ready = true;

  constructor(
    private readonly graceMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async start(): Promise<void> {}

  async opened(roomId: string, userId: string, socketId: string): Promise<void> {
    const k = roomId + SEP + userId;
    let set = this.sockets.get(k);
    if (!set) this.sockets.set(k, (set = new Set()));
    set.add(socketId);
    this.deadlines.delete(k);
  }

  async socketCount(roomId: string, userId: string): Promise<number> {
    return this.sockets.get(roomId + SEP + userId)?.size ?? 0;
  }

  async closed(roomId: string, userId: string, socketId: string): Promise<void> {
    const k = roomId + SEP + userId;
    const set = this.sockets.get(k);
    if (!set?.delete(socketId)) return;
    if (set.size > 0) return;
    this.sockets.delete(k);
    this.deadlines.set(k, this.now() + this.graceMs);
  }

  async away(roomId: string, userId: string, keep: boolean): Promise<void> {
    const k = roomId + SEP + userId;
    if (this.sockets.has(k) || (keep && this.deadlines.has(k))) return;
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
