// The boards of meetings when they live outside Convene (Netless): made before the meeting that
// names them; closed when it ends (through the outbox: board/netless/bans.ts), or at once when the
// meeting it was made for never was. The built-in board needs neither (its id is drawn with the meeting).
import { StoreUnavailableError } from '../store/store.ts';

export interface BoardRooms {
  /** Makes a board for a meeting about to start; its id. Throws BoardUnavailableError when it cannot. */
  open(appId: string): Promise<string>;
  /** A board made for a meeting that was never committed (another entry made it first): closed, retried until done. */
  close(boardId: string): void;
}

/**
 * The board service could not make a meeting's board: nothing was created, the caller may retry.
 * A kind of StoreUnavailableError (a backend Convene needs is out of reach), so that every API says it
 * as retryable; the Agora entry says which one.
 */
export class BoardUnavailableError extends StoreUnavailableError {
  constructor(
    message: string,
    /** When a retry may succeed, seconds. */
    readonly retryAfterS = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BoardUnavailableError';
  }
}
