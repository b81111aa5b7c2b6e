// The fan-out port: committed events reach every node's sockets. In-process by default; a
// clustered deployment swaps in a pub/sub adapter, which may lose or delay messages: consumers
// that need a gap-free, ordered stream read through service/feed.ts, which fills gaps from the log.
import type { LoggedEvent } from '../domain/events.ts';

export type RoomEventsHandler = (roomId: string, events: LoggedEvent[]) => void;

/** The meeting events' bus. */
export type EventBus = Bus<LoggedEvent[]>;

/** A bus of messages per room (`T`: the meeting's events, or a board's operation, see board/bus.ts). */
export interface Bus<T> {
  /** Subscribe to the other nodes (if any); resolves once the backend has acknowledged it. */
  start(): Promise<void>;
  /** Publish what is already committed, in commit order. This node's handlers run at once. */
  publish(roomId: string, message: T): void;
  /** Returns the unsubscribe function. Messages may arrive late, twice or not at all from other nodes. */
  subscribe(handler: (roomId: string, message: T) => void): () => void;
  /**
   * Called when messages may have been missed (the subscription was lost and is back, or a publish
   * failed): consumers re-read what they follow from the log. Returns the unsubscribe function.
   */
  onResync(handler: () => void): () => void;
  /** Whether messages from other nodes are being received now (readiness). */
  readonly ready: boolean;
  close(): Promise<void>;
}
