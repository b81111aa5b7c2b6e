// The fan-out port: committed events reach every node's sockets. In-process by default; a
// clustered deployment swaps in a pub/sub adapter.
import type { LoggedEvent } from '../domain/events.ts';

export type RoomEventsHandler = (roomId: string, events: LoggedEvent[]) => void;

export interface EventBus {
  /** Publish events that are already committed, in commit order. */
  publish(roomId: string, events: LoggedEvent[]): void;
  /** Returns the unsubscribe function. */
  subscribe(handler: RoomEventsHandler): () => void;
  close(): Promise<void>;
}
