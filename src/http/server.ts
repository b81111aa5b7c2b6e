// The HTTP server: body parsing, validation, CORS and the error envelopes shared by every API.
// Each API answers in its own envelope; the URL decides which one a request gets.
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import sjson from 'secure-json-parse';
import type { Config } from '../config.ts';
import { RuleError } from '../domain/rules.ts';
import type { MeetingService } from '../service/meeting.ts';
import type { AppRegistry } from '../service/apps.ts';
import type { AgoraTokens } from '../tokens/agora.ts';
import type { BoardTokens } from '../tokens/board.ts';
import { AgoraError, Code, RULE_CODES } from './conf/codes.ts';
import { confAppRoutes, confRoomRoutes } from './conf/routes.ts';
import { intKeyword } from './schema.ts';
import { adminRoutes } from './admin/health.ts';
import { qiniuRoutes } from './qiniu/routes.ts';
import { QiniuError, newReqId, sendQiniuError } from './qiniu/errors.ts';

export interface HttpDeps {
  config: Pick<Config, 'corsOrigin' | 'bodyLimit' | 'logLevel' | 'boardProvider' | 'qiniu'>;
  meeting: MeetingService;
  apps: AppRegistry;
  agoraTokens: AgoraTokens;
  boardTokens: BoardTokens;
}

export type Server = FastifyInstance;

/** The path forms of the Agora room API (spec §1), all served alike. */
export const AGORA_ROOM_PREFIXES = ['/conf/v1/apps/:appId/room', '/apps/:appId/v1/room', '/scenario/meeting/apps/:appId/v1/room'];
export const AGORA_APP_PREFIXES = ['/v1', '/scenario/meeting/v1'];

export type Envelope = 'agora' | 'qiniu' | 'plain';

export function envelopeOf(url: string): Envelope {
  if (url.startsWith('/v3/') || url === '/v3') return 'qiniu';
  return /^\/(conf|apps|scenario|v1)\//.test(url) ? 'agora' : 'plain';
}

export function ok(data: unknown) {
  return { code: 0, msg: 'Success', data };
}

export async function buildServer(deps: HttpDeps): Promise<Server> {
  const app = Fastify({
    logger: { level: deps.config.logLevel },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.config.bodyLimit,
    routerOptions: {
      maxParamLength: 512,
      // Raw Node objects here: answer in the caller's envelope by hand.
      onMaxParamLength: (_path, req, res) => {
        const msg = 'invalid argument: a path segment is longer than 512 characters';
        const agora = envelopeOf(req.url ?? '') === 'agora';
        res.statusCode = agora ? 200 : 400;
        res.setHeader('content-type', 'application/json; charset=utf-8');
        if (envelopeOf(req.url ?? '') === 'qiniu') res.setHeader('x-reqid', newReqId());
        res.end(JSON.stringify(agora ? { code: Code.invalid, msg, data: null } : { error: msg }));
      },
    },
    frameworkErrors: (err, req, reply) => {
      const e = Object.assign(new AgoraError(Code.invalid, `invalid argument: ${err.message}`), { statusCode: 400 });
      return sendError(e, req, reply);
    },
    ajv: {
      // No silent coercion: integer flags go through the x-int keyword, which states what it accepts.
      customOptions: { coerceTypes: false, allErrors: false },
      plugins: [intKeyword],
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Clients send `Content-Type: application/json` with no body (spec §2.2): that is `{}`.
  app.removeContentTypeParser('application/json');
  // Bodies are JSON whatever they are labelled (fetch labels string bodies text/plain).
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body: Buffer, done) => {
    parseJsonBody(body, done);
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body: Buffer, done) => {
    parseJsonBody(body, done);
  });

  // Callback-style hooks: on the hot read path, an async hook costs a promise per request.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('Access-Control-Allow-Origin', deps.config.corsOrigin);
    if (req.method !== 'OPTIONS') return done();
    reply
      .header('Access-Control-Allow-Headers', 'Authorization, token, Content-Type')
      .header('Access-Control-Allow-Methods', 'GET, POST')
      .header('Access-Control-Max-Age', '600')
      .code(204)
      .send();
  });
  app.addHook('preValidation', (req, _reply, done) => {
    if (req.body === undefined || req.body === null) req.body = {};
    done();
  });

  app.setErrorHandler((err: unknown, req, reply) => sendError(err as FastifyError | AgoraError | RuleError | QiniuError, req, reply));
  app.setNotFoundHandler((req, reply) => {
    if (envelopeOf(req.url) === 'qiniu') return sendQiniuError(req, reply, new QiniuError(404, 'not found'));
    if (envelopeOf(req.url) === 'agora') {
      return reply.send({ code: Code.notFound, msg: `not supported: ${req.method} ${req.url.split('?')[0]}`, data: null });
    }
    return reply.code(404).send({ error: 'not found' });
  });

  for (const prefix of AGORA_ROOM_PREFIXES) await app.register(confRoomRoutes, { prefix, deps });
  for (const prefix of AGORA_APP_PREFIXES) await app.register(confAppRoutes, { prefix });
  await app.register(qiniuRoutes, { prefix: '/v3', deps });
  await app.register(adminRoutes, { deps });
  return app;
}

