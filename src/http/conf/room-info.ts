// E2 room info: every client polls it, so it is the hottest read there is. Its body is made here
// for its Fastify route, and a plain request for it is answered here too, straight off Node's
// server, before Fastify: routing, hooks, a reply object and a child logger per request cost more
// than the answer itself (issue 17: 45 % of a bare Fastify route with them, see BENCHMARKS.md).
// Only the plain, successful case is served here: a request with a query, a body, an unusual
// path, a connection over its address's cap, or anything that would not be answered code 0 goes
// to Fastify untouched (nothing is written before the answer is known), which answers it exactly
// as it answers every other request. The checks are the route's own: the app's credentials
// and the member's session (caller.ts, as for every room call), the request id, the CORS header and
// the request's log line.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { App } from '../../store/store.ts';
import type { Member, Room } from '../../domain/room.ts';
import type { HttpDeps } from '../server.ts';
import type { ConnectionGuard } from '../connections.ts';
import { announcesBody } from '../body.ts';
import { REQUEST_ID_HEADER, logsInfo, requestId } from '../logging.ts';
import { callerOf } from './caller.ts';
import { sameTokenSettings, subjectOf } from '../../tokens/agora.ts';
import { boardFor, roomInfoJson } from './views.ts';

/**
 * The last answer made for a member, kept for its next read (clients poll room info): reused while
 * the room is at the version it was made from, the app's token settings are those it was made
 * with, and for at most REUSE_MS or a quarter of the token lifetime. Its tokens had more than half
 * their lifetime left when it was made (tokens/agora.ts and board.ts re-mint below that), so a
 * reused answer's tokens have more than a quarter left; a refresh (E14) drops the member's answer.
 * At most MAX_ANSWERS members, the oldest dropped first.
 */
interface Answer {
  roomId: string;
  version: number;
  app: App;
  until: number;
  body: string;
  /** The body's length in bytes of UTF-8, counted once. */
  bytes: number;
}
const answers = new Map<Member, Answer>();
const MAX_ANSWERS = 4096;
const REUSE_MS = 30_000;

/** The answer's body (the `{code, msg, data}` envelope, as JSON) for `member` of `room`. */
export function roomInfoBody(deps: Pick<HttpDeps, 'agoraTokens' | 'boardTokens' | 'config'>, app: App, room: Room, member: Member, now = Date.now()): string {
  return answerFor(deps, app, room, member, now).body;
}

function answerFor(deps: Pick<HttpDeps, 'agoraTokens' | 'boardTokens' | 'config'>, app: App, room: Room, member: Member, now: number): Answer {
  const known = answers.get(member);
  if (known && known.version === room.version && known.roomId === room.roomId && sameTokenSettings(known.app, app) && now < known.until) return known;
  const tokens = deps.agoraTokens.forMember(app, subjectOf(room, member));
  const board = boardFor(deps.config.boardProvider, deps.boardTokens, room, member.userId);
  const body = roomInfoJson(room, board, member, tokens);
  if (!known && answers.size >= MAX_ANSWERS) answers.delete(answers.keys().next().value!);
  const made = { roomId: room.roomId, version: room.version, app, until: now + Math.min(REUSE_MS, deps.agoraTokens.lifetime * 250), body, bytes: Buffer.byteLength(body) };
  answers.set(member, made);
  return made;
}

/** After a token refresh: the member's next room info carries the new tokens. */
export function forgetAnswer(member: Member): void {
  answers.delete(member);
}

/**
 * The three path forms of E2 (spec §1) and their route patterns (as the log line names them).
 * Ids of the characters Convene and the Agora apps use; anything else (percent-encoding, a
 * trailing slash) is Fastify's to decode or refuse.
 */
const ID = '([A-Za-z0-9_.~-]{1,128})';
const FORMS: { path: RegExp; route: string }[] = [
  { path: new RegExp(`^/apps/${ID}/v1/room/${ID}$`), route: '/apps/:appId/v1/room/:roomId' },
  { path: new RegExp(`^/conf/v1/apps/${ID}/room/${ID}$`), route: '/conf/v1/apps/:appId/room/:roomId' },
  { path: new RegExp(`^/scenario/meeting/apps/${ID}/v1/room/${ID}$`), route: '/scenario/meeting/apps/:appId/v1/room/:roomId' },
];

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface RoomInfoFront {
  /** Node's request listener: room info answered here, every other request handed to `fastify`. */
  serve(req: IncomingMessage, res: ServerResponse, fastify: Handler): void;
  /** Fastify's logger, once Fastify has made it (request lines go there, as Fastify's own do). */
  log: FastifyBaseLogger | null;
}

export function roomInfoFront(deps: Pick<HttpDeps, 'apps' | 'meeting' | 'agoraTokens' | 'boardTokens' | 'config'>, connections: ConnectionGuard): RoomInfoFront {
  const cors = deps.config.corsOrigin;
  const front: RoomInfoFront = {
    log: null,
    serve(req, res, fastify) {
      const form = req.method === 'GET' ? plainForm(req.url ?? '') : null;
      if (!form || announcesBody(req) || connections.isRefused(req.socket)) return fastify(req, res);
      const logs = front.log !== null && logsInfo(front.log.level);
      const started = logs ? performance.now() : 0;
      answer(form.appId, form.roomId, req).then(
        ({ body, bytes }) => {
          const id = requestId(req);
          res.writeHead(200, [
            REQUEST_ID_HEADER, id,
            'access-control-allow-origin', cors,
            'content-type', 'application/json; charset=utf-8',
            'content-length', String(bytes),
          ]);
          // A string, not a Buffer: Node writes the head and a string body in one write(2), where
          // a Buffer body costs a writev of two (measured: a fifth of this answer's server time).
          res.end(body);
          // The line Fastify's RequestLog writes for the same answer.
          if (logs) front.log!.info({ reqId: id, method: 'GET', route: form.route, status: 200, ms: Math.round((performance.now() - started) * 100) / 100 }, 'request');
        },
        () => fastify(req, res),
      );
    },
  };

  /** The body of a code-0 answer; a rejection (the caller's refusal) when Fastify must answer instead. */
  async function answer(appId: string, roomId: string, req: IncomingMessage): Promise<Answer> {
    const { app, session } = await callerOf(deps, 'member', { appId, roomId, headers: req.headers });
    return answerFor(deps, app, session!.room, session!.member, Date.now());
  }
  return front;
}

function plainForm(url: string): { appId: string; roomId: string; route: string } | null {
  for (const f of FORMS) {
    const m = f.path.exec(url);
    if (m) return { appId: m[1]!, roomId: m[2]!, route: f.route };
  }
  return null;
}
