// `convene rooms tail`: a meeting's events as they happen, read from the room's event log in the
// store (the same log the realtime socket resumes from), so it works beside any server and on a
// cluster, prints every event once in seq order, and resumes without gaps from a given seq.
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoggedEvent } from '../domain/events.ts';
import { StoreUnavailableError } from '../store/store.ts';
import { UsageError, type Command, type Context } from './command.ts';
import { wholeNumber } from './args.ts';
import { EventNarrator } from './describe.ts';
import { meetingOf } from './lookup.ts';

/** How long to wait for new events when the log had none (ms): what an operator perceives as live. */
const POLL_MS = 200;
/** Events read at once. */
const PAGE = 500;
/** Idle polls between checks that the meeting still exists (it may be deleted after it ended). */
const CHECK_ROOM_EVERY = 10;

export const tailCommand: Command = {
  words: ['rooms', 'tail'],
  args: 'APP_ID ROOM',
  summary: 'print a meeting\'s events as they happen, until it ends (resume: --since SEQ)',
  help: `Prints the events of a meeting as they happen, one line each: #seq, time, what happened. It reads
the room's event log in the store, so it sees what every server of a cluster commits, each event
once, in seq order. It stops with exit 0 when the meeting ends, or on Ctrl-C (SIGINT) or SIGTERM.
ROOM is the meeting's roomUuid (its running meeting) or its roomId (also a meeting that has ended).

Without --since or --from it starts after the meeting's last event. To resume where a previous tail
stopped, give --since with the last seq it printed: it prints exactly what came after, then goes on
live. The log keeps the last CONVENE_EVENT_RETENTION events of a room; when what was asked for is no
longer in it, tail says so on stderr ("the log no longer reaches back …: events A to B are lost")
and goes on from the oldest event kept.

With --json: one JSON line per event, {"seq","at","event"} (the event as stored, see
src/domain/events.ts; "at" in ISO 8601), and a {"gap":{"from":A,"to":B}} line where events are lost.
Exit 1 when there is no such meeting.`,
  options: [
    { name: 'since', value: 'SEQ', help: 'print the events after SEQ (0: from the oldest kept), then follow' },
    { name: 'from', value: 'SEQ', help: 'print the events from SEQ on (the same as --since SEQ-1)' },
    { name: 'json', help: 'one JSON line per event' },
  ],
  store: 'existing',
  follows: true,
  async run(ctx) {
    const room = await meetingOf(ctx, ctx.args[0]!, ctx.args[1]!);
    const since = ctx.option('since');
    const from = ctx.option('from');
    if (since !== undefined && from !== undefined) throw new UsageError('give --since or --from, not both');
    let after = room.seq;
    if (typeof since === 'string') after = wholeNumber(since, '--since', 0, room.seq);
    if (typeof from === 'string') after = wholeNumber(from, '--from', 1, room.seq + 1) - 1;
    const json = ctx.option('json') === true;
    const narrator = new EventNarrator(room);
    process.stderr.write(`convene: following ${room.roomUuid} (roomId ${room.roomId}) after seq ${after}; Ctrl-C stops\n`);
    await follow(ctx, room.roomId, after, {
      event: (e) => (json ? ctx.printJson({ seq: e.seq, at: new Date(e.at).toISOString(), event: e.event }) : ctx.print(narrator.line(e))),
      gap: (fromSeq, toSeq) => {
        process.stderr.write(`convene: the log no longer reaches back to seq ${fromSeq}: events ${fromSeq} to ${toSeq} are lost (CONVENE_EVENT_RETENTION); going on from ${toSeq + 1}\n`);
        if (json) ctx.printJson({ gap: { from: fromSeq, to: toSeq } });
      },
      note: (text) => process.stderr.write(`convene: ${text}\n`),
    });
  },
};

interface Sink {
  event(e: LoggedEvent): void;
  /** Events `from`..`to` were trimmed from the log before they could be read. */
  gap(from: number, to: number): void;
  note(text: string): void;
}

/**
 * Print the room's events after `after` in seq order, each once, until the meeting ends, it is
 * deleted, or `ctx.stopped` is aborted.
 */
async function follow(ctx: Context, roomId: string, after: number, out: Sink): Promise<void> {
  let last = after;
  let idle = 0;
  let unavailable = false;
  while (!ctx.stopped.aborted) {
    let events: LoggedEvent[];
    try {
      events = (await ctx.store.eventsSince(roomId, last, PAGE)).events;
      if (unavailable) out.note('the store answers again');
      unavailable = false;
    } catch (err) {
      // A Redis outage is a pause, not the end of the tail: it resumes from `last`, losing nothing.
      if (!(err instanceof StoreUnavailableError)) throw err;
      if (!unavailable) out.note(`the store is unavailable (${err.message}); retrying`);
      unavailable = true;
      await pause(ctx, POLL_MS * 5);
      continue;
    }
    if (events.length > 0 && events[0]!.seq > last + 1) out.gap(last + 1, events[0]!.seq - 1);
    for (const e of events) {
      out.event(e);
      last = e.seq;
      if (e.event.type === 'roomChanged' && e.event.ended) return;
    }
    if (events.length === PAGE) continue;
    if (events.length > 0) idle = 0;
    // Its end is normally seen as an event; a meeting that ended before the start (or was deleted
    // since) is found by reading it now and then.
    if (events.length === 0 && idle++ % CHECK_ROOM_EVERY === 0) {
      const room = await ctx.store.loadRoom(roomId);
      if (!room) return out.note('the meeting has been deleted (CONVENE_ROOM_RETENTION after it ended)');
      if (room.ended && room.seq <= last) return out.note('the meeting has ended');
    }
    await pause(ctx, POLL_MS);
  }
}

async function pause(ctx: Context, ms: number): Promise<void> {
  try {
    await sleep(ms, undefined, { signal: ctx.stopped });
  } catch {
    /* stopped: the loop ends */
  }
}
