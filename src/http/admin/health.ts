// Liveness for load balancers and process supervisors.
import type { FastifyPluginAsync } from 'fastify';
import type { HttpDeps } from '../server.ts';

export const adminRoutes: FastifyPluginAsync<{ deps: HttpDeps }> = async (app) => {
  const started = Date.now();
  app.get('/healthz', async () => ({ status: 'ok', uptimeMs: Date.now() - started }));
};
