// Load-test pieces shared by the fairness and hygiene tests: keep-alive Agora calls that do not
// queue behind one another, a child server's resident memory, raw WebSocket upgrades.
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface AgoraCreds {
  appId: string;
  customerId: string;
  customerSecret: string;
}

export type AgoraCall = (
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  token?: string,
  via?: http.Agent,
) => Promise<{ code: number; msg: string; data: any }>;

/** Agora room-API calls through `agent` (or another agent per call), answers parsed. */
export function agoraCaller(url: string, creds: AgoraCreds, agent: http.Agent): AgoraCall {
  const auth = `Basic ${Buffer.from(`${creds.customerId}:${creds.customerSecret}`).toString('base64')}`;
  return (method, path, body, token, via = agent) =>
    new Promise((resolve, reject) => {
      const text = body === undefined ? '' : JSON.stringify(body);
      const req = http.request(
        `${url}/apps/${creds.appId}/v1/room${path}`,
        {
          method,
          agent: via,
          headers: { authorization: auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...(token ? { token } : {}) },
        },
        (res) => {
          let out = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (out += d));
          res.on('end', () => {
            try {
              resolve(JSON.parse(out));
            } catch (err) {
              reject(new Error(`not JSON (${res.statusCode}): ${out.slice(0, 200)}`, { cause: err }));
            }
          });
        },
      );
      req.on('error', reject);
      req.end(text);
    });
}

/** Run `task(i)` for i in [0, n) with at most `concurrency` at once. */
export async function inParallel(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

/** Resident memory of a process (VmRSS), bytes. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/**
 * A WebSocket upgrade on a raw TCP socket, resolved once the 101 head is in: the caller then reads
 * the frames itself, or never (`pause()`), as a client stuck behind a slow link would.
 */
export async function rawUpgrade(port: number, path: string, headers: Record<string, string> = {}): Promise<{ sock: net.Socket; head: string; rest: Buffer }> {
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => resolve());
    sock.once('error', reject);
  });
  sock.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') +
      '\r\n',
  );
  let buf: Buffer = Buffer.alloc(0);
  for (;;) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      sock.once('data', resolve);
      sock.once('close', () => resolve(null));
    });
    if (chunk === null) throw new Error(`closed during the handshake: ${buf.toString('latin1')}`);
    buf = Buffer.concat([buf, chunk]);
    const end = buf.indexOf('\r\n\r\n');
    if (end >= 0) {
      sock.removeAllListeners('data');
      return { sock, head: buf.toString('latin1', 0, end), rest: buf.subarray(end + 4) };
    }
  }
}

export interface Frame {
  opcode: number;
  payload: Buffer;
}

/** Unmasked server frames from a byte stream (no fragmentation: the server sends whole messages). */
export function frameReader(onFrame: (f: Frame) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      onFrame({ opcode: buf[0]! & 0x0f, payload: buf.subarray(off, off + len) });
      buf = buf.subarray(off + len);
    }
  };
}
