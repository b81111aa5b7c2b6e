// The Agora API's error handler: every failure on its routes, whatever raised it, is answered as
// HTTP 200 `{code, msg, data: null}` (spec §2.3: the clients read only 2xx bodies).
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { RuleError } from '../../domain/rules.ts';
import { StoreUnavailableError } from '../../store/store.ts';
import { AgoraError, Code, RULE_CODES } from './codes.ts';

export function agoraFailure(code: number, msg: string) {
  return { code, msg, data: null };
}

export function sendAgoraError(err: FastifyError | AgoraError | RuleError | StoreUnavailableError, req: FastifyRequest, reply: FastifyReply) {
  let code: number;
  let msg: string;
  if (err instanceof StoreUnavailableError) {
    // Not the caller's mistake and not a bug: said as retryable, logged below error.
    req.log.warn({ url: req.url, reason: err.message, cause: String(err.cause ?? '') }, 'store unavailable');
    reply.header('retry-after', '1');
    code = Code.unavailable;
    msg = 'service temporarily unavailable (storage unreachable): retry shortly';
  } else if (err instanceof AgoraError) {
    code = err.code;
    msg = err.message;
  } else if (err instanceof RuleError) {
    code = RULE_CODES[err.code];
    msg = err.message;
  } else if (err.validation) {
    code = Code.invalid;
    msg = validationMessage(err);
  } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    code = Code.invalid;
    msg =
      err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? `invalid argument: the request body is larger than ${req.routeOptions.bodyLimit ?? 'the limit'} bytes`
        : `invalid argument: ${err.message}`;
  } else {
    req.log.error({ err, url: req.url }, 'request failed');
    code = Code.internal;
    msg = 'internal error';
  }
  // The request line's level and code (http/logging.ts): the HTTP status of every Agora answer is 200.
  req.answerCode = code;
  return reply.code(200).send(agoraFailure(code, msg));
}

export function sendAgoraNotFound(req: FastifyRequest, reply: FastifyReply) {
  req.answerCode = Code.notFound;
  return reply.code(200).send(agoraFailure(Code.notFound, `not supported: ${req.method} ${req.url.split('?')[0]}`));
}

/** The first validation problem, said the way a caller can act on. */
function validationMessage(err: FastifyError): string {
  const v = err.validation?.[0];
  if (!v) return `invalid argument: ${err.message}`;
  const where = err.validationContext ?? 'body';
  const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (v.keyword === 'required') {
    const field = (v.params as { missingProperty?: string }).missingProperty ?? '';
    return `invalid argument: ${path ? `${path}.` : ''}${field} is required (${where})`;
  }
  if (!path) return `invalid argument: ${where} ${v.message ?? 'is invalid'}`;
  return `invalid argument: ${path} ${v.message ?? 'is invalid'}`;
}
