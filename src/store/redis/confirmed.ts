// Reads that serve only what a failover cannot take back (with CONVENE_REDIS_MIN_REPLICAS).
//
// A commit is acknowledged (and published on the bus) only after WAIT says the replicas have it;
// but between its script and that WAIT, another node can read it from the primary: a room loaded
// for a snapshot, a log read by a resume or the RTM relay. Were the primary lost in that window,
// the promoted replica would lack it, the next commit would reuse its seq with other content, and
// two sockets would hold different events under one seq. So a room's hash carries a mark (cv, cs:
// the newest version and seq known to be on the replicas; scripts.ts), raised by each committer
// after its WAIT, and a reader that finds data past the mark first confirms it itself: a write of
// its own after that data, then a WAIT (which covers every earlier write, the stream being ordered).
import type { ReplicaWaits } from './replicas.ts';

type ScriptCall = (...args: string[]) => Promise<unknown>;

export class ConfirmedReads {
  constructor(
    private readonly waits: ReplicaWaits,
    private readonly scripts: { confirmRaise: ScriptCall; confirmMark: ScriptCall },
  ) {}

  /**
   * After this node's WAIT for a commit succeeded: the mark for readers. Not awaited (a mark left
   * low only costs a reader a confirmation); sent before anything this node does after the commit
   * on the same connection, such as publishing its events (the room's channel is in its slot).
   */
  raise(roomKey: string, version: number, seq: number): void {
    this.scripts.confirmRaise(roomKey, String(version), String(seq)).catch(() => {});
  }

  /**
   * Resolves once everything of the room written so far is on the replicas; a StoreUnavailableError
   * (retryable) when they do not confirm it in time. A room gone: nothing to confirm.
   */
  async confirm(roomKey: string): Promise<void> {
    const now = (await this.scripts.confirmMark(roomKey)) as null | [string, string];
    if (now === null) return;
    await this.waits.confirm([roomKey]);
    this.raise(roomKey, Number(now[0]), Number(now[1]));
  }
}
