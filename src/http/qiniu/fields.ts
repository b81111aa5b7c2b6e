// Parsing and checking Qiniu request bodies after the signature is verified (the signature needs
// the raw bytes, so no schema runs before it). JSON, or a form for Create/UpdateApp (Python SDK).
import sjson from 'secure-json-parse';
import { QiniuError } from './errors.ts';

export type Body = Record<string, unknown>;

export function parseBody(raw: Buffer, contentType: string | undefined, allowForm: boolean): Body {
  if (raw.length === 0) return {};
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    if (!allowForm) throw new QiniuError(400, 'invalid args: this call takes a JSON body');
    return Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
  }
  // Both signing rules (Go signs only JSON and form bodies) agree on these two types alone.
  if (type !== 'application/json') {
    throw new QiniuError(400, `invalid args: unsupported Content-Type ${JSON.stringify(type)}: send the body as application/json`);
  }
  let parsed: unknown;
  try {
    parsed = sjson.parse(raw.toString('utf8'), { protoAction: 'remove', constructorAction: 'remove' });
  } catch {
    throw new QiniuError(400, 'invalid args: the body is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new QiniuError(400, 'invalid args: the body must be a JSON object');
  }
  return parsed as Body;
}

/** Typed readers that accept the form encodings (strings) as well as JSON types. */
export const read = {
  string(body: Body, key: string, max: number): string | undefined {
    const v = body[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new QiniuError(400, `invalid args: ${key} must be a string`);
    if (v.length > max) throw new QiniuError(400, `invalid args: ${key} must be at most ${max} characters`);
    return v;
  },
  bool(body: Body, key: string): boolean | undefined {
    const v = body[key];
    if (v === undefined) return undefined;
    if (typeof v === 'boolean') return v;
    if (v === 'True' || v === 'true' || v === '1' || v === 1) return true;
    if (v === 'False' || v === 'false' || v === '0' || v === 0) return false;
    throw new QiniuError(400, `invalid args: ${key} must be a boolean`);
  },
  int(body: Body, key: string, min: number, max: number): number | undefined {
    const v = body[key];
    if (v === undefined) return undefined;
    const n = typeof v === 'string' && /^-?\d{1,15}$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      throw new QiniuError(400, `invalid args: ${key} must be an integer from ${min} to ${max}`);
    }
    return n;
  },
  object(body: Body, key: string): Body | undefined {
    const v = body[key];
    if (v === undefined) return undefined;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new QiniuError(400, `invalid args: ${key} must be an object`);
    return v as Body;
  },
  strings(body: Body, key: string, maxItems: number, maxLength: number): string[] | undefined {
    const v = body[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.length > maxItems || v.some((x) => typeof x !== 'string' || x.length === 0 || x.length > maxLength)) {
      throw new QiniuError(400, `invalid args: ${key} must be a list of at most ${maxItems} non-empty strings`);
    }
    return v as string[];
  },
};
