// The HTTP server: the root of the plugin tree. Each API is an encapsulated plugin with its own
// parsers and its own error and not-found handlers, so an answer's envelope follows the route
// that served it; only failures before routing are placed by prefix (see scopes.ts).
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../config.ts';
import type { MeetingService } from '../service/meeting.ts';
import type { AppRegistry } from '../service/apps.ts';
import type { AgoraTokens } from '../tokens/agora.ts';
import type { BoardTokens } from '../tokens/board.ts';
import type { RateLimiter } from '../limits/limiter.ts';
import { agoraApi } from './conf/api.ts';
import { intKeyword } from './schema.ts';
import { parseQuery } from './query.ts';
import { malformedRequestHandler, unroutedAnswer, writeUnrouted } from './unrouted.ts';
import { adminRoutes } from './admin/health.ts';
import { qiniuRoutes } from './qiniu/routes.ts';

export interface HttpDeps {
  config: Pick<Config, 'corsOrigin' | 'bodyLimit' | 'logLevel' | 'boardProvider' | 'qiniu' | 'rates'>;
  meeting: MeetingService;
  apps: AppRegistry;
  agoraTokens: AgoraTokens;
  boardTokens: BoardTokens;
  /** Rate-limit counters (config.rates says how many). */
  limiter: RateLimiter;
  /** Whether the store, bus and presence backends are reachable now (for /readyz). */
  readiness: () => Promise<Readiness>;
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
  const app = Fastify({
    logger: { level: deps.config.logLevel },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.config.bodyLimit,
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
  await app.register(qiniuRoutes, { prefix: '/v3', deps });
  await app.register(adminRoutes, { deps });
  return app;
}
