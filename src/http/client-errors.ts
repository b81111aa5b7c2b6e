// Requests Node's HTTP parser rejects (malformed framing, headers too large, a request not
// complete in time) never reach a route. They are still answered in the caller's envelope,
// chosen by the request target when the bytes the parser saw include it, then the connection is
// closed: after a framing error nothing more on it can be trusted.
import type { Socket } from 'node:net';
import { Code } from './conf/codes.ts';
import { agoraFailure } from './conf/errors.ts';
import { newReqId } from './qiniu/errors.ts';
import { envelopeOf } from './scopes.ts';

/** Node's parser errors carry the bytes it was reading (typed loosely by Fastify). */
interface ParserError extends Error {
  code?: string;
  rawPacket?: unknown;
}

export function malformedRequestHandler(corsOrigin: string) {
  return (err: ParserError, socket: Socket): void => {
    // A reset connection has nobody to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, what] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request was not complete in time']
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'the request headers are too large']
          : [400, 'malformed HTTP request'];
    const seen = Buffer.isBuffer(err.rawPacket) ? err.rawPacket.toString('latin1', 0, 8192) : '';
    const target = /^[A-Z]+ (\S+)/.exec(seen)?.[1] ?? '';
    const envelope = envelopeOf(target);
    let head: string;
    let body: string;
    if (envelope === 'agora') {
      head = 'HTTP/1.1 200 OK';
      body = JSON.stringify(agoraFailure(Code.invalid, `invalid argument: ${what}`));
    } else if (envelope === 'qiniu') {
      // Qiniu answers carry the error text as reason phrase and an X-Reqid (spec qiniu-rtc-v3 §1).
      const error = `invalid args: ${what}`;
      head = `HTTP/1.1 ${status} ${error}\r\nX-Reqid: ${newReqId()}`;
      body = JSON.stringify({ error });
    } else {
      head = `HTTP/1.1 ${status} ${status === 400 ? 'Bad Request' : status === 408 ? 'Request Timeout' : 'Request Header Fields Too Large'}`;
      body = JSON.stringify({ error: what });
    }
    if (socket.writable) {
      socket.write(
        `${head}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `Access-Control-Allow-Origin: ${corsOrigin}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
