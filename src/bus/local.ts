import type { LoggedEvent } from '../domain/events.ts';
import type { Bus } from './bus.ts';

/** Single-process bus: handlers run synchronously, so delivery order is commit order and nothing is lost. */
export class LocalBus<T = LoggedEvent[]> implements Bus<T> {
  private readonly handlers = new Set<(roomId: string, message: T) => void>();
  readonly ready = true;

  async start(): Promise<void> {}

  publish(roomId: string, message: T): void {
    for (const h of this.handlers) h(roomId, message);
  }

  subscribe(handler: (roomId: string, message: T) => void): () => void {
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
