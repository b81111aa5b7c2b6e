// The presence port: which members hold a realtime socket anywhere in the deployment, and since when
// those who hold none have been away. In-process for one node; in Redis for a cluster, where each
// node records its sockets and heartbeats, and a dead node's sockets are dropped by the survivors.
// Deadlines are kept by the directory's own clock (Redis's for a cluster), so node clocks may differ.

export interface MemberRef {
  roomId: string;
  userId: string;
  /** Set by claimExpired: settling removes only this claim, not a grace period started since. */
  claim?: number;
}

export interface PresenceDirectory {
  /** Begin heartbeating (cluster) and reaping dead nodes' sockets. */
  start(): Promise<void>;
  /** A socket of the member opened on this node: it is no longer away. */
  opened(roomId: string, userId: string, socketId: string): Promise<void>;
  /** That socket closed: if the member holds none anywhere now, its grace period starts. */
  closed(roomId: string, userId: string, socketId: string): Promise<void>;
  /**
   * The member has no socket yet its grace period should run (an entry under the `always` policy,
   * or a restart): unless it holds a socket somewhere. `keep`: an already running period is kept.
   */
  away(roomId: string, userId: string, keep: boolean): Promise<void>;
  /**
   * Members whose grace period is over and who hold no socket anywhere. Each is handed to one caller
   * in the deployment, which settles it; if it does not within `leaseMs`, it is offered again.
   */
  claimExpired(leaseMs: number): Promise<MemberRef[]>;
  /** A claimed member was dealt with (it left, or the rules kept it). */
  settle(ref: MemberRef): Promise<void>;
  /**
   * Sockets the member holds across the deployment, as recorded (one opened a moment ago on another
   * node may not count yet): for the per-member socket cap.
   */
  socketCount(roomId: string, userId: string): Promise<number>;
  /** Whether the directory's backend is reachable (readiness). */
  readonly ready: boolean;
  stop(): Promise<void>;
}
