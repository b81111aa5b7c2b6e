// One POST of a JSON body with a deadline, as the outbox's sinks make them (a webhook, an RTM
// relay call): the answer's status, its Retry-After and the start of its body, or why none came.
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';

export interface PostOptions {
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  userAgent: string;
  /** A resolver of the caller's (to refuse some addresses); none: the system's, on a kept-alive agent. */
  lookup?: LookupFunction;
  /** How much of the answer's body is kept (bytes, about); 0: read and dropped. */
  keepBody?: number;
  /** Says what an error of the request is (e.g. the caller's lookup refusing an address). */
  describe?: (err: NodeJS.ErrnoException) => string;
}

export type Answer = { status: number; retryAfter: string | undefined; text: string } | { error: string };

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 256 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 256 }),
};

export function postJson(target: URL, o: PostOptions): Promise<Answer> {
  return new Promise((resolve) => {
    const secure = target.protocol === 'https:';
    const payload = Buffer.from(o.body);
    let settled = false;
    const done = (r: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = (secure ? https : http).request(
      target,
      {
        method: 'POST',
        // A caller's own resolver goes without the shared agent (whose sockets were found by another).
        agent: o.lookup ? false : secure ? agents.https : agents.http,
        ...(o.lookup ? { lookup: o.lookup } : {}),
        headers: { ...o.headers, 'content-type': 'application/json', 'content-length': String(payload.length), 'user-agent': o.userAgent },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const retryAfter = res.headers['retry-after'];
        const keep = o.keepBody ?? 0;
        if (keep === 0) {
          // The answer's body is not wanted: read and dropped so that the connection can be reused.
          res.resume();
          res.on('error', () => {});
          return done({ status, retryAfter, text: '' });
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < keep) chunks.push(c);
          size += c.length;
        });
        res.on('error', () => done({ error: `HTTP ${status}: answer cut off` }));
        res.on('end', () => done({ status, retryAfter, text: Buffer.concat(chunks).toString('utf8').slice(0, keep) }));
      },
    );
    const timer = setTimeout(() => {
      done({ error: `no answer within ${o.timeoutMs} ms` });
      req.destroy();
    }, o.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => done({ error: o.describe?.(err) ?? err.code ?? err.message }));
    req.end(payload);
  });
}
