// Raw WebSocket frames over a plain TCP socket: a real handshake, then any bytes we like (invalid
// opcodes, unmasked or oversized frames), and a reader for what the server sends back.
import net from 'node:net';
import { parseResponse, serialize, type Header, type RawAnswer } from './raw.ts';

export interface Frame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

/** Encode one client frame; `masked: false` and `rsv` break the protocol on purpose. */
export function frame(opcode: number, payload: Buffer, o: { fin?: boolean; masked?: boolean; rsv?: number; lengthAs64?: bigint } = {}): Buffer {
  const fin = o.fin ?? true;
  const masked = o.masked ?? true;
  const b0 = (fin ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | (opcode & 0x0f);
  let head: Buffer;
  if (o.lengthAs64 !== undefined) {
    head = Buffer.alloc(10);
    head[1] = 127;
    head.writeBigUInt64BE(o.lengthAs64, 2);
  } else if (payload.length < 126) {
    head = Buffer.alloc(2);
    head[1] = payload.length;
  } else if (payload.length < 65536) {
    head = Buffer.alloc(4);
    head[1] = 126;
    head.writeUInt16BE(payload.length, 2);
  } else {
    head = Buffer.alloc(10);
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  head[0] = b0;
  if (!masked) return Buffer.concat([head, payload]);
  head[1]! |= 0x80;
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= MASK[i & 3]!;
  return Buffer.concat([head, MASK, body]);
}

/** Server frames parsed from a byte stream (server frames are never masked). */
export function parseFrames(buf: Buffer): { frames: Frame[]; rest: Buffer; error?: string } {
  const frames: Frame[] = [];
  let p = 0;
  for (;;) {
    if (buf.length - p < 2) break;
    const b0 = buf[p]!;
    const b1 = buf[p + 1]!;
    if (b1 & 0x80) return { frames, rest: buf.subarray(p), error: 'the server sent a masked frame' };
    let len = b1 & 0x7f;
    let at = p + 2;
    if (len === 126) {
      if (buf.length - p < 4) break;
      len = buf.readUInt16BE(p + 2);
      at = p + 4;
    } else if (len === 127) {
      if (buf.length - p < 10) break;
      len = Number(buf.readBigUInt64BE(p + 2));
      at = p + 10;
    }
    if (buf.length < at + len) break;
    frames.push({ fin: !!(b0 & 0x80), opcode: b0 & 0x0f, payload: buf.subarray(at, at + len) });
    p = at + len;
  }
  return { frames, rest: buf.subarray(p) };
}

/** A raw client socket after a handshake attempt. */
export class RawWs {
  /** The handshake answer, or why there was none. */
  answer: RawAnswer | null = null;
  failure = '';
  readonly frames: Frame[] = [];
  frameError = '';
  ended = false;
  /** Set when the server's close frame arrived. */
  closeCode: number | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private upgraded = false;

  private constructor(readonly sock: net.Socket) {}

  /**
   * Connect and send the handshake. With `resetRightAway` the connection is reset as soon as the
   * request is written (a client vanishing during the upgrade).
   */
  static open(port: number, target: string, headers: Header[], o: { method?: string; resetRightAway?: boolean } = {}): Promise<RawWs> {
    return new Promise((resolve) => {
      const sock = net.connect({ host: '127.0.0.1', port });
      sock.setNoDelay(true);
      const ws = new RawWs(sock);
      const done = () => resolve(ws);
      const timer = setTimeout(() => {
        ws.failure = 'no handshake answer in time';
        done();
      }, 8_000);
      sock.on('connect', () => {
        sock.write(serialize({ method: o.method ?? 'GET', target, headers }), () => {
          if (!o.resetRightAway) return;
          clearTimeout(timer);
          sock.resetAndDestroy();
          ws.failure = 'reset by us';
          done();
        });
      });
      sock.on('data', (d) => {
        ws.buf = Buffer.concat([ws.buf, d]);
        if (!ws.upgraded && !ws.answer) {
          const r = parseResponse(ws.buf, false, 'GET');
          if (r === 'malformed') {
            ws.failure = `malformed handshake answer: ${ws.buf.toString('latin1').slice(0, 200)}`;
            clearTimeout(timer);
            return done();
          }
          if (!r) return;
          ws.answer = r;
          clearTimeout(timer);
          if (r.status === 101) {
            ws.upgraded = true;
            ws.buf = ws.buf.subarray(ws.buf.indexOf('\r\n\r\n') + 4);
          }
          done();
        }
        if (ws.upgraded) ws.drain();
      });
      sock.on('end', () => {
        ws.ended = true;
        if (!ws.answer && !ws.failure) {
          const r = parseResponse(ws.buf, true, 'GET');
          if (r && r !== 'malformed') ws.answer = r;
          else ws.failure = `connection closed before a handshake answer: ${ws.buf.toString('latin1').slice(0, 200)}`;
          clearTimeout(timer);
          done();
        }
        ws.wake();
      });
      sock.on('close', () => {
        ws.ended = true;
        ws.wake();
      });
      sock.on('error', (err: NodeJS.ErrnoException) => {
        ws.ended = true;
        if (!ws.answer && !ws.failure) {
          ws.failure = `socket error ${err.code ?? err.message}`;
          clearTimeout(timer);
          done();
        }
        ws.wake();
      });
    });
  }

  get open(): boolean {
    return this.upgraded && !this.ended;
  }

  private drain(): void {
    const r = parseFrames(this.buf);
    this.buf = r.rest;
    if (r.error) this.frameError = r.error;
    for (const f of r.frames) {
      this.frames.push(f);
      if (f.opcode === 0x8) this.closeCode = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters.splice(0);
    for (const f of w) f();
  }

  send(bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.sock.destroyed) return resolve();
      this.sock.write(bytes, () => resolve());
    });
  }

  /** Wait until `pred` holds (re-checked on every frame and on close), or the timeout passes. */
  until(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve(pred());
      }, timeoutMs);
      const check = () => {
        if (pred()) {
          clearTimeout(timer);
          resolve(true);
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  reset(): void {
    if (this.sock.destroyed) return;
    // After the server's FIN our side has a shutdown pending; an RST then leaves that request
    // unfinished and Node 20 spins forever in its exit cleanup. The server has gone anyway.
    if (this.ended) this.sock.destroy();
    else this.sock.resetAndDestroy();
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/** The headers of a well-formed client handshake. */
export function handshakeHeaders(host: string): Header[] {
  return [
    ['Host', host],
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
    ['Sec-WebSocket-Version', '13'],
  ];
}
