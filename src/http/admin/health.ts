// Liveness and readiness for load balancers and process supervisors: /healthz is the process,
// /readyz whether it can serve (its store and bus are reachable); 503 takes a node out of rotation.
import type { FastifyPluginAsync } from 'fastify';
import type { HttpDeps } from '../server.ts';

export const adminRoutes: FastifyPluginAsync<{ deps: HttpDeps }> = async (app, { deps }) => {
  const started = Date.now();
  app.get('/healthz', async () => ({ status: 'ok', uptimeMs: Date.now() - started }));
  app.get('/readyz', async (_req, reply) => {
    const r = await deps.readiness();
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', checks: r.checks });
  });
};
