// Board ops reach every node's sockets through the same bus as the meeting's events (bus/): in
// process on one node; on a cluster through a Redis pub/sub channel of their own
// (`<prefix>board`), apart from the meeting events' channel, whose consumers check the room's seq
// and would take a boardSeq for a gap. Pub/sub may lose or delay a message: board/feed.ts orders
// what arrives by boardSeq and fills gaps from the board log.
import type { Bus } from '../bus/bus.ts';
import type { RedisBusKind } from '../bus/redis.ts';
import type { BoardEntry } from './log.ts';

export type BoardBus = Bus<BoardEntry>;

/** The board's channel, and what a board message looks like. */
export const BOARD_CHANNEL: RedisBusKind<BoardEntry> = {
  channel: 'board',
  valid: (m): m is BoardEntry => typeof (m as BoardEntry | null)?.seq === 'number',
};
