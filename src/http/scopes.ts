// Which API a request belongs to, by the prefixes the APIs are registered under. Routed requests
// get their API's own error handler through Fastify's encapsulation; this table is only asked for
// what fails before routing (an undecodable URL, an over-long path segment).
export type Envelope = 'agora' | 'qiniu' | 'plain';

/** The top-level prefixes of each API (each is one encapsulated plugin). */
export const AGORA_TOP = ['/conf', '/apps', '/scenario', '/v1'] as const;
export const QINIU_TOP = '/v3';

/** The path of a request target in origin form or absolute form (`http://host/path?q`). */
export function pathOf(target: string): string {
  const origin = originForm(target);
  const q = origin.indexOf('?');
  return q < 0 ? origin : origin.slice(0, q);
}

/** `http://host/p?q` → `/p?q`; an origin-form target is returned as it is. */
export function originForm(target: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target);
  if (!m) return target;
  const rest = target.slice(m[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** The authority of an absolute-form target (which replaces Host, RFC 9112 §3.2.2), else null. */
export function authorityOf(target: string): string | null {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(target);
  return m ? m[1]! : null;
}

const under = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}/`);

export function envelopeOf(target: string): Envelope {
  const path = pathOf(target);
  if (under(path, QINIU_TOP)) return 'qiniu';
  return AGORA_TOP.some((p) => under(path, p)) ? 'agora' : 'plain';
}
