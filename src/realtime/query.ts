// What a realtime socket asks for in its upgrade's query string: its token, the seq it resumes
// from, the breakout it resumes in, and whether it is a board or a media socket. Checked for form
// before anything is looked up; a malformed query is refused with a 4400 code that says which part.
import { Close } from './close.ts';

export interface SocketQuery {
  /** The userToken (or a Qiniu RoomToken). */
  token: string;
  /** The last seq the client has; null: none (a snapshot). */
  since: number | null;
  /** `room`: the room of its meeting it resumes in (a breakout), as given; its form is checked later. */
  room: string | null;
  board: boolean;
  media: boolean;
  /** The `boardToken` values given (a board socket with a userToken needs exactly one). */
  boardTokens: string[];
}

type Refusal = { refuse: { code: number; reason: string } };

/** What a roomId looks like (tokens/session.ts): a `room` parameter that does not is refused. */
export const ROOM_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The query of a socket's upgrade URL, or the refusal it gets. `serves` says whether this node has
 * a built-in board and a media relay (a socket asking for one it lacks is refused).
 */
export function socketQuery(url: URL, serves: { board: boolean; media: boolean }): SocketQuery | Refusal {
  const p = url.searchParams;
  const token = p.get('token');
  const sinceText = p.get('since');
  const since = sinceText === null || sinceText === '' ? null : Number(sinceText);
  const repeated = p.getAll('token').length > 1 || p.getAll('since').length > 1 || p.getAll('room').length > 1;
  if (!token || repeated || (since !== null && (!Number.isSafeInteger(since) || since < 0))) return { refuse: Close.badRequest };
  const board = flag(p.getAll('board'), serves.board);
  if (board === null) return { refuse: Close.badBoard };
  const media = flag(p.getAll('media'), serves.media);
  if (media === null) return { refuse: Close.badMedia };
  return { token, since, room: p.get('room'), board, media, boardTokens: p.getAll('boardToken') };
}

/** A 1-or-0 parameter given at most once; 1 only where the node serves it. Null: refused. */
function flag(given: string[], served: boolean): boolean | null {
  if (given.length > 1 || (given[0] !== undefined && given[0] !== '0' && given[0] !== '1')) return null;
  if (given[0] === '1' && !served) return null;
  return given[0] === '1';
}
