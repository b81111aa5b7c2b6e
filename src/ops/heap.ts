// Gives the heap's empty pages back to the system once the server goes quiet after a burst.
//
// A join storm or a morning of entries grows V8's heap with garbage; V8 collects the garbage but
// keeps the pages resident. Its own memory reducer would return them, but it waits for the
// embedder to stop calling into JavaScript, which never happens on a server holding open sockets
// (every ping is a call): measured after 10,000 entries, the process stayed at 257 MB for 30 s with
// 62 MB of its 111 MB old space live. A compacting, memory-reducing collection (the one the heap
// profiler's collectGarbage asks V8 for) brought it to 183 MB. It pauses the loop (about 100 ms at
// a fresh start and 220 ms after those entries, on a 2-core VM), so it runs only once the loop has
// been quiet for a while, at most every 15 s, and only after the old generation grew by a margin
// since the last one (CONVENE_HEAP_TRIM_MB, 16 by default). The young generation is not counted: a
// trim shrinks it and any busy spell grows it back by about 30 MB, so counting it (as 72aaf69 did,
// with a 64 MB margin) left the garbage of smaller bursts, such as 3,000 entries, in place.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import v8 from 'node:v8';

/** Null where node was built without an inspector: importing it throws there. */
const inspector = await import('node:inspector').catch(() => null);

/** The loop's busy share below which a second counts as quiet (idle sockets' pings stay well under it). */
export const QUIET_UTILIZATION = 0.1;
/**
 * Quiet seconds in a row before a trim: a lull between two bursts of a steady load is not the end
 * of the load (with 2 s, bench:http's 2 s pauses between its slices each brought a trim).
 */
export const QUIET_TICKS = 5;
/**
 * Fewest seconds between two trims, whatever the heap does: a pause of ~200 ms at most every 15 s
 * is under 1.5 % of the time. (At 60 s, a join storm that came within a minute of the start was
 * not trimmed until the minute was over.)
 */
export const MIN_INTERVAL_TICKS = 15;

export interface TrimState {
  /** Quiet seconds in a row so far. */
  quiet: number;
  /** Seconds since the last trim (or since the start). */
  sinceTrim: number;
  /** The old generation's committed size after the last trim (0 before the first). */
  trimmedAt: number;
}

/** One second's reading: may the heap be trimmed now? (Pure: the state is the caller's.) */
export function shouldTrim(s: TrimState, utilization: number, oldGenerationBytes: number, growthBytes: number): boolean {
  s.quiet = utilization < QUIET_UTILIZATION ? s.quiet + 1 : 0;
  s.sinceTrim += 1;
  return s.quiet >= QUIET_TICKS && s.sinceTrim >= MIN_INTERVAL_TICKS && oldGenerationBytes - s.trimmedAt >= growthBytes;
}

export interface TrimReport {
  beforeBytes: number;
  afterBytes: number;
  pauseMs: number;
}

/**
 * Checks once a second; `growthMb` (CONVENE_HEAP_TRIM_MB) is how far the heap's old generation
 * must have grown since the last trim. For the process's lifetime (its timer does not keep it
 * alive); nothing at all where the runtime has no inspector (node built without it): nothing else
 * asks V8 for a memory-reducing collection.
 */
export function startHeapTrim(growthMb: number, report: (r: TrimReport) => void): void {
  if (growthMb <= 0 || !inspector) return;
  const { Session } = inspector;
  const growth = growthMb * 1024 * 1024;
  // The start itself counts as the last trim: the first one waits for a quiet spell like any other.
  const state: TrimState = { quiet: 0, sinceTrim: MIN_INTERVAL_TICKS, trimmedAt: 0 };
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  let trimming = false;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const utilization = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    if (trimming || !shouldTrim(state, utilization, oldGeneration(), growth)) return;
    trimming = true;
    const before = v8.getHeapStatistics().total_heap_size;
    collect(Session).then((pauseMs) => {
      trimming = false;
      state.sinceTrim = 0;
      state.quiet = 0;
      state.trimmedAt = oldGeneration();
      report({ beforeBytes: before, afterBytes: v8.getHeapStatistics().total_heap_size, pauseMs });
    }, () => clearInterval(timer)); // An inspector that refuses once refuses again: no more trims.
  }, 1000);
  timer.unref();
}

/** The heap's committed bytes apart from the young generation (new space), which every busy spell regrows. */
function oldGeneration(): number {
  let bytes = 0;
  for (const s of v8.getHeapSpaceStatistics()) if (s.space_name !== 'new_space' && s.space_name !== 'new_large_object_space') bytes += s.space_size;
  return bytes;
}

/** V8's memory-reducing full collection, through an in-process inspector session; resolves with its pause. */
function collect(Session: typeof import('node:inspector').Session): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = new Session();
    session.connect();
    const t0 = performance.now();
    session.post('HeapProfiler.collectGarbage', (err) => {
      const pause = performance.now() - t0;
      // Disconnecting inside the session's own callback never returns: after it, on a turn of its own.
      setImmediate(() => session.disconnect());
      if (err) reject(err);
      else resolve(pause);
    });
  });
}
