// Requests that carry an `Upgrade` header but are not for us to take over (Java's HttpClient and
// `curl --http2` send `Upgrade: h2c` on every cleartext request) are served as plain HTTP/1.1.
// Node hands every such request to the 'upgrade' listener with the parser already detached, so
// the request head is rebuilt without the upgrade and fed back to the server as a new connection:
// its own parser then reads the body, keep-alive and pipelining exactly as for any request.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';

const UPGRADE_TOKENS = /^(upgrade|http2-settings)$/i;

/** The last request's answer on each connection (answers on one connection finish in order). */
const LAST_ANSWER = Symbol('last answer');

type Answer = { closed: boolean; once(e: 'close', f: () => void): unknown };

/**
 * Note each connection's latest answer: a pipelined upgrade request arrives while the answers
 * before it are still being written, and must be fed back only after them. One property per
 * request (a listener per request cost the hot read path; issue 17); a listener only when an
 * upgrade has to wait.
 */
export function trackAnswers(server: Server): void {
  server.on('request', (req: IncomingMessage, res: Answer) => {
    (req.socket as unknown as Record<symbol, Answer>)[LAST_ANSWER] = res;
  });
}

export function serveAsPlainHttp(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const last = (socket as unknown as Record<symbol, Answer | undefined>)[LAST_ANSWER];
  if (last && !last.closed) {
    last.once('close', () => serveAsPlainHttp(server, req, socket, head));
    return;
  }
  const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'upgrade' || lower === 'http2-settings') continue;
    if (lower === 'connection') {
      const rest = raw[i + 1]!.split(',').map((t) => t.trim()).filter((t) => t && !UPGRADE_TOKENS.test(t));
      if (rest.length > 0) lines.push(`${name}: ${rest.join(', ')}`);
      continue;
    }
    lines.push(`${name}: ${raw[i + 1]}`);
  }
  // latin1 both ways: header bytes go back exactly as they were received.
  socket.unshift(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), head]));
  server.emit('connection', socket);
}

/** Whether the request asks for a WebSocket (the `Upgrade` header names it). */
export function wantsWebSocket(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return typeof upgrade === 'string' && upgrade.split(',').some((t) => t.trim().toLowerCase() === 'websocket');
}