function parseJsonBody(body: Buffer, done: (err: Error | null, body?: unknown) => void): void {
  if (body.length === 0) return done(null, {});
  try {
    done(null, sjson.parse(body.toString('utf8'), { protoAction: 'remove', constructorAction: 'remove' }));
  } catch {
    const err = new AgoraError(Code.invalid, 'invalid argument: the request body is not valid JSON') as AgoraError & { statusCode: number };
    err.statusCode = 400;
    done(err);
  }
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

function sendError(err: FastifyError | AgoraError | RuleError | QiniuError, req: FastifyRequest, reply: FastifyReply) {
  if (envelopeOf(req.url) === 'qiniu') return sendQiniuError(req, reply, asQiniuError(err, req));
  if (err instanceof QiniuError) return reply.code(err.status < 600 ? err.status : 400).send({ error: err.message });
  let code: number;
  let msg: string;
  let status = 500;
  if (err instanceof AgoraError) {
    code = err.code;
    msg = err.message;
    status = code === Code.notFound ? 404 : code === Code.forbidden ? 403 : code === Code.session ? 401 : code === Code.credentials ? 401 : 400;
  } else if (err instanceof RuleError) {
    code = RULE_CODES[err.code];
    msg = err.message;
    status = code === Code.notFound ? 404 : code === Code.forbidden ? 403 : code === Code.session ? 401 : 409;
  } else if (err.validation) {
    code = Code.invalid;
    msg = validationMessage(err);
    status = 400;
  } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    code = Code.invalid;
    status = err.statusCode;
    msg =
      err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? `invalid argument: the request body is larger than ${req.routeOptions.bodyLimit ?? 'the limit'} bytes`
        : `invalid argument: ${err.message}`;
  } else {
    req.log.error({ err, url: req.url }, 'request failed');
    code = Code.internal;
    msg = 'internal error';
  }
  // The Agora clients only read bodies of 2xx answers (spec §2.3): the code travels in the body.
  if (envelopeOf(req.url) === 'agora') return reply.code(200).send({ code, msg, data: null });
  return reply.code(status).send({ error: msg });
}

/** Any error on the Qiniu API, in Qiniu's statuses and texts (spec qiniu-rtc-v3 §1.1). */
function asQiniuError(err: FastifyError | AgoraError | RuleError | QiniuError, req: FastifyRequest): QiniuError {
  if (err instanceof QiniuError) return err;
  if (err instanceof RuleError) {
    if (err.code === 'inactive' || err.code === 'ended') return new QiniuError(615, 'room not active');
    if (err.code === 'notFound' || err.code === 'notInRoom') return new QiniuError(612, 'user not found');
    return new QiniuError(400, `invalid args: ${err.message}`);
  }
  const e = err as FastifyError;
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new QiniuError(413, 'request entity too large');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new QiniuError(400, `invalid args: ${e.message}`);
  }
  req.log.error({ err, url: req.url }, 'request failed');
  return new QiniuError(500, 'internal error');
}
