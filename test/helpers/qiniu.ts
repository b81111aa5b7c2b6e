// Driving the unmodified `qiniu` Node SDK against a local Convene (spec qiniu-rtc-v3 §6): the SDK
// hard-codes rtc.qiniuapi.com:80 and uses the global agent, so the global agent is replaced by one
// that connects to 127.0.0.1:<port>. Host header and signature stay exactly as in production.
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
import { qiniuAuthorization } from '../../src/tokens/qiniu.ts';
import { startTestServer } from './server.ts';

const require = createRequire(import.meta.url);
export const qiniu = require('qiniu');

export function routeGlobalHttpTo(port: number): () => void {
  const saved = http.globalAgent;
  const agent = new http.Agent({ keepAlive: false });
  (agent as unknown as { createConnection: unknown }).createConnection = (_o: unknown, onConnect: () => void) =>
    net.connect({ host: '127.0.0.1', port }, onConnect);
  http.globalAgent = agent;
  return () => {
    http.globalAgent = saved;
  };
}

/** Call an SDK function with a node-style callback; resolves with both values, never rejects. */
export function sdk<T = unknown>(fn: (cb: (err: any, res: T) => void) => void): Promise<{ err: any; res: T }> {
  return new Promise((resolve) => fn((err, res) => resolve({ err, res })));
}

export interface RawResponse {
  status: number;
  reason: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
}

/**
 * A raw request with full control of Host, headers, body framing, signed as Qiniu signs it unless
 * `auth` is given (null: no Authorization header).
 */
export function raw(
  port: number,
  opts: {
    method: string;
    path: string;
    body?: string | Buffer;
    contentType?: string | null;
    host?: string;
    headers?: Record<string, string>;
    keys?: { ak: string; sk: string };
    auth?: string | null;
    chunked?: boolean;
  },
): Promise<RawResponse> {
  const body = opts.body === undefined ? Buffer.alloc(0) : Buffer.from(opts.body);
  const host = opts.host ?? 'rtc.qiniuapi.com';
  const contentType = opts.contentType === null ? undefined : (opts.contentType ?? 'application/json');
  const headers: Record<string, string> = { host, ...(opts.headers ?? {}) };
  if (contentType) headers['content-type'] = contentType;
  if (opts.auth !== undefined) {
    if (opts.auth !== null) headers.authorization = opts.auth;
  } else if (opts.keys) {
    const qiniuHeaders = Object.entries(opts.headers ?? {}).filter(([k]) => k.toLowerCase().startsWith('x-qiniu-'));
    headers.authorization = qiniuAuthorization(opts.keys.ak, opts.keys.sk, {
      method: opts.method,
      target: opts.path,
      host,
      contentType,
      qiniuHeaders,
      body,
    });
  }
  if (!opts.chunked) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: opts.method, path: opts.path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode!, reason: res.statusMessage ?? '', headers: res.headers, body: text, json });
      });
    });
    req.on('error', reject);
    if (opts.chunked && body.length > 0) {
      // Two chunks and no Content-Length, as the Node SDK sends its bodies.
      req.write(body.subarray(0, Math.ceil(body.length / 2)));
      req.write(body.subarray(Math.ceil(body.length / 2)));
    }
    req.end(opts.chunked ? undefined : body);
  });
}

/** A test server with the global agent routed to it, its admin keys, and an SDK credential. */
export async function qiniuServer(t: { after: (fn: () => unknown) => void }) {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  const port = Number(new URL(s.url).port);
  const restore = routeGlobalHttpTo(port);
  t.after(async () => {
    restore();
    await s.close();
  });
  const { accessKey, secretKey } = s.bootstrapped;
  return { s, port, cred: new qiniu.Credentials(accessKey, secretKey), keys: { ak: accessKey, sk: secretKey } };
}

/** Open a realtime socket with `token` (a userToken or a RoomToken) and wait for how it closes. */
export async function realtimeClose(baseUrl: string, token: string): Promise<{ code: number; reason: string }> {
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/v1/realtime?token=${encodeURIComponent(token)}`);
  ws.on('error', () => {});
  return new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}
