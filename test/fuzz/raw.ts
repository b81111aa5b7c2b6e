// A raw HTTP/1.1 client over a plain TCP socket, for what fetch and node:http refuse to send:
// repeated headers, absolute-form targets, Upgrade on ordinary paths, lying Content-Length, and
// connections reset (RST, `resetAndDestroy`) at a chosen stage of the exchange.
import net from 'node:net';

export type Header = [name: string, value: string];

export interface RawRequest {
  method: string;
  /** The request-target exactly as it goes on the request line (origin or absolute form). */
  target: string;
  /** Sent in this order, repeats included; nothing is added (not even Host or Content-Length). */
  headers: Header[];
  body?: Buffer;
  /** Bytes sent instead of the serialised request (malformed framing); the fields above describe it. */
  bytes?: Buffer;
}

/**
 * Where the connection is reset:
 * - requestLine: before the request line ends; headers: mid-headers; body: mid-body (the
 *   Content-Length given promises more than is sent); afterRequest: right after the last byte;
 * - midAnswer: as soon as the first bytes of the answer arrive;
 * - upgradeNow: right after an upgrade request, before any answer.
 */
export type ResetStage = 'requestLine' | 'headers' | 'body' | 'afterRequest' | 'midAnswer' | 'upgradeNow';

export interface RawAnswer {
  kind: 'answer';
  status: number;
  reason: string;
  headers: Header[];
  body: Buffer;
  text: string;
  /** The body parsed as JSON, or undefined. */
  json: unknown;
  /** Interim (1xx) answers seen before this one. */
  interim: number[];
  /** Bytes of the stream this answer took (a pipelined answer follows). */
  consumed: number;
}

/** What the other end did when no complete answer came. */
export interface RawFailure {
  kind: 'closed' | 'reset' | 'timeout' | 'malformed';
  /** Bytes received before that. */
  partial: string;
  detail: string;
}

export type RawResult = RawAnswer | RawFailure | { kind: 'done-reset' };

export function header(a: RawAnswer, name: string): string | undefined {
  const n = name.toLowerCase();
  return a.headers.find(([k]) => k.toLowerCase() === n)?.[1];
}

export function headerCount(a: RawAnswer, name: string): number {
  const n = name.toLowerCase();
  return a.headers.filter(([k]) => k.toLowerCase() === n).length;
}

