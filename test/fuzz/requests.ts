// Turning a route plus a `Spoil` into the exact bytes that go out: method, path and query junk,
// body mutations, Content-Type, odd headers, absolute-form targets, and where to reset.
import type { BodyMut, Json, Spoil } from './gen.ts';
import type { Header, RawRequest, ResetStage } from './raw.ts';

export interface Base {
  method: string;
  path: string;
  query: [string, string][];
  /** Route headers (Authorization, token, X-Qiniu-*), without Host, Connection or framing. */
  headers: Header[];
  /** The route's JSON body before mutation; null for routes that take none. */
  fields: Record<string, Json> | null;
  host: string;
  /** Size of the padding of a 'huge' body (over the API's body limit). */
  hugeBytes: number;
  /** Encode the fields as a form (Python's CreateApp) rather than JSON. */
  form?: boolean;
}

export interface Built {
  req: RawRequest;
  reset: ResetStage | undefined;
  /** Nothing but the body and the route headers differs from a normal client's request. */
  benign: boolean;
  /** The body is present and is not JSON (so JSON parsing fails before anything else). */
  unparseable: boolean;
  huge: boolean;
  /** The body as parsed, when it parses to an object. */
  parsed: Record<string, unknown> | null;
  contentType: string | undefined;
  body: Buffer;
}

/** A body from fields and a mutation, as text or bytes. */
export function mutateBody(fields: Record<string, Json>, mut: BodyMut, hugeBytes: number): Buffer {
  const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
  const text = (es: [string, Json][]) => `{${es.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`;
  switch (mut.kind) {
    case 'valid':
      return Buffer.from(entries.length ? text(entries) : '');
    case 'drop':
      return Buffer.from(text(entries.filter((_, i) => entries.length === 0 || i !== mut.field % entries.length)));
    case 'extra':
      // Written as text so that keys like __proto__ reach the wire as own keys.
      return Buffer.from(text([...entries, [mut.key, mut.value]]));
    case 'wrong': {
      if (entries.length === 0) return Buffer.from(text([['x', mut.value]]));
      const i = mut.field % entries.length;
      return Buffer.from(text(entries.map(([k, v], j) => [k, j === i ? mut.value : v])));
    }
    case 'raw':
      return 'text' in mut.raw ? Buffer.from(mut.raw.text) : Buffer.from(mut.raw.bytes);
    case 'empty':
      return Buffer.alloc(0);
    case 'huge':
      return Buffer.from(text([...entries, ['pad', 'x'.repeat(hugeBytes)]]));
  }
}

const CONTENT_TYPES: Record<string, string | null> = {
  json: 'application/json',
  none: null,
  text: 'text/plain',
  form: 'application/x-www-form-urlencoded',
  octet: 'application/octet-stream',
  jsonCharset: 'application/json; charset=utf-8',
  junk: 'a/b;;;=',
  dup: 'application/json',
  upper: 'APPLICATION/JSON',
  multipart: 'multipart/form-data; boundary=x',
};

const BENIGN_HEADERS = new Set(['none', 'expect', 'longHeader', 'xff', 'keepAlive', 'chunked', 'h2cBare']);

function chunk(body: Buffer): Buffer {
  if (body.length === 0) return Buffer.from('0\r\n\r\n');
  const half = Math.ceil(body.length / 2);
  const parts = [body.subarray(0, half), body.subarray(half)].filter((p) => p.length > 0);
  return Buffer.concat([...parts.flatMap((p) => [Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]), Buffer.from('0\r\n\r\n')]);
}

