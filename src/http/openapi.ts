// The OpenAPI 3.1 document, generated from the route schemas (@fastify/swagger), and a docs UI
// served from the package (@fastify/swagger-ui: its assets come from node_modules, no CDN).
// What the route schemas do not say is added here, from what the routes are: the tag of each
// path form, the credentials each route checks, and the integer forms of the `x-int` keyword.
// The document is built on the first request for it, then kept: nothing of it runs at start.
import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import { Type } from 'typebox';
import { AGORA_SHARED_SCHEMAS } from './conf/answers.ts';
import { QINIU_SHARED_SCHEMAS } from './qiniu/schemas.ts';
import { envelopeOf } from './scopes.ts';

export const OPENAPI_PATH = '/openapi.json';
export const DOCS_PREFIX = '/docs';

const APP_LEVEL_TAG = 'Agora client API: app level';
const QINIU_TAG = 'Qiniu server API';
const HEALTH_TAG = 'Health';
const DOCS_TAG = 'Documentation';
const WEB_TAG = 'Web pages';
/** The meeting page, the admin console and the page's configuration (web.ts); their built files are not listed. */
const WEB_PATHS = new Set(['/', '/admin', '/config.json']);

/** The room prefixes, each a tag of its own, in the order the UI shows them. */
const ROOM_FORMS: [prefix: string, description: string][] = [
  ['/apps/{appId}/v1/room', "the clients' form (Android, iOS); the same endpoints are under the other forms"],
  ['/scenario/meeting/apps/{appId}/v1/room', "the clients' form under Agora's production prefix (the Web client)"],
  ['/conf/v1/apps/{appId}/room', "Agora's documented form"],
];
const roomTag = (prefix: string) => `Agora client API: ${prefix}`;

const TAGS = [
  ...ROOM_FORMS.map(([prefix, form]) => ({
    name: roomTag(prefix),
    description: `The room endpoints (docs/agora-api.md §6) at ${prefix}/…: ${form}. Every answer is HTTP 200 with {code, msg, data}.`,
  })),
  { name: APP_LEVEL_TAG, description: 'At /v1/… and /scenario/meeting/v1/…, without credentials (docs/agora-api.md §6.21).' },
  { name: QINIU_TAG, description: 'Qiniu RTC v3 calls, signed (docs/qiniu-api.md). Errors: the Qiniu code as HTTP status, with {"error"}.' },
  { name: HEALTH_TAG, description: 'For load balancers, supervisors and monitoring (docs/operations.md).' },
  { name: DOCS_TAG, description: 'This document; the docs UI is at /docs.' },
  { name: WEB_TAG, description: 'The meeting page and the admin console, served by Convene itself (docs/operations.md#the-web-pages).' },
];

const SECURITY_SCHEMES = {
  agoraBasic: {
    type: 'http',
    scheme: 'basic',
    description: "The app's customer credentials: Authorization: Basic base64(customerId:customerSecret).",
  },
  agoraToken: {
    type: 'apiKey',
    in: 'header',
    name: 'token',
    description: 'The userToken answered by entry (E1).',
  },
  agoraTokenQuery: {
    type: 'apiKey',
    in: 'query',
    name: 'token',
    description: 'The userToken answered by entry, in the query instead of the header.',
  },
  qiniuSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'Authorization',
    description:
      'Qiniu request signing: `Authorization: Qiniu <AccessKey>:<sign>`, sign = URL-safe Base64 (padding kept) of ' +
      'HMAC-SHA1(SecretKey, "<METHOD> <path>[?<query>]\\nHost: <host>[\\nContent-Type: <type>][\\n<X-Qiniu-* headers>]\\n\\n[<body>]"). ' +
      'Checked over the raw request before its body is read as JSON (docs/qiniu-api.md §2). Refused: 401 {"error": "bad token", "reason"}.',
  },
};

type Security = Record<string, string[]>[];

/** The tag of a route, from its path form. */
function tagOf(url: string): string {
  if (url === OPENAPI_PATH) return DOCS_TAG;
  if (WEB_PATHS.has(url)) return WEB_TAG;
  switch (envelopeOf(url)) {
    case 'qiniu':
      return QINIU_TAG;
    case 'agora': {
      // Every room prefix ends in `/room`, which no endpoint path after it contains.
      const end = url.indexOf('/room');
      return end < 0 ? APP_LEVEL_TAG : roomTag(url.slice(0, end + 5).replace(/:(\w+)/g, '{$1}'));
    }
    default:
      return HEALTH_TAG;
  }
}

