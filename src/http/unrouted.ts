// Failures before any route is chosen: a request the HTTP parser rejects (malformed framing,
// headers too large, not complete in time), an undecodable URL, an over-long path segment. They
// are still answered in the caller's envelope, chosen by the request target (scopes.ts); one
// answer is built here and written by whichever raw object the failure arrives with.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Code } from './conf/codes.ts';
import { agoraFailure } from './conf/errors.ts';
import { newReqId } from './qiniu/errors.ts';
import { envelopeOf } from './scopes.ts';

export interface UnroutedAnswer {
  status: number;
  reason: string;
  headers: Record<string, string>;
  body: string;
}

const PHRASES: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/** The answer to a failure `what` (e.g. "malformed HTTP request") of a request for `target`. */
export function unroutedAnswer(target: string, status: number, what: string, corsOrigin: string): UnroutedAnswer {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'access-control-allow-origin': corsOrigin };
  switch (envelopeOf(target)) {
    case 'agora':
      return { status: 200, reason: 'OK', headers, body: JSON.stringify(agoraFailure(Code.invalid, `invalid argument: ${what}`)) };
    case 'qiniu': {
      // Qiniu answers carry the error text as the reason phrase and an X-Reqid (spec qiniu-rtc-v3 §1).
      const error = `invalid args: ${what}`;
      headers['x-reqid'] = newReqId();
      return { status, reason: error, headers, body: JSON.stringify({ error }) };
    }
    default:
      return { status, reason: PHRASES[status] ?? 'Bad Request', headers, body: JSON.stringify({ error: `invalid argument: ${what}` }) };
  }
}

export function writeUnrouted(res: ServerResponse, a: UnroutedAnswer): void {
  res.writeHead(a.status, a.reason, { ...a.headers, 'content-length': Buffer.byteLength(a.body) }).end(a.body);
}

/** Fastify's clientErrorHandler: answer what the parser rejected, then close (nothing more on it can be trusted). */
export function malformedRequestHandler(corsOrigin: string) {
  return (err: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void => {
    // A reset connection has nobody to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, what] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request was not complete in time']
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'the request headers are too large']
          : [400, 'malformed HTTP request'];
    // A request whose head is in (its body timed out) has an answer object, which names the target
    // and says whether an answer has begun; otherwise the bytes the parser was reading may hold the
    // request line.
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    const seen = Buffer.isBuffer(err.rawPacket) ? err.rawPacket.toString('latin1', 0, 8192) : '';
    const target = inFlight?.req?.url ?? /^[A-Z]+ (\S+)/.exec(seen)?.[1] ?? '';
    const a = unroutedAnswer(target, status, what, corsOrigin);
    // Only a connection with no answer begun can take one (bytes after a half-written answer would be garbage).
    if (socket.writable && !inFlight?.headersSent) {
      const head = Object.entries({ ...a.headers, 'content-length': String(Buffer.byteLength(a.body)), connection: 'close' })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.write(`HTTP/1.1 ${a.status} ${a.reason}\r\n${head}\r\n${a.body}`);
    }
    socket.destroy();
  };
}