export function serialize(req: RawRequest): Buffer {
  if (req.bytes) return req.bytes;
  const head = `${req.method} ${req.target} HTTP/1.1\r\n${req.headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), req.body ?? Buffer.alloc(0)]);
}

/**
 * Parse one response from `buf`: null while incomplete. Bodies framed by Content-Length or
 * chunked; otherwise (or for `readToEnd`) the body runs to the end of the connection.
 */
export function parseResponse(buf: Buffer, ended: boolean, method: string): RawAnswer | 'malformed' | null {
  const interim: number[] = [];
  let at = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end < 0) return ended && buf.length > at ? 'malformed' : null;
    const lines = buf.subarray(at, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
    if (!m) return 'malformed';
    const status = Number(m[1]);
    const headers: Header[] = [];
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i <= 0) return 'malformed';
      headers.push([l.slice(0, i), l.slice(i + 1).trim()]);
    }
    const bodyStart = end + 4;
    // 1xx answers other than 101 are followed by the real one.
    if (status >= 100 && status < 200 && status !== 101) {
      interim.push(status);
      at = bodyStart;
      continue;
    }
    const answer = (body: Buffer, consumed: number): RawAnswer => {
      const text = body.toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { kind: 'answer', status, reason: m[2] ?? '', headers, body, text, json, interim, consumed };
    };
    const get = (n: string) => headers.find(([k]) => k.toLowerCase() === n)?.[1];
    if (method === 'HEAD' || status === 101 || status === 204 || status === 304) return answer(Buffer.alloc(0), bodyStart);
    const te = get('transfer-encoding');
    if (te && /chunked/i.test(te)) {
      const chunks: Buffer[] = [];
      let p = bodyStart;
      for (;;) {
        const le = buf.indexOf('\r\n', p);
        if (le < 0) return ended ? 'malformed' : null;
        const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
        if (Number.isNaN(size)) return 'malformed';
        if (size === 0) {
          const trailerEnd = buf.indexOf('\r\n\r\n', le);
          if (trailerEnd < 0) return ended ? 'malformed' : null;
          return answer(Buffer.concat(chunks), trailerEnd + 4);
        }
        if (buf.length < le + 2 + size + 2) return ended ? 'malformed' : null;
        chunks.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
    }
    const cl = get('content-length');
    if (cl !== undefined) {
      const n = Number(cl);
      if (buf.length >= bodyStart + n) return answer(buf.subarray(bodyStart, bodyStart + n), bodyStart + n);
      return ended ? 'malformed' : null;
    }
    return ended ? answer(buf.subarray(bodyStart), buf.length) : null;
  }
}

/**
 * One exchange on a fresh connection. Without `reset`, resolves with the first complete answer
 * (the connection is then closed by us) or with how the server ended the exchange.
 */
export function exchange(
  port: number,
  req: RawRequest,
  opts: { reset?: ResetStage; timeoutMs?: number; cut?: number } = {},
): Promise<RawResult> {
  const bytes = serialize(req);
  const headEnd = bytes.indexOf('\r\n\r\n') + 4;
  const lineEnd = bytes.indexOf('\r\n');
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    let settled = false;
    const finish = (r: RawResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!sock.destroyed) sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => finish({ kind: 'timeout', partial: buf.toString('latin1').slice(0, 300), detail: 'no complete answer in time' }),
      opts.timeoutMs ?? 10_000,
    );
    let peerEnded = false;
    const resetNow = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // An RST after the peer's FIN leaves Node's own shutdown request pending forever (see ws.ts).
      if (peerEnded) sock.destroy();
      else sock.resetAndDestroy();
      resolve({ kind: 'done-reset' });
    };
    // `cut` (0..1) picks how far into the stage the reset falls, so that runs vary it reproducibly.
    const cut = opts.cut ?? 0.5;
    sock.on('connect', () => {
      switch (opts.reset) {
        case 'requestLine':
          sock.write(bytes.subarray(0, Math.max(0, Math.floor(lineEnd * cut))), () => setImmediate(resetNow));
          return;
        case 'headers':
          sock.write(bytes.subarray(0, lineEnd + 2 + Math.floor((headEnd - lineEnd - 4) * cut)), () => setImmediate(resetNow));
          return;
        case 'body':
          // The caller's Content-Length promises more than the bytes written here.
          sock.write(bytes.subarray(0, headEnd + Math.floor((bytes.length - headEnd) * cut)), () => setTimeout(resetNow, 2));
          return;
        case 'afterRequest':
        case 'upgradeNow':
          sock.write(bytes, () => (cut < 0.5 ? resetNow() : setImmediate(resetNow)));
          return;
        default:
          sock.write(bytes);
      }
    });
    sock.on('data', (d) => {
      if (opts.reset === 'midAnswer') return resetNow();
      buf = Buffer.concat([buf, d]);
      const r = parseResponse(buf, false, req.method);
      if (r === 'malformed') finish({ kind: 'malformed', partial: buf.toString('latin1').slice(0, 300), detail: 'not an HTTP/1.1 answer' });
      else if (r) finish(r);
    });
    sock.on('end', () => {
      peerEnded = true;
      const r = parseResponse(buf, true, req.method);
      if (r === 'malformed') finish({ kind: 'malformed', partial: buf.toString('latin1').slice(0, 300), detail: 'not an HTTP/1.1 answer' });
      else if (r) finish(r);
      else finish({ kind: 'closed', partial: buf.toString('latin1').slice(0, 300), detail: 'connection closed before an answer' });
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      finish({ kind: 'reset', partial: buf.toString('latin1').slice(0, 300), detail: err.code ?? err.message });
    });
  });
}
