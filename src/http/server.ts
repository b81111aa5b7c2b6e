// The HTTP server: the root of the plugin tree. Each API is an encapsulated plugin with its own
// parsers and its own error and not-found handlers, so an answer's envelope follows the route
// that served it; only failures before routing are placed by prefix (see scopes.ts).
import { createServer, type ServerOptions } from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyServerFactory } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../config.ts';
import type { MeetingService } from '../service/meeting.ts';
import type { NodeOperations } from '../ops/nodes.ts';
import type { AppRegistry } from '../service/apps.ts';
import type { AgoraTokens } from '../tokens/agora.ts';
import type { BoardSigner } from './conf/views.ts';
import type { RateLimiter } from '../limits/limiter.ts';
import { agoraApi } from './conf/api.ts';
import { intKeyword } from './schema.ts';
import { parseQuery } from './query.ts';
import { malformedRequestHandler, unroutedAnswer, writeUnrouted } from './unrouted.ts';
import { adminRoutes } from './admin/health.ts';
import { qiniuRoutes } from './qiniu/routes.ts';
import { ConnectionGuard, trustProxyFrom } from './connections.ts';
import { envelopeOf } from './scopes.ts';
import { AgoraError, Code } from './conf/codes.ts';
import { QiniuError } from './qiniu/errors.ts';
import { qiniuEarlyAuth } from './qiniu/early.ts';
import { registerDocs, registerOpenApi } from './openapi.ts';
import { registerWeb } from './web.ts';
import { metricsRoutes } from './admin/metrics.ts';
import { loggerOptions, REQUEST_ID_HEADER, RequestLog, requestId } from './logging.ts';
import type { ConveneMetrics } from '../ops/metrics.ts';
import { roomInfoFront, type RoomInfoFront } from './conf/room-info.ts';

export interface HttpDeps {
  config: Pick<Config, 'corsOrigin' | 'bodyLimit' | 'logLevel' | 'boardProvider' | 'qiniu' | 'rates' | 'limits' | 'webhooks'>;
  meeting: MeetingService;
  apps: AppRegistry;
  agoraTokens: AgoraTokens;
  /** Signs the boardToken of a member: the built-in board's, or Netless room tokens (CONVENE_BOARD_PROVIDER). */
  boardTokens: BoardSigner;
  /** Rate-limit counters (config.rates says how many). */
  limiter: RateLimiter;
  /** Whether the store, bus and presence backends are reachable now (for /readyz). */
  readiness: () => Promise<Readiness>;
  /** The per-address connection cap, shared with the realtime gateway; built from config.limits if absent. */
  connections?: ConnectionGuard;
  /** Served at GET /metrics; none: no such route (CONVENE_METRICS=off). */
  metrics?: ConveneMetrics;
  /** The app whose client credentials the meeting page gets from /config.json; none: it asks (CONVENE_WEB_APP=off). */
  webAppId?: string;
  /** The deployment's nodes, for operator keys on the server API; none: no such routes. */
  nodes?: NodeOperations;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, 'ok' | string>;
}

export type Server = FastifyInstance;

export function ok(data: unknown) {
  return { code: 0, msg: 'Success', data };
}

