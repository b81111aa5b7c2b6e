// The answer rules every request is held to, by the API its path belongs to (DESIGN principle 6:
// errors in the caller's envelope; agora-meeting-v1 §2.3; qiniu-rtc-v3 §1). Each returns the list
// of ways an answer breaks them, empty when it is fine.
import { header, headerCount, type RawAnswer, type RawResult } from './raw.ts';

export type Api = 'agora' | 'qiniu' | 'plain';

/** The API a request-target belongs to, by the spec's path forms (absolute form: its path). */
export function apiOf(target: string): Api {
  let path = target;
  const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target);
  if (abs) path = target.slice(abs[0].length) || '/';
  path = path.split('?')[0]!;
  if (path === '/v3' || path.startsWith('/v3/')) return 'qiniu';
  // Agora room forms (§1) and the app-level endpoints (§4.3), realtime included.
  if (/^\/(conf\/v1\/apps|apps|scenario\/meeting|v1)\//.test(path)) return 'agora';
  return 'plain';
}

export interface Expect {
  /** Agora: the `code`s this request may get. */
  codes?: number[];
  /** Qiniu and plain: the HTTP statuses this request may get. */
  statuses?: number[];
  /** Why (printed with a mismatch). */
  why: string;
}

const QINIU_STATUSES = new Set([200, 400, 401, 403, 404, 413, 612, 615, 616]);
const REQID = /^[A-Za-z0-9_-]{16}$/;

function isJson(a: RawAnswer): boolean {
  return /^application\/json\b/i.test(header(a, 'content-type') ?? '');
}

/** Every answer, whatever the API: never 5xx. */
function common(a: RawAnswer): string[] {
  // 5xx only: Qiniu's own codes (612, 615, 616) are client errors above the usual range.
  return a.status >= 500 && a.status < 600 ? [`HTTP ${a.status}: a server error`] : [];
}

export function checkAgora(a: RawAnswer, method: string, e?: Expect): string[] {
  const p = common(a);
  // The Web client calls cross-origin (§2.2): an answer without this header cannot be read there.
  if (!header(a, 'access-control-allow-origin')) p.push('no Access-Control-Allow-Origin (a cross-origin Web client cannot read the answer)');
  // A preflight gets 204, unless the request is refused as such (then: an error in the envelope).
  if (method === 'OPTIONS' && a.status === 204) return p;
  // The Agora clients read only 200 bodies (§2.3): every answer, error or not, is 200.
  if (a.status !== 200) p.push(`HTTP ${a.status}, not 200 (the Agora envelope is always HTTP 200)`);
  if (method === 'HEAD') return p;
  if (!isJson(a)) p.push(`Content-Type ${JSON.stringify(header(a, 'content-type') ?? null)}, not JSON`);
  const b = a.json as Record<string, unknown> | undefined;
  if (!b || typeof b !== 'object' || Array.isArray(b)) return [...p, 'body is not a JSON object'];
  const keys = Object.keys(b).sort().join(',');
  if (keys !== 'code,data,msg') p.push(`body keys are {${keys}}, not {code,msg,data}`);
  if (typeof b.code !== 'number' || !Number.isInteger(b.code)) return [...p, 'code is not an integer'];
  if (typeof b.msg !== 'string' || b.msg === '') p.push('msg is not a non-empty string');
  if (b.code === 0) {
    if (b.data === null || b.data === undefined) p.push('code 0 without data');
    if (b.msg !== 'Success') p.push(`code 0 with msg ${JSON.stringify(b.msg)}, not "Success"`);
  } else {
    if (b.data !== null) p.push(`error code ${b.code} with non-null data`);
    if (b.code === 500) p.push(`code 500 (internal error): ${String(b.msg)}`);
  }
  if (e?.codes && !e.codes.includes(b.code)) p.push(`code ${b.code}, expected ${e.codes.join(' or ')} (${e.why})`);
  return p;
}

