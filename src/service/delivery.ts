// Committed events go to the bus in commit order per room, but a command's events may be held
// until something else has happened first: over HTTP, until the command's answer has been written
// (the shipped Web client applies its answer, then the pushed message must come after to win).
// A held batch holds back only its own room's later batches, never another room's.
import type { LoggedEvent } from '../domain/events.ts';
import type { EventBus } from '../bus/bus.ts';

/**
 * The longest a batch is held, whatever it waits for: a caller whose answer cannot be written
 * (it pipelines requests and reads nothing) must not stall its room for longer.
 */
const MAX_HOLD_MS = 1_000;

interface Batch {
  events: LoggedEvent[];
  ready: boolean;
}

export class RoomDelivery {
  /** Rooms with a held batch: their later batches queue behind it, in commit order. */
  private readonly queues = new Map<string, Batch[]>();

  constructor(private readonly bus: EventBus) {}

  /** Publish a room's committed events now, or once `after` has settled (in order either way). */
  publish(roomId: string, events: LoggedEvent[], after?: PromiseLike<unknown>): void {
    const queue = this.queues.get(roomId);
    if (!queue && !after) return this.bus.publish(roomId, events);
    const batch: Batch = { events, ready: !after };
    if (queue) queue.push(batch);
    else this.queues.set(roomId, [batch]);
    if (!after) return;
    let timer: NodeJS.Timeout | undefined;
    const release = () => {
      if (batch.ready) return;
      clearTimeout(timer);
      batch.ready = true;
      this.flush(roomId);
    };
    timer = setTimeout(release, MAX_HOLD_MS);
    timer.unref();
    Promise.resolve(after).then(release, release);
  }

  /** The first seq of this room still held back (its batch waits for an answer), or null. */
  heldFrom(roomId: string): number | null {
    const queue = this.queues.get(roomId);
    return queue && queue.length > 0 ? queue[0]!.events[0]!.seq : null;
  }

  private flush(roomId: string): void {
    const queue = this.queues.get(roomId);
    if (!queue) return;
    while (queue.length > 0 && queue[0]!.ready) this.bus.publish(roomId, queue.shift()!.events);
    if (queue.length === 0) this.queues.delete(roomId);
  }
}
