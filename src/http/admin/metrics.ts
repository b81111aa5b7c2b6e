// GET /metrics: this node's figures for Prometheus, in its text format. Open like /healthz
// (CONVENE_METRICS=off removes it): the figures are counts and durations, never ids or names.
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { METRICS_CONTENT_TYPE, type ConveneMetrics } from '../../ops/metrics.ts';

const METRICS = {
  summary: "metrics: this node's figures in the Prometheus text format (docs/operations.md#metrics)",
  response: {
    200: {
      description: 'the Prometheus text exposition format, version 0.0.4',
      content: { [METRICS_CONTENT_TYPE]: { schema: Type.String() } },
    },
  },
};

export const metricsRoutes: FastifyPluginAsync<{ metrics: ConveneMetrics }> = async (app, { metrics }) => {
  app.get('/metrics', { schema: METRICS }, async (_req, reply) => reply.type(METRICS_CONTENT_TYPE).send(await metrics.text()));
};
