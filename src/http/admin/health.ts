// Liveness and readiness for load balancers and process supervisors: /healthz (or /livez) is the
// process, /readyz whether it can serve (its store and bus are reachable, and it is not draining);
// 503 takes a node out of rotation.
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { HttpDeps } from '../server.ts';

const Readiness = (description: string) =>
  Type.Object(
    {
      status: Type.String({ enum: ['ready', 'not ready'] }),
      checks: Type.Record(Type.String(), Type.String(), { description: 'each backend: "ok", or what is wrong' }),
    },
    { description },
  );

const HEALTHZ = {
  summary: 'liveness: the process answers',
  response: { 200: Type.Object({ status: Type.Literal('ok'), uptimeMs: Type.Integer({ minimum: 0 }) }, { description: 'alive' }) },
};
const READYZ = {
  summary: 'readiness: the store, bus and presence backends are reachable, and the node is not draining',
  response: { 200: Readiness('ready to serve'), 503: Readiness('not ready: take this node out of rotation') },
};

export const adminRoutes: FastifyPluginAsync<{ deps: HttpDeps }> = async (app, { deps }) => {
  const started = Date.now();
  const alive = async () => ({ status: 'ok' as const, uptimeMs: Date.now() - started });
  app.get('/healthz', { schema: HEALTHZ }, alive);
  // The name Kubernetes' probes use: liveness never depends on Redis or on draining.
  app.get('/livez', { schema: HEALTHZ }, alive);
  app.get('/readyz', { schema: READYZ }, async (_req, reply) => {
    const r = await deps.readiness();
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', checks: r.checks });
  });
};
