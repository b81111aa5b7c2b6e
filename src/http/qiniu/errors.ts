// Qiniu answers: HTTP status = the Qiniu code (612, 615, 616 are above Node's usual range, so they
// are written on the raw response), body `{"error": …}`, the error text as the reason phrase, and
// an `X-Reqid` header on every answer (spec qiniu-rtc-v3 §1).
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export class QiniuError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'QiniuError';
  }
}

export const appNotFound = () => new QiniuError(612, 'app not found');
export const userNotFound = () => new QiniuError(612, 'user not found');
export const roomNotActive = () => new QiniuError(615, 'room not active');
export const hubNotMatch = () => new QiniuError(616, 'hub not match');
export const badToken = () => new QiniuError(401, 'bad token');

export function newReqId(): string {
  return randomBytes(12).toString('base64url');
}

declare module 'fastify' {
  interface FastifyRequest {
    qiniuReqId?: string;
  }
}

export function reqIdOf(req: FastifyRequest): string {
  return (req.qiniuReqId ??= newReqId());
}

/** Write a Qiniu answer directly on the socket (statuses ≥ 600 bypass Fastify's range check). */
export function sendQiniu(req: FastifyRequest, reply: FastifyReply, status: number, body: unknown, reason?: string): FastifyReply {
  const json = JSON.stringify(body);
  reply.hijack();
  const res = reply.raw;
  if (!res.headersSent) {
    res.writeHead(status, reason ?? (status === 200 ? 'OK' : 'error'), {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(json),
      'x-reqid': reqIdOf(req),
      'access-control-allow-origin': (reply.getHeader('access-control-allow-origin') as string | undefined) ?? '*',
    });
  }
  res.end(json);
  return reply;
}

export function sendQiniuError(req: FastifyRequest, reply: FastifyReply, err: QiniuError): FastifyReply {
  if (err.status >= 500) req.log.error({ reqId: reqIdOf(req) }, err.message);
  return sendQiniu(req, reply, err.status, { error: err.message }, err.message);
}
