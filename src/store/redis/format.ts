// The format of what Convene keeps in Redis (key names, the fields of a room's hash, the JSON of
// rooms, members, events and outbox rows, the bus's messages), so that nodes of two releases can
// share one Redis during a rolling upgrade, and a node never misreads what a newer one wrote.
//
// DECISION: a deployment's format is in its meta hash (`format`); a release reads every format from
// OLDEST_READ_FORMAT to STORE_FORMAT and writes the deployment's. A release that needs a new format
// reads it first and writes it only once the deployment says so (raised by an operator after every
// node runs that release), so that old and new nodes never write what the other cannot read. Each
// room's hash also names the format it was written in (`f`; absent: written before the marker, 1),
// so that a room written by a newer node is refused by name rather than misread.

/** The format this release writes. Format 1: the layout of release 0.1.0, the first to mark it. */
export const STORE_FORMAT = 1;

/** The oldest format this release still reads (0.1.0 and before wrote format 1 without a marker). */
export const OLDEST_READ_FORMAT = 1;

/** The meta field naming the deployment's format. */
export const FORMAT_FIELD = 'format';

import { StoreUnavailableError } from '../store.ts';

/**
 * A store (or a room in it) written in a format this release cannot read. A kind of unavailability:
 * the callers get the retryable answer (a load balancer may send the retry to a node that reads
 * it), and the log says which format and what to do.
 */
export class StoreFormatError extends StoreUnavailableError {
  constructor(marker: string, where: string) {
    const n = formatOf(marker);
    super(
      n < OLDEST_READ_FORMAT
        ? `${where} is in store format ${marker}, older than this release reads (${OLDEST_READ_FORMAT} to ${STORE_FORMAT}): upgrade through the releases in between`
        : `${where} is in store format ${marker}, written by a newer Convene; this release reads formats ${OLDEST_READ_FORMAT} to ${STORE_FORMAT}: upgrade this node to the release the other nodes run`,
    );
    this.name = 'StoreFormatError';
  }
}

/**
 * The format named by a stored marker: absent, 1 (written before the marker existed); a marker that
 * is no number was written by no Convene we know, and reads as newer than any.
 */
export function formatOf(marker: string | null | undefined): number {
  if (marker === null || marker === undefined || marker === '') return 1;
  const n = Number(marker);
  return Number.isInteger(n) && n >= 0 ? n : Number.MAX_SAFE_INTEGER;
}

export function readable(marker: string | null | undefined): boolean {
  const n = formatOf(marker);
  return n >= OLDEST_READ_FORMAT && n <= STORE_FORMAT;
}

/** The StoreFormatError for a script's CONVENE_FORMAT refusal (see scripts.ts); other errors as they are. */
export function refusedFormat(err: unknown, where: string): unknown {
  const marker = err instanceof Error ? /CONVENE_FORMAT (\S+)/.exec(err.message)?.[1] : undefined;
  return marker === undefined ? err : new StoreFormatError(marker, where);
}
