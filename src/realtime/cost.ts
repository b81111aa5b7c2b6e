// What a fan-out costs on this node, measured: a room under a storm of commands lets its next
// batch gather for a few times as long as its fan-out takes (service/queue.ts), so that telling
// every socket stays a small share of the room's time, however fast the machine or large the
// frame. A fixed guess (0.1 ms per socket, issue 9) held a 5,000-member join storm for 6.5 s in
// waits alone.

/** Fan-outs to fewer sockets than this are too short to time reliably. */
const MIN_SAMPLE = 100;
/** The weight of each new sample in the running average. */
const WEIGHT = 0.2;

export class FanoutCost {
  /** Microseconds per frame handed to a socket, as last measured (a first guess until then). */
  private usPerFrame = 20;

  /** A live fan-out of `frames` frames took `ms`. */
  record(frames: number, ms: number): void {
    if (frames < MIN_SAMPLE) return;
    this.usPerFrame += WEIGHT * ((ms * 1000) / frames - this.usPerFrame);
  }

  /** How long a fan-out to `sockets` sockets takes here, ms. */
  estimateMs(sockets: number): number {
    return (sockets * this.usPerFrame) / 1000;
  }
}
