// Requests that carry an `Upgrade` header but are not for us to take over (Java's HttpClient and
// `curl --http2` send `Upgrade: h2c` on every cleartext request) are served as plain HTTP/1.1.
// Node hands every such request to the 'upgrade' listener with the parser already detached, so
// the request head is rebuilt without the upgrade and fed back to the server as a new connection:
// its own parser then reads the body, keep-alive and pipelining exactly as for any request.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';

const UPGRADE_TOKENS = /^(upgrade|http2-settings)$/i;

/** Answers still being written on a connection, and what waits for them to be done. */
interface InFlight {
  count: number;
  idle: (() => void)[];
}

const inFlight = new WeakMap<object, InFlight>();

/**
 * Count the answers in flight per connection: a pipelined upgrade request arrives while the
 * answers before it are still being written, and must be fed back only after them.
 */
export function trackAnswers(server: Server): void {
  server.on('request', (req: IncomingMessage, res: { once(e: 'close', f: () => void): unknown }) => {
    const socket = req.socket;
    let f = inFlight.get(socket);
    if (!f) inFlight.set(socket, (f = { count: 0, idle: [] }));
    f.count++;
    res.once('close', () => {
      if (--f!.count === 0) for (const run of f!.idle.splice(0)) run();
    });
  });
}

export function serveAsPlainHttp(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const f = inFlight.get(socket);
  if (f && f.count > 0) {
    f.idle.push(() => serveAsPlainHttp(server, req, socket, head));
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
