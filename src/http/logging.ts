// Request logs: one JSON line per answered request, written when its answer is finished, with the
// method, the route pattern (never the URL as sent: its query may carry a token), the status, the
// duration and the request id. Nothing a caller sends as a credential or a body is logged: headers
// and bodies never are, and a `url` field (the handlers' error lines) loses its query.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The code of an Agora answer that is not a success (its HTTP status is 200): the request line shows it. */
    answerCode: number;
  }
}

export const REQUEST_ID_HEADER = 'x-request-id';

/** An incoming id is kept if it is plain: up to 128 letters, digits and `._:/+=@-` (no spaces, nothing to inject into a log). */
const PLAIN_ID = /^[\w.:/+=@-]{1,128}$/;
/** This process's prefix: ids of several nodes and restarts do not collide. */
const PREFIX = randomBytes(4).toString('hex');
let counter = 0;

/** Fastify's genReqId: the caller's (or its proxy's) X-Request-Id if plain, else a new one. */
export function requestId(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  if (typeof given === 'string' && PLAIN_ID.test(given)) return given;
  return `${PREFIX}-${(++counter).toString(36)}`;
}

/** Fastify's logger options: pino at the configured level, and no query string in a logged `url`. */
export function loggerOptions(level: Config['logLevel']) {
  return { level, serializers: { url: withoutQuery } };
}

function withoutQuery(url: unknown): unknown {
  if (typeof url !== 'string') return url;
  const q = url.indexOf('?');
  return q < 0 ? url : `${url.slice(0, q)}?…`;
}

type Level = 'info' | 'warn' | 'error';

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

/**
 * A client's mistake (4xx, Qiniu's 612/615/616, an Agora refusal) is info; an unreachable store
 * (503, said retryable) is warn, as the handlers log it; any other server fault is error.
 */
export function levelOf(status: number, answerCode: number): Level {
  if (status === 503 || answerCode === 503) return 'warn';
  if ((status >= 500 && status < 600) || answerCode === 500) return 'error';
  return 'info';
}

/** Whether a logger at `level` writes info lines. */
export function logsInfo(level: string): boolean {
  return LEVELS.info >= (LEVELS[level] ?? 0);
}

/**
 * Fastify calls requestCompleted once per answer; its own request lines (which print the URL as
 * sent) stay off. Called for answers written on the raw socket (the Qiniu API's) as well.
 */
export class RequestLog extends LogController {
  constructor() {
    super({ disableRequestLogging: true });
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const status = reply.statusCode;
    const code = request.answerCode;
    const level: Level = error ? 'warn' : levelOf(status, code);
    const log = reply.log;
    // Below the configured level nothing is built (pino's level names; `silent` is above all).
    if (LEVELS[level] < (LEVELS[log.level] ?? 0)) return;
    const route = request.routeOptions.url ?? null;
    const line: Record<string, unknown> = {
      method: request.method,
      route,
      status,
      ms: Math.round(reply.elapsedTime * 100) / 100,
    };
    if (code !== 0) line.code = code;
    // An unrouted request has no pattern: its path (without the query) says what was asked.
    if (route === null) line.path = request.url.split('?', 1)[0]!.slice(0, 200);
    if (error) line.err = error.message;
    log[level](line, 'request');
  }
}
