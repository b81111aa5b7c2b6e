// Qiniu answers: HTTP status = the Qiniu code (612, 615, 616 are above Node's usual range, so they
// are written on the raw response), body `{"error": …}` (plus a `reason` where it helps the
// caller; the SDKs read only `error`), the error text as the reason phrase, and an `X-Reqid`
// header on every answer (spec qiniu-rtc-v3 §1).
import { randomBytes } from 'node:crypto';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { RuleError } from '../../domain/rules.ts';
import { StoreUnavailableError } from '../../store/store.ts';
import { BoardUnavailableError } from '../../service/boards.ts';

export class QiniuError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Why, for a person reading the answer (e.g. which part of the signature check failed). */
    readonly reason?: string,
    /** Seconds after which a retry may pass (429, 503): sent as Retry-After. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'QiniuError';
  }
}

export const appNotFound = () => new QiniuError(612, 'app not found');
export const userNotFound = () => new QiniuError(612, 'user not found');
export const roomNotActive = () => new QiniuError(615, 'room not active');
export const hubNotMatch = () => new QiniuError(616, 'hub not match');
export const badToken = (reason?: string) => new QiniuError(401, 'bad token', reason);

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
export function sendQiniu(req: FastifyRequest, reply: FastifyReply, status: number, body: unknown, reason?: string, retryAfter?: number): FastifyReply {
  const json = JSON.stringify(body);
  reply.hijack();
  const res = reply.raw;
  if (!res.headersSent) {
    res.writeHead(status, reason ?? (status === 200 ? 'OK' : 'error'), {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(json),
      'x-reqid': reqIdOf(req),
      'access-control-allow-origin': (reply.getHeader('access-control-allow-origin') as string | undefined) ?? '*',
      ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}),
    });
  }
  res.end(json);
  return reply;
}

export function sendQiniuError(req: FastifyRequest, reply: FastifyReply, err: QiniuError): FastifyReply {
  // 612/615/616 are answers, not failures: only an internal error is logged as one.
  if (err.status === 500) req.log.error({ qiniuReqId: reqIdOf(req) }, err.message);
  const body: { error: string; reason?: string } = { error: err.message };
  if (err.reason) body.reason = err.reason;
  return sendQiniu(req, reply, err.status, body, err.message, err.retryAfter);
}

/** Any error on the Qiniu API, in Qiniu's statuses and texts (spec qiniu-rtc-v3 §1.1). */
export function asQiniuError(err: FastifyError | RuleError | QiniuError | StoreUnavailableError, req: FastifyRequest): QiniuError {
  if (err instanceof QiniuError) return err;
  if (err instanceof StoreUnavailableError) {
    req.log.warn({ url: req.url, reason: err.message, cause: String(err.cause ?? '') }, 'store unavailable');
    // A meeting's Netless board that could not be made says so (and Netless' own Retry-After).
    if (err instanceof BoardUnavailableError) return new QiniuError(503, 'service unavailable', err.message, err.retryAfterS);
    return new QiniuError(503, 'service unavailable', 'storage unreachable: retry shortly', 1);
  }
  if (err instanceof RuleError) {
    if (err.code === 'inactive' || err.code === 'ended') return new QiniuError(615, 'room not active');
    if (err.code === 'notFound' || err.code === 'notInRoom') return new QiniuError(612, 'user not found');
    return new QiniuError(400, `invalid args: ${err.message}`);
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new QiniuError(413, 'request entity too large');
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return new QiniuError(400, `invalid args: ${err.message}`);
  }
  req.log.error({ err, url: req.url }, 'request failed');
  return new QiniuError(500, 'internal error');
}
