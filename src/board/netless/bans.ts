// A meeting's Netless room is banned when the meeting ends, through the outbox like the webhooks:
// the ban is written in the commit that ends the meeting (lane `board` of the room), so that it is
// made once, by one node, retried until Netless takes it, even if the node that ended the meeting
// dies, and also for meetings ended by the CLI or the server API.
import type { OutboxSink } from '../../outbox/dispatcher.ts';
import type { OutboxSource } from '../../webhooks/outbox.ts';
import { NetlessError, type NetlessClient } from './client.ts';

/** The outbox endpoint of the bans: one lane per room, beside the webhooks (`wh_…`) and the RTM relay (`rtm`). */
export const BOARD_ENDPOINT = 'board';

/** The ban of the board of a commit that ends its meeting. */
export const boardBanSource: OutboxSource = {
  rowsFor(_app, _before, room, logged) {
    const end = logged.find((e) => e.event.type === 'roomChanged' && e.event.ended);
    if (!end || room.boardId === '') return [];
    return [{ endpointId: BOARD_ENDPOINT, id: `ban_${room.roomId}_${end.seq}`, seq: end.seq, idx: 0, payload: JSON.stringify({ boardId: room.boardId }) }];
  },
};

export interface BoardBanOptions {
  /** First retry, ms; doubled per attempt up to maxRetryMs. */
  retryMs: number;
  maxRetryMs: number;
  maxAttempts: number;
  timeoutMs: number;
  onNotice?: (what: string, details: Record<string, unknown>) => void;
}

export function boardBanSink(client: NetlessClient, o: BoardBanOptions): OutboxSink {
  return {
    concurrency: 16,
    maxAttempts: o.maxAttempts,
    backoffMs: o.retryMs,
    backoffMaxMs: o.maxRetryMs,
    timeoutMs: o.timeoutMs,
    deadLetters: false,
    open: async () => ({
      async send(head) {
        const { boardId } = JSON.parse(head.payload) as { boardId: string };
        try {
          await client.banRoom(boardId);
          return { ok: true };
        } catch (err) {
          if (!(err instanceof NetlessError)) throw err;
          // Netless knows no such room (a board made before the provider was Netless): nothing to ban.
          if (err.status === 404) return { ok: true };
          return { ok: false, error: err.message, final: !err.retryable, ...(err.retryAfterS !== null ? { retryAfterMs: err.retryAfterS * 1000 } : {}) };
        }
      },
    }),
    settled(lane, head, outcome, attempt) {
      if (outcome === 'dropped' || outcome === 'abandoned') {
        o.onNotice?.('Netless room of an ended meeting not banned', { ...lane, board: head.payload, attempts: head.attempts + 1, error: attempt.ok ? '' : attempt.error });
      }
    },
  };
}
