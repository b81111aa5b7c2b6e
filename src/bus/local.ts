import type { LoggedEvent } from '../domain/events.ts';
import type { EventBus, RoomEventsHandler } from './bus.ts';

/** Single-process bus: handlers run synchronously, so delivery order is commit order and nothing is lost. */
export class LocalBus implements EventBus {
  private readonly handlers = new Set<RoomEventsHandler>();
  readonly ready = true;

  async start(): Promise<void> {}

  publish(roomId: string, events: LoggedEvent[]): void {
    for (const h of this.handlers) h(roomId, events);
  }

  subscribe(handler: RoomEventsHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  onResync(): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}