export function checkQiniu(a: RawAnswer, method: string, e?: Expect): string[] {
  const p = common(a);
  // Every answer carries one X-Reqid (§1): the SDKs read it on errors, Python on 200 too.
  const n = headerCount(a, 'x-reqid');
  if (n !== 1) p.push(n === 0 ? 'no X-Reqid header' : `${n} X-Reqid headers`);
  else if (!REQID.test(header(a, 'x-reqid')!)) p.push(`X-Reqid ${JSON.stringify(header(a, 'x-reqid'))} is not 16 base64url characters`);
  if (method === 'OPTIONS' && a.status === 204) return p;
  if (!QINIU_STATUSES.has(a.status)) p.push(`HTTP ${a.status} is not a Qiniu status`);
  if (e?.statuses && !e.statuses.includes(a.status)) p.push(`HTTP ${a.status}, expected ${e.statuses.join(' or ')} (${e.why})`);
  if (method === 'HEAD') return p;
  // The Node SDK JSON.parses every body and crashes its caller on anything else (§1).
  if (!isJson(a)) p.push(`Content-Type ${JSON.stringify(header(a, 'content-type') ?? null)}, not application/json`);
  const b = a.json as Record<string, unknown> | undefined;
  if (b === undefined || b === null || typeof b !== 'object') return [...p, `body is not a JSON object: ${JSON.stringify(a.text.slice(0, 80))}`];
  if (a.status !== 200) {
    if (typeof b.error !== 'string' || b.error === '') p.push('error answer without a non-empty {"error"}');
    // The reason phrase is the error text (§1, DECISION): the Node SDK's room.js reports only it.
    else if (a.reason !== b.error) p.push(`reason phrase ${JSON.stringify(a.reason)} is not the error text ${JSON.stringify(b.error)}`);
  }
  return p;
}

export function checkPlain(a: RawAnswer, method: string, path: string, e?: Expect): string[] {
  const p = common(a);
  if (method === 'OPTIONS' && a.status === 204) return p;
  if (e?.statuses && !e.statuses.includes(a.status)) p.push(`HTTP ${a.status}, expected ${e.statuses.join(' or ')} (${e.why})`);
  if (method === 'HEAD') return p;
  if (path === '/healthz' && method === 'GET' && a.status === 200) {
    if ((a.json as { status?: unknown } | undefined)?.status !== 'ok') p.push('/healthz body is not {"status":"ok"}');
  } else if (a.status >= 400) {
    const b = a.json as { error?: unknown } | undefined;
    if (!isJson(a) || typeof b?.error !== 'string') p.push(`error answer is not JSON {"error"}: ${JSON.stringify(a.text.slice(0, 80))}`);
  }
  return p;
}

/**
 * A request the HTTP parser itself must refuse (malformed framing): any 4xx, or a closed
 * connection, but never a 5xx and never silence.
 */
export function checkProtocol(r: RawResult): string[] {
  if (r.kind === 'answer') {
    // An Agora path gets its failure in the envelope (HTTP 200, code 400), as any Agora error.
    const agoraFailure = r.status === 200 && typeof (r.json as { code?: unknown } | null)?.code === 'number' && (r.json as { code: number }).code !== 0;
    return (r.status >= 400 && r.status < 500) || agoraFailure ? [] : [`HTTP ${r.status} to a malformed request (expected 4xx, an Agora failure envelope, or a close)`];
  }
  if (r.kind === 'closed' || r.kind === 'reset') return [];
  return [`${r.kind}: ${'detail' in r ? r.detail : ''}`];
}

/** The answer rules for one exchange, by API. A missing answer is itself a problem. */
export function checkExchange(r: RawResult, method: string, target: string, e?: Expect): string[] {
  if (r.kind === 'done-reset') return [];
  if (r.kind !== 'answer') return [`no answer (${r.kind}: ${r.detail}${r.partial ? `; got ${JSON.stringify(r.partial.slice(0, 120))}` : ''})`];
  const api = apiOf(target);
  if (api === 'agora') return checkAgora(r, method, e);
  if (api === 'qiniu') return checkQiniu(r, method, e);
  const abs = /^[a-z]+:\/\/[^/]*/i.exec(target);
  return checkPlain(r, method, (abs ? target.slice(abs[0].length) : target).split('?')[0]!, e);
}