/** encodeURIComponent, except that a lone surrogate goes out as the UTF-8 bytes Node makes of it. */
function encode(v: string): string {
  try {
    return encodeURIComponent(v);
  } catch {
    return [...Buffer.from(v, 'utf8')].map((x) => `%${x.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
}

export function queryString(pairs: [string, string][]): string {
  return pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&');
}

export function build(base: Base, s: Spoil): Built {
  const c = s.cut;
  let method = base.method;
  if (s.method === 'wrong') method = base.method === 'GET' ? (c < 0.5 ? 'POST' : 'DELETE') : c < 0.33 ? 'GET' : c < 0.66 ? 'PUT' : 'DELETE';
  else if (s.method === 'HEAD' || s.method === 'OPTIONS') method = s.method;
  else if (s.method === 'odd') method = c < 0.5 ? 'PATCH' : 'PROPFIND';

  let path = base.path;
  switch (s.path) {
    case 'trailingSlash':
      path += '/';
      break;
    case 'doubleSlash':
      path = path.replace(/\/([^/]*)$/, '//$1');
      break;
    case 'dotSegment':
      path = path.replace(/\/([^/]*)$/, '/./$1');
      break;
    case 'encodedId':
      // Percent-encoding plain characters of an id: the same resource once decoded.
      path = path.replace(/\/([A-Za-z0-9_-]{8,})(?=\/|$)/, (_m, id: string) => `/${[...id].map((ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`).join('')}`);
      break;
    case 'upperCase':
      path = path.replace(/^\/[^/]+/, (seg) => seg.toUpperCase());
      break;
    default:
  }

  const pairs = [...base.query];
  let q = queryString(pairs);
  const add = (extra: string) => (q = q ? `${q}&${extra}` : extra);
  switch (s.query) {
    case 'dup':
      if (pairs.length > 0) add(queryString([[pairs[0]![0], c < 0.5 ? pairs[0]![1] : 'other']]));
      else add('a=1&a=2');
      break;
    case 'pct':
      add('x=%ZZ&y=%E0%A4');
      break;
    case 'bare':
      q = q ? `&${q}` : '';
      break;
    case 'amps':
      add('&&=&');
      break;
    case 'long':
      add(`q=${'a'.repeat(3000)}`);
      break;
    case 'array':
      add('a[]=1&a[]=2&b[c]=3');
      break;
    case 'proto':
      add('__proto__=1&constructor=2&hasOwnProperty=3');
      break;
    default:
  }
  const origin = `${path}${q || s.query === 'bare' ? `?${q}` : ''}`;
  const target = s.target === 'absolute' ? `http://${base.host}${origin}` : origin;

  let body = base.fields === null ? Buffer.alloc(0) : mutateBody(base.fields, s.body, base.hugeBytes);
  if (base.form && base.fields && s.body.kind === 'valid') {
    body = Buffer.from(queryString(Object.entries(base.fields).filter(([, v]) => v !== undefined).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])));
  }
  const reset: ResetStage | undefined = s.reset ?? undefined;
  if (reset === 'body' && body.length === 0) body = Buffer.from('{"x":1}');

  const headers: Header[] = [['Host', base.host], ...base.headers];
  const ct = base.form && base.fields && s.body.kind === 'valid' ? 'application/x-www-form-urlencoded' : CONTENT_TYPES[s.ct];
  if (ct) headers.push(['Content-Type', ct]);
  if (s.ct === 'dup') headers.push(['Content-Type', 'text/plain']);
  const chunked = s.header === 'chunked';
  if (chunked) headers.push(['Transfer-Encoding', 'chunked']);
  // The reset-mid-body stage promises more bytes than it will send.
  else if (body.length > 0 || method === 'POST' || method === 'PUT') headers.push(['Content-Length', String(body.length + (reset === 'body' ? 64 : 0))]);
  let connection = 'close';
  switch (s.header) {
    case 'h2c':
      headers.push(['Upgrade', 'h2c'], ['HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA']);
      connection = 'Upgrade, HTTP2-Settings';
      break;
    case 'h2cBare':
      headers.push(['Upgrade', 'h2c']);
      break;
    case 'wsUpgrade':
      headers.push(['Upgrade', 'websocket'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Version', '13']);
      connection = 'Upgrade';
      break;
    case 'expect':
      headers.push(['Expect', '100-continue']);
      break;
    case 'longHeader':
      headers.push(['X-Fuzz', 'a'.repeat(8000)]);
      break;
    case 'dupAuth':
      headers.push(['Authorization', c < 0.5 ? 'Basic eHg6eXk=' : 'Qiniu x:y']);
      break;
    case 'dupToken':
      headers.push(['token', 'junk-token']);
      break;
    case 'dupHost':
      headers.push(['Host', 'evil.example']);
      break;
    case 'xff':
      headers.push(['X-Forwarded-For', '1.2.3.4, junk'], ['X-Forwarded-Host', 'evil.example'], ['Forwarded', 'for=;;']);
      break;
    case 'keepAlive':
      connection = 'keep-alive';
      break;
    default:
  }
  headers.push(['Connection', connection]);

  let parsed: Record<string, unknown> | null = null;
  let unparseable = false;
  if (body.length > 0 && !(base.form && s.body.kind === 'valid')) {
    try {
      // The server's parser (secure-json-parse) drops a leading BOM.
      const v = JSON.parse(body.toString('utf8').replace(/^\ufeff/, '')) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) parsed = v as Record<string, unknown>;
    } catch {
      unparseable = true;
    }
  } else if (body.length === 0) parsed = {};
  const benign = s.method === 'ok' && s.target === 'origin' && (s.path === 'none' || s.path === 'encodedId') && s.query === 'none' && BENIGN_HEADERS.has(s.header);
  return {
    req: { method, target, headers, body: chunked ? chunk(body) : body },
    reset,
    benign,
    unparseable,
    huge: s.body.kind === 'huge',
    parsed,
    contentType: ct ?? undefined,
    body,
  };
}
