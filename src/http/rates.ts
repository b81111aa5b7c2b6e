// The rate limits of both APIs (config.rates), counted by the configured limiter: a refused call is
// answered in its API's envelope with when to retry (the Retry-After header and the message).
import type { FastifyReply } from 'fastify';
import type { HttpDeps } from './server.ts';

export type Rate = 'chat' | 'requests' | 'entriesPerIp' | 'entriesPerApp' | 'qiniuPerIp' | 'qiniuPerKey';

export interface Refusal {
  /** Whole seconds until a retry may pass. */
  retryAfter: number;
  message: string;
}

const WHAT: Record<Rate, string> = {
  chat: 'chat messages from this member',
  requests: 'invitations and applications from this member',
  entriesPerIp: 'entries from this address',
  entriesPerApp: 'entries into this app',
  qiniuPerIp: 'server-API calls from this address',
  qiniuPerKey: 'server-API calls with this access key',
};

/** Count a hit of `rate` on `key`; null when it passes (or the limit is off), else why not. */
export async function overLimit(deps: Pick<HttpDeps, 'config' | 'limiter'>, reply: FastifyReply, rate: Rate, key: string): Promise<Refusal | null> {
  const r = await refusal(deps, rate, key);
  if (r) reply.header('retry-after', String(r.retryAfter));
  return r;
}

/** The same, without an HTTP answer to set Retry-After on (a realtime socket's RoomToken entry). */
export async function refusal(deps: Pick<HttpDeps, 'config' | 'limiter'>, rate: Rate, key: string): Promise<Refusal | null> {
  const limit = deps.config.rates[rate];
  if (limit <= 0) return null;
  const window = deps.config.rates.window;
  const v = await deps.limiter.hit(`${rate}:${key}`, limit, window * 1000);
  if (v.ok) return null;
  const retryAfter = Math.max(1, Math.ceil(v.retryAfterMs / 1000));
  return { retryAfter, message: `too many ${WHAT[rate]}: at most ${limit} per ${window} s; retry in ${retryAfter} s` };
}