export async function buildServer(deps: HttpDeps): Promise<Server> {
  const limits = deps.config.limits;
  const connections = deps.connections ?? new ConnectionGuard(limits.maxConnectionsPerIp, trustProxyFrom(limits.trustProxy));
  const requestTimeout = limits.requestTimeout * 1000;
  const front = roomInfoFront(deps, connections);
  const app = Fastify({
    // Room info is answered before Fastify when the request is plain (conf/room-info.ts).
    serverFactory: serverWith(front),
    logger: loggerOptions(deps.config.logLevel),
    // One line per answered request, with the route pattern, never the URL as sent (logging.ts).
    logController: new RequestLog(),
    genReqId: requestId,
    bodyLimit: deps.config.bodyLimit,
    // A request (head and body) not in within this is cut off with a 408 (unrouted.ts), whoever sends it.
    requestTimeout,
    // A connection silent this long in the middle of a request (e.g. not reading its answer) is dropped;
    // between requests the keep-alive timeout (Fastify's 72 s, above common load balancers' 60 s) applies.
    connectionTimeout: Math.max(60_000, 2 * requestTimeout),
    http: {
      requestTimeout,
      headersTimeout: Math.min(requestTimeout, 60_000),
      // How often Node looks for requests past their deadline: the cut-off comes at most this late
      // (an eighth of the timeout, 1 s at most: 250 ms for 2 s, 1 s for the default 30 s).
      connectionsCheckingInterval: Math.min(1_000, Math.max(100, Math.floor(requestTimeout / 8))),
    },
    // req.ip is the client's address as the trusted proxies forward it (CONVENE_TRUST_PROXY).
    trustProxy: connections.trust ?? false,
    routerOptions: {
      maxParamLength: 512,
      querystringParser: parseQuery,
      // Raw Node objects here, before any plugin is chosen (unrouted.ts).
      onMaxParamLength: (_path, req, res) =>
        writeUnrouted(res, unroutedAnswer(req.url ?? '', 400, 'a path segment is longer than 512 characters', deps.config.corsOrigin)),
    },
    // What the HTTP parser rejects never reaches a route.
    clientErrorHandler: malformedRequestHandler(deps.config.corsOrigin),
    // Router failures (an undecodable URL) happen before any plugin is chosen, and its hooks (CORS) do not run.
    frameworkErrors: (err, req, reply) => {
      reply.hijack();
      writeUnrouted(reply.raw, unroutedAnswer(req.url, 400, err.message, deps.config.corsOrigin));
    },
    ajv: {
      // No silent coercion: integer flags go through the x-int keyword, which states what it accepts.
      customOptions: { coerceTypes: false, allErrors: false },
      plugins: [intKeyword],
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  // Response schemas document (openapi.ts); answers are written as the handlers build them, with
  // every field, as without a schema (a compiled serializer would drop what a schema omits).
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // Before the routes: it collects their schemas as they are registered.
  await registerOpenApi(app);
  app.decorateRequest('answerCode', 0);
  front.log = app.log;

  connections.watch(app.server);
  app.addHook('preClose', (done) => {
    connections.closeUnused();
    done();
  });

  // Callback-style hooks: on the hot read path, an async hook costs a promise per request.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('Access-Control-Allow-Origin', deps.config.corsOrigin);
    // On the raw answer: the Qiniu API writes its answers there itself.
    reply.raw.setHeader(REQUEST_ID_HEADER, req.id);
    if (connections.isRefused(req.raw.socket)) return done(refuseConnection(req.url, reply, connections.refusal));
    if (req.method !== 'OPTIONS') return done();
    reply
      .header('Access-Control-Allow-Headers', 'Authorization, token, Content-Type')
      .header('Access-Control-Allow-Methods', 'GET, POST')
      .header('Access-Control-Max-Age', '600')
      .code(204)
      .send();
  });

  // Outside both APIs: plain JSON.
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err, url: req.url }, 'request failed');
    return reply.code(status).send({ error: status === 500 ? 'internal error' : err.message });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not found' }));

  // The Agora path forms (spec §1), all served alike: /conf/v1/apps/{appId}/room/…,
  // /apps/{appId}/v1/room/…, /scenario/meeting/apps/{appId}/v1/room/…; app-level under /v1 and
  // /scenario/meeting/v1.
  await app.register(agoraApi, { prefix: '/conf', deps, rooms: ['/v1/apps/:appId/room'], apps: [] });
  await app.register(agoraApi, { prefix: '/apps', deps, rooms: ['/:appId/v1/room'], apps: [] });
  await app.register(agoraApi, { prefix: '/scenario', deps, rooms: ['/meeting/apps/:appId/v1/room'], apps: ['/meeting/v1'] });
  await app.register(agoraApi, { prefix: '/v1', deps, rooms: [], apps: [''] });
  await app.register(
    async (v3) => {
      // The signature covers the body, but a request without a usable Authorization is refused before it.
      v3.addHook('onRequest', qiniuEarlyAuth(deps));
      await v3.register(qiniuRoutes, { deps });
    },
    { prefix: '/v3' },
  );
  await app.register(adminRoutes, { deps });
  if (deps.metrics) await app.register(metricsRoutes, { metrics: deps.metrics });
  // GET /openapi.json and /docs: outside both APIs, plain JSON errors like the health routes.
  await registerDocs(app);
  // The meeting page at /, the admin console at /admin and their files (web.ts).
  await registerWeb(app, deps);
  return app;
}

/**
 * Node's HTTP server as Fastify would make it (its timeouts and keep-alive), with room info's
 * front in the request listener.
 */
function serverWith(front: RoomInfoFront): FastifyServerFactory {
  return (fastify, given) => {
    // Fastify hands its options with its defaults filled in.
    const options = given as { http?: ServerOptions; keepAliveTimeout: number; requestTimeout: number; connectionTimeout: number; maxRequestsPerSocket?: number };
    const server = createServer(options.http ?? {}, (req, res) => front.serve(req, res, fastify));
    server.keepAliveTimeout = options.keepAliveTimeout;
    server.requestTimeout = options.requestTimeout;
    server.setTimeout(options.connectionTimeout);
    if (options.maxRequestsPerSocket) server.maxRequestsPerSocket = options.maxRequestsPerSocket;
    return server;
  };
}

/**
 * The answer to a request on a connection over its address's cap, in the envelope of the API asked
 * (each API's error handler writes it); the connection closes after it.
 */
function refuseConnection(url: string, reply: FastifyReply, message: string): Error {
  reply.raw.shouldKeepAlive = false;
  reply.header('connection', 'close').header('retry-after', '1');
  switch (envelopeOf(url)) {
    case 'agora':
      return new AgoraError(Code.rateLimited, message);
    case 'qiniu':
      return new QiniuError(429, 'too many requests', message, 1);
    default:
      return Object.assign(new Error(message), { statusCode: 429 });
  }
}
