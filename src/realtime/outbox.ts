// What a socket has yet to send, kept by Convene rather than by ws: frames go to ws only while its
// own buffer is under a low watermark, the rest wait here, counted. A reader that falls behind by
// more than the limit has this queue dropped, so its close frame (4408) is written behind at most
// the low watermark's bytes and reaches it when it reads again, instead of behind a backlog it may
// never get through.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/** The per-socket state (fields of the gateway's connection: no object of its own per socket). */
export interface Outgoing {
  ws: WebSocket;
  /** The TCP socket under `ws`: its 'drain' says when ws's buffer has been written out. */
  socket: Duplex;
  /** Frames waiting for ws's buffer to go under the low watermark; null while nothing waits. */
  queue: Buffer[] | null;
  /** Bytes in `queue`. */
  queued: number;
  /** A flush is scheduled for when the socket drains. */
  flushing: boolean;
}

export interface OutboxLimits {
  /** Hand frames to ws only while its buffer holds less than this. */
  low: number;
  /** Unsent bytes (ws's buffer, this queue, and the frame being added) above which the reader is too slow. */
  max: number;
}

/**
 * Send `frame`, now or after what waits before it. False: the socket is over the limit; its queue
 * has been dropped and the caller closes it. A frame larger than the limit still goes to a socket
 * with nothing unsent: refusing it would refuse it again on every resume.
 */
export function push(o: Outgoing, frame: Buffer, limits: OutboxLimits): boolean {
  if (o.queue === null) {
    if (o.ws.bufferedAmount < limits.low) {
      send(o, frame);
      return true;
    }
    o.queue = [];
    o.queued = 0;
  }
  if (o.queued + o.ws.bufferedAmount + frame.length > limits.max) {
    discard(o);
    return false;
  }
  o.queue.push(frame);
  o.queued += frame.length;
  scheduleFlush(o, limits);
  return true;
}

/**
 * Each frame's bytes on the wire (the WebSocket header and the text), made once per frame whatever
 * the number of sockets it goes to: a fan-out writes the same Buffer to each socket, one write
 * each, where ws.send frames it anew per socket (a header Buffer, a cork, two writes and a writev).
 */
const wires = new WeakMap<Buffer, Buffer>();

/**
 * A text frame to one socket. Written straight to the TCP socket while ws would do the same: the
 * connection is open, and it has no extension — the gateway's servers turn permessage-deflate off,
 * so ws negotiates none (asking ws per frame costs an array and a string per socket) — and Convene
 * never sends a Blob: ws's sender then writes each frame at once, in order, as this does.
 */
function send(o: Outgoing, frame: Buffer): void {
  if (o.ws.readyState !== o.ws.OPEN) return o.ws.send(frame, { binary: false });
  let wire = wires.get(frame);
  if (wire === undefined) wires.set(frame, (wire = textFrame(frame)));
  o.socket.write(wire);
}

/** An unmasked, final text frame carrying `payload` (RFC 6455 §5.2: a server's frames are not masked). */
export function textFrame(payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + n);
  out[0] = 0x81;
  if (n < 126) out[1] = n;
  else if (n < 65_536) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  payload.copy(out, head);
  return out;
}

/** Forget what waits (the socket is closing). */
export function discard(o: Outgoing): void {
  o.queue = null;
  o.queued = 0;
}

function scheduleFlush(o: Outgoing, limits: OutboxLimits): void {
  if (o.flushing) return;
  o.flushing = true;
  onceBelow(o, limits.low, () => {
    o.flushing = false;
    flush(o, limits);
  });
}

function flush(o: Outgoing, limits: OutboxLimits): void {
  const q = o.queue;
  if (q === null || o.ws.readyState !== o.ws.OPEN) return discard(o);
  let i = 0;
  while (i < q.length && o.ws.bufferedAmount < limits.low) {
    const frame = q[i++]!;
    o.queued -= frame.length;
    send(o, frame);
  }
  if (i === q.length) return discard(o);
  q.splice(0, i);
  scheduleFlush(o, limits);
}

/**
 * Call `then` once ws's buffer is at most `low` bytes (at once if it already is), or once the socket
 * has closed; the returned function cancels the wait. Node emits 'drain' when a socket's buffer,
 * once over its high-water mark, is empty; below that mark nothing is emitted, so that short wait
 * is polled instead.
 */
export function onceBelow(o: Pick<Outgoing, 'ws' | 'socket'>, low: number, then: () => void): () => void {
  const s = o.socket;
  let timer: NodeJS.Timeout | undefined;
  let listening = false;
  const stop = () => {
    if (listening) {
      s.removeListener('drain', check);
      s.removeListener('close', check);
      listening = false;
    }
    clearTimeout(timer);
  };
  function check(): void {
    stop();
    if (o.ws.bufferedAmount <= low || s.destroyed) return then();
    if (s.writableNeedDrain) {
      s.once('drain', check);
      s.once('close', check);
      listening = true;
    } else {
      timer = setTimeout(check, 10);
    }
  }
  check();
  return stop;
}

/** Resolves true once the socket can take more (under `low`), false after `timeoutMs` or on close. */
export function writable(o: Pick<Outgoing, 'ws' | 'socket'>, low: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let cancel: (() => void) | null = null;
    const timer = setTimeout(() => {
      cancel?.();
      resolve(false);
    }, timeoutMs);
    cancel = onceBelow(o, low, () => {
      clearTimeout(timer);
      resolve(!o.socket.destroyed && o.ws.readyState === o.ws.OPEN);
    });
  });
}

/**
 * Close with a code the peer can read even if it reads late: the close frame goes behind what is
 * already in ws's buffer (at most the low watermark and a slice), and the connection is cut only
 * once that has been handed to the kernel, 2 s later (a peer that does not read never answers the
 * closing handshake). ws itself cuts it 30 s after the close in any case.
 */
export function closeReadably(o: Pick<Outgoing, 'ws' | 'socket'>, code: number, reason: string): void {
  o.ws.close(code, reason);
  const s = o.socket;
  const cutWhenWritten = () => {
    if (s.destroyed) return;
    if (s.writableLength === 0) return void setTimeout(terminate, 2_000, o.ws).unref();
    setTimeout(cutWhenWritten, 200).unref();
  };
  cutWhenWritten();
}

function terminate(ws: WebSocket): void {
  ws.terminate();
}
