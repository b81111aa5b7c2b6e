// Convene's webhook calls on the server API (docs/qiniu-api.md §4.5), signed and answered like the
// Qiniu calls: an app's endpoints (list, add, remove) and its dead letters (list, resend).
// Registered inside the Qiniu plugin, so its signature check, rate limits and errors apply.
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { App } from '../../store/store.ts';
import { WEBHOOK_EVENT_TYPES } from '../../webhooks/events.ts';
import { deadView, endpointView, WebhookConfigError, WebhookEndpoints } from '../../webhooks/endpoints.ts';
import { QiniuError } from './errors.ts';
import { read } from './fields.ts';
import { qiniuAnswers, QText, SIGNED } from './schemas.ts';
import { checked } from './validate.ts';
import type { QiniuRouteTools } from './tools.ts';

const AppId = Type.String({ description: 'the app' });
const EventTypes = Type.Array(Type.String({ enum: ['*', ...WEBHOOK_EVENT_TYPES], 'x-expect': `an event type: * or one of ${WEBHOOK_EVENT_TYPES.join(', ')}` }), {
  maxItems: 20,
  'x-expect': `a list of event types (* for all, or some of ${WEBHOOK_EVENT_TYPES.join(', ')})`,
  description: 'the event types it wants; absent or empty: all but chat.sent; * : all',
});

const Endpoint = Type.Object({
  id: Type.String({ description: '`wh_…`, or `eventcb` for the endpoint UpdateApp eventCbUrl sets' }),
  url: Type.String(),
  events: Type.Array(Type.String()),
  createdAt: Type.String({ description: 'ISO 8601' }),
});
const NewEndpoint = Type.Object({
  ...Endpoint.properties,
  secret: Type.String({ description: 'the signing key (whsec_…): shown only in this answer' }),
});
const DeadLetter = Type.Object({
  id: Type.String({ description: 'the event id (its webhook-id)' }),
  endpointId: Type.String(),
  type: Type.String(),
  roomId: Type.String(),
  roomUuid: Type.String(),
  seq: Type.Integer(),
  attempts: Type.Integer(),
  lastError: Type.String(),
  deadAt: Type.String({ description: 'ISO 8601' }),
});

const CALLS = {
  list: {
    summary: "Webhooks (Convene): the app's endpoints, without their secrets",
    params: Type.Object({ appId: AppId }),
    response: qiniuAnswers(Type.Object({ webhooks: Type.Array(Endpoint) }), [400, ...SIGNED, 612]),
  },
  add: {
    summary: 'Webhooks (Convene): add an endpoint; the answer shows its secret, once',
    params: Type.Object({ appId: AppId }),
    body: Type.Object({
      url: QText(2048, { min: 1, description: 'http:// or https://' }),
      secret: Type.Optional(QText(256, { description: 'whsec_<base64 of 24 to 64 bytes>, or any text used as raw key bytes; absent: one is made' })),
      events: Type.Optional(EventTypes),
    }),
    response: qiniuAnswers(NewEndpoint, [400, 413, ...SIGNED, 612]),
  },
  remove: {
    summary: 'Webhooks (Convene): remove an endpoint, its pending deliveries and dead letters',
    params: Type.Object({ appId: AppId, endpointId: Type.String({ description: 'the endpoint id' }) }),
    response: qiniuAnswers(Type.Object({}, { additionalProperties: false }), [400, ...SIGNED, 612]),
  },
  dead: {
    summary: "Webhooks (Convene): the app's dead letters, oldest first",
    params: Type.Object({ appId: AppId }),
    querystring: Type.Object({
      endpoint: Type.Optional(Type.String({ description: "only this endpoint's" })),
      limit: Type.Optional(Type.String({ pattern: '^\\d{1,9}$', 'x-expect': 'a number from 1 to 1000', description: 'at most this many (default 100, at most 1000)' })),
    }),
    response: qiniuAnswers(Type.Object({ dead: Type.Array(DeadLetter) }), [400, ...SIGNED, 612]),
  },
  resend: {
    summary: 'Webhooks (Convene): deliver dead letters again (in seq order, attempts reset)',
    params: Type.Object({ appId: AppId }),
    body: Type.Object({
      endpoint: Type.Optional(QText(64, { description: "only this endpoint's" })),
      ids: Type.Optional(
        Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 10_000, 'x-expect': 'a list of at most 10000 event ids', description: 'these; absent: all' }),
      ),
    }),
    response: qiniuAnswers(Type.Object({ resent: Type.Integer() }), [400, 413, ...SIGNED, 612]),
  },
};

export function registerWebhookRoutes(app: FastifyInstance, { deps, ownedApp, body, ok }: QiniuRouteTools): void {
  const endpoints = new WebhookEndpoints({ putApp: (a) => deps.apps.put(a), outbox: deps.apps.webhookOutbox }, { allowPrivate: deps.config.webhooks.allowPrivate });
  const invalid = (err: unknown): never => {
    if (err instanceof WebhookConfigError) throw new QiniuError(400, `invalid args: ${err.message}`);
    throw err;
  };
  const known = (a: App, endpointId: string | undefined) => {
    if (endpointId !== undefined && !(a.webhooks ?? []).some((e) => e.id === endpointId)) throw new QiniuError(612, 'webhook not found');
    return endpointId ?? null;
  };

  app.get<{ Params: { appId: string } }>('/apps/:appId/webhooks', { schema: CALLS.list }, async (req, reply) => {
    const a = await ownedApp(req, req.params.appId);
    return ok(req, reply, { webhooks: endpoints.list(a) });
  });

  app.post<{ Params: { appId: string } }>('/apps/:appId/webhooks', { schema: CALLS.add }, async (req, reply) => {
    const a = await ownedApp(req, req.params.appId);
    const b = body(req);
    const url = read.string(b, 'url', 2048) ?? '';
    const made = await endpoints.add(a, { url, secret: read.string(b, 'secret', 256), events: read.strings(b, 'events', 20, 32) }).catch(invalid);
    return ok(req, reply, { ...endpointView(made), secret: made.secret });
  });

  app.delete<{ Params: { appId: string; endpointId: string } }>('/apps/:appId/webhooks/:endpointId', { schema: CALLS.remove }, async (req, reply) => {
    const a = await ownedApp(req, req.params.appId);
    if (!(await endpoints.remove(a, req.params.endpointId))) throw new QiniuError(612, 'webhook not found');
    return ok(req, reply, {});
  });

  app.get<{ Params: { appId: string } }>('/apps/:appId/webhooks/dead', { schema: CALLS.dead }, async (req, reply) => {
    const a = await ownedApp(req, req.params.appId);
    const q = checked<{ endpoint?: string; limit?: string }>(req, 'querystring', req.query);
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (limit < 1 || limit > 1000) throw new QiniuError(400, 'invalid args: limit must be a number from 1 to 1000');
    const dead = await endpoints.dead(a.appId, known(a, q.endpoint), limit);
    return ok(req, reply, { dead: dead.map(deadView) });
  });

  app.post<{ Params: { appId: string } }>('/apps/:appId/webhooks/dead/resend', { schema: CALLS.resend }, async (req, reply) => {
    const a = await ownedApp(req, req.params.appId);
    const b = body(req);
    const endpoint = known(a, read.string(b, 'endpoint', 64));
    const ids = read.strings(b, 'ids', 10_000, 256) ?? null;
    return ok(req, reply, { resent: await endpoints.resend(a.appId, endpoint, ids) });
  });
}
