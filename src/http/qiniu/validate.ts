// Checking Qiniu requests against their route's schemas, after the signature is verified: the
// signature covers the raw body, so Fastify's own validation (which runs before any preHandler)
// is switched off for the Qiniu routes and the handlers call these checks where they read their
// input. Validators are compiled once, when a route is registered.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { FastifyRequest, FastifySchema, RouteOptions } from 'fastify';
import { QiniuError } from './errors.ts';

export interface QiniuChecks {
  body?: ValidateFunction;
  querystring?: ValidateFunction;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    qiniuChecks?: QiniuChecks;
  }
}

// verbose: each error carries the schema that failed, whose `x-expect` names what is wanted.
const ajv = new Ajv({ allErrors: false, verbose: true, coerceTypes: false, useDefaults: false });
ajv.addVocabulary(['x-expect']);

/** An onRoute hook: compile the route's body and query schemas into its config. */
export function compileChecks(route: RouteOptions): void {
  const schema = route.schema as FastifySchema | undefined;
  if (!schema) return;
  const checks: QiniuChecks = {};
  if (schema.body) checks.body = ajv.compile(schema.body as object);
  if (schema.querystring) checks.querystring = ajv.compile(schema.querystring as object);
  route.config = { ...route.config, qiniuChecks: checks };
}

/** `value` if it passes the route's schema for `part`, else a 400 naming the field. */
export function checked<T>(req: FastifyRequest, part: keyof QiniuChecks, value: unknown): T {
  const validate = req.routeOptions.config.qiniuChecks?.[part];
  // Every route that reads a body or query has a schema for it; one without takes it unchecked.
  if (validate && !validate(value)) throw new QiniuError(400, `invalid args: ${problem(validate.errors ?? [], part)}`);
  return value as T;
}

/** The failure said the way a caller can act on: the field and what it takes. */
function problem(errors: ErrorObject[], part: keyof QiniuChecks): string {
  // Without allErrors, the last error is the outermost one that failed (an anyOf after its branches).
  const e = errors.at(-1);
  if (!e) return `the ${part} is invalid`;
  const at = e.instancePath.slice(1).replace(/\//g, '.');
  if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    const wanted = (e.parentSchema as { properties?: Record<string, { 'x-expect'?: string }> })?.properties?.[missing]?.['x-expect'];
    return `${at ? `${at}.` : ''}${missing} is required${wanted ? ` (${wanted})` : ''}`;
  }
  const wanted = (e.parentSchema as { 'x-expect'?: string } | undefined)?.['x-expect'];
  if (!at) return part === 'body' ? 'the body must be a JSON object' : `the query ${e.message ?? 'is invalid'}`;
  return `${at} ${wanted ? `must be ${wanted}` : (e.message ?? 'is invalid')}`;
}
