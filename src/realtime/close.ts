// The close codes of the realtime channel: what a client is told when its socket is refused or ended.
import type { RoomTokenEntry } from '../service/roomtoken.ts';

/** Close codes a client can act on (4000–4999 are the application's range). */
export const Close = {
  badRequest: { code: 4400, reason: 'bad request: token is required once, since is a non-negative integer, room a roomId, each at most once' },
  invalidToken: { code: 4401, reason: 'invalid or revoked token: enter the room again' },
  ended: { code: 4403, reason: 'the meeting has ended' },
  removed: { code: 4409, reason: 'you are no longer in this room' },
  /** A board or media socket whose member moved to another room of its meeting (a breakout, or back). */
  moved: { code: 4412, reason: 'moved to another room of this meeting: connect again with the same token' },
  replaced: { code: 4410, reason: 'replaced by a newer entry of the same user' },
  slow: { code: 4408, reason: 'too slow: messages were not read in time; reconnect with since=<last seq>' },
  shutdown: { code: 1001, reason: 'server shutting down; reconnect with since=<last seq>' },
  /** The node is draining (SIGTERM, a rolling upgrade): the other nodes serve the same meeting. */
  restart: { code: 1012, reason: 'this node is restarting: reconnect (to another node) with since=<last seq>' },
  /** Events this node could not recover (trimmed from the log before it saw them). */
  lost: { code: 4408, reason: 'missed events; reconnect with since=<last seq>' },
  /** The store cannot be reached: nothing could be checked. */
  unavailable: { code: 1013, reason: 'try again later: storage unavailable' },
  noBoard: { code: 1013, reason: "try again later: the meeting's whiteboard could not be created" },
  full: { code: 4413, reason: 'the room is full' },
  duplicate: { code: 4411, reason: 'this user is already in the room and the app forbids a second login' },
  /** The member already holds CONVENE_MAX_SOCKETS_PER_MEMBER sockets on this node. */
  tooManySockets: { code: 4429, reason: 'too many realtime sockets for this member: close another one first' },
  /** The client's address holds CONVENE_MAX_CONNECTIONS_PER_IP connections. */
  tooManyConnections: { code: 1013, reason: 'try again later: too many connections from this address' },
  /** RoomToken entry refused: the host locked the room. */
  locked: { code: 4423, reason: 'the room is locked: no new entries' },
  /** RoomToken entry refused: this user was kicked with a ban (the reason says until when). */
  banned: { code: 4424, reason: 'you were removed from this meeting and may not enter again yet' },
  /** RoomToken entry refused: the app already runs CONVENE_MAX_ROOMS_PER_APP meetings. */
  tooManyRooms: { code: 4430, reason: 'this app runs the most meetings allowed: end one first' },
  /** `board` is neither 1 nor 0, or this server has no built-in board. */
  badBoard: { code: 4400, reason: 'bad request: board must be 1 or 0, and needs CONVENE_BOARD_PROVIDER=builtin' },
  /** `media` is neither 1 nor 0 (or this server relays no media signals). */
  badMedia: { code: 4400, reason: 'bad request: media must be 1 or 0' },
  /** `board=1` with a userToken needs the member's boardToken (E13, or room info): none, expired, or another's. */
  badBoardToken: { code: 4401, reason: "board=1 needs this member's boardToken (GET /{roomId}/board): missing, expired or not for this board" },
  /** Convene's lobby: a waiting member's socket carries the lobby state only. */
  lobbyOnly: { code: 4400, reason: 'bad request: a socket waiting in the lobby carries neither board nor media' },
  /** Convene's lobby: a host sent the member back to it; reconnecting opens its lobby socket. */
  toLobby: { code: 4412, reason: 'sent to the lobby by the host: reconnect to wait there' },
  /** Convene's lobby: the host denied the entry (the reason follows, deniedClose). */
  denied: { code: 4425, reason: 'the host denied your entry' },
} as const;

/** A denial's close, its reason in it as far as a close reason holds (123 bytes; cmd 111 has it whole). */
export function deniedClose(reason: string): { code: number; reason: string } {
  if (reason === '') return Close.denied;
  let text = `denied: ${reason}`;
  while (Buffer.byteLength(text) > 123) text = text.slice(0, -1);
  return { code: Close.denied.code, reason: text };
}

/** Why a RoomToken entry was refused, as a close code (the reasons of the HTTP entry's codes). */
export function entryRefusal(reason: Extract<RoomTokenEntry, { ok: false }>['reason'], detail?: string): { code: number; reason: string } {
  switch (reason) {
    case 'roomFull':
      return Close.full;
    case 'duplicateLogin':
      return Close.duplicate;
    case 'locked':
      return Close.locked;
    case 'banned': {
      // The rules say until when; a close reason holds at most 123 bytes.
      const until = /\d{4}-\d\d-\d\dT[\d:.]+Z/.exec(detail ?? '')?.[0];
      return until ? { code: Close.banned.code, reason: `removed from this meeting: may enter again at ${until}` } : Close.banned;
    }
    case 'tooManyRooms':
      return Close.tooManyRooms;
    default:
      return Close.invalidToken;
  }
}