/** The credentials a route checks (conf/routes.ts identify, qiniu/routes.ts preHandler). */
function securityOf(url: string, route: RouteOptions): Security {
  switch (envelopeOf(url)) {
    case 'qiniu':
      return route.config?.qiniuUnsigned ? [] : [{ qiniuSignature: [] }];
    case 'agora': {
      if (!url.includes('/room')) return [];
      const auth = route.config?.auth ?? 'member';
      if (auth === 'app') return [{ agoraBasic: [] }];
      // An entry may carry a RoomToken in its body instead of the Basic credentials.
      if (auth === 'entry') return [{ agoraBasic: [] }, {}];
      return [
        { agoraBasic: [], agoraToken: [] },
        { agoraBasic: [], agoraTokenQuery: [] },
      ];
    }
    default:
      return [];
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * The forms an `x-int` field takes (http/schema.ts): an integer, an integer string, or a boolean
 * where 0 or 1 is allowed, said in plain JSON Schema for the document's readers and validators.
 */
function intForms(rule: { values?: number[]; min?: number; max?: number }): Json {
  const allows = (n: number) => (rule.values ? rule.values.includes(n) : (rule.min ?? -Infinity) <= n && n <= (rule.max ?? Infinity));
  const int: Record<string, Json> = { type: 'integer' };
  const str: Record<string, Json> = { type: 'string' };
  if (rule.values) {
    int.enum = rule.values;
    str.enum = rule.values.map(String);
  } else {
    if (rule.min !== undefined) int.minimum = rule.min;
    if (rule.max !== undefined) int.maximum = rule.max;
    str.pattern = '^\\s*-?\\d{1,15}\\s*$';
  }
  const forms: Json[] = [int, str];
  if (allows(0) && allows(1)) forms.push({ type: 'boolean' });
  else if (allows(0) || allows(1)) forms.push({ type: 'boolean', enum: [allows(1)] });
  return { anyOf: forms };
}

function withIntForms(node: Json): Json {
  if (Array.isArray(node)) return node.map(withIntForms);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'x-int') {
      Object.assign(out, intForms(v as { values?: number[] }));
      out.description ??= 'an integer; an integer string ("1") or a boolean (true = 1) is accepted too';
    } else out[k] = withIntForms(v);
  }
  return out;
}

/**
 * Both APIs read an empty body as `{}`: a body is required only where a field is (Fastify's
 * documentation marks every body required).
 */
function optionalBodies(doc: Json): Json {
  type Body = { required?: boolean; content: Record<string, { schema?: { required?: string[] } }> };
  const paths = (doc as { paths: Record<string, Record<string, { requestBody?: Body }>> }).paths;
  for (const item of Object.values(paths)) {
    for (const op of Object.values(item)) {
      const body = op.requestBody;
      if (body) body.required = Object.values(body.content).some((media) => (media.schema?.required?.length ?? 0) > 0);
    }
  }
  return doc;
}

/** Before any route: collects the routes' schemas as they are registered. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  // The components the answers refer to by `$id`.
  for (const schema of [...AGORA_SHARED_SCHEMAS, ...QINIU_SHARED_SCHEMAS]) app.addSchema(schema);
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string; description: string };
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Convene',
        version: pkg.version,
        description:
          `${pkg.description}. Every route is listed; the Agora room endpoints appear once per path form (the forms behave ` +
          'alike). Reference: docs/agora-api.md, docs/qiniu-api.md, docs/realtime.md.',
      },
      tags: TAGS,
      components: { securitySchemes: SECURITY_SCHEMES as never },
    },
    // Components are named by their `$id` (AgoraMember, QiniuApp, …), not def-0, def-1.
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    transform: ({ schema, url, route }) => {
      if ((schema as { hide?: boolean } | undefined)?.hide) return { schema, url };
      const documented = { ...(schema ?? {}), tags: [tagOf(url)], security: securityOf(url, route) } as FastifySchema;
      return { schema: documented, url };
    },
    transformObject: (doc) => optionalBodies(withIntForms(('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject) as Json)) as never,
  });
}

/** GET /openapi.json and the docs UI at /docs; after the routes. */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  let text: string | null = null;
  app.get(
    OPENAPI_PATH,
    {
      schema: {
        summary: 'this OpenAPI 3.1 document',
        response: { 200: Type.Object({}, { additionalProperties: true, description: 'the OpenAPI document' }) },
      },
    },
    async (_req, reply) => {
      text ??= JSON.stringify(app.swagger());
      return reply.type('application/json; charset=utf-8').send(text);
    },
  );
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    theme: { title: 'Convene API' },
    uiConfig: { docExpansion: 'none', deepLinking: true, tryItOutEnabled: false },
  });
}
