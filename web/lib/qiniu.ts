// Qiniu request signing in the browser (src/tokens/qiniu.ts, docs/qiniu-api.md §2): HMAC-SHA1 with
// Web Crypto over "METHOD PATH?QUERY\nHost: HOST\nContent-Type: TYPE\n\nBODY". The secret key stays
// in this page: it signs, it is never sent.
const CONTENT_TYPE = 'application/json';

export class QiniuError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function webCryptoAvailable(): boolean {
  return typeof crypto !== 'undefined' && !!crypto.subtle;
}

function urlsafeBase64(bytes: ArrayBuffer): string {
  let bin = '';
  for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_');
}

export async function sign(secretKey: string, data: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey('raw', enc.encode(secretKey), { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
  return urlsafeBase64(await crypto.subtle.sign('HMAC', key, enc.encode(data)));
}

export class QiniuClient {
  constructor(
    readonly accessKey: string,
    private readonly secretKey: string,
  ) {}

  async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const text = body === undefined ? '' : JSON.stringify(body);
    // The Host the browser sends is this page's.
    const data = `${method} ${path}\nHost: ${location.host}\nContent-Type: ${CONTENT_TYPE}\n\n${text}`;
    const res = await fetch(path, {
      method,
      headers: { Authorization: `Qiniu ${this.accessKey}:${await sign(this.secretKey, data)}`, 'Content-Type': CONTENT_TYPE },
      body: text || undefined,
    });
    const answer = (await res.json().catch(() => ({}))) as { error?: string; reason?: string };
    if (!res.ok) throw new QiniuError(res.status, [answer.error, answer.reason].filter(Boolean).join(': ') || `HTTP ${res.status}`);
    return answer as T;
  }
}
