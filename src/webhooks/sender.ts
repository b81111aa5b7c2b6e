// One delivery attempt: a POST of the signed body with a deadline, to a URL whose address may be
// refused (CONVENE_WEBHOOK_ALLOW_PRIVATE=0: loopback, private, link-local and other non-public
// ranges, checked on the address actually connected to, so a name that resolves to one is refused
// too). Redirects are not followed: anything but a 2xx is a failure, retried later.
import dns from 'node:dns';
import net from 'node:net';
import type { LookupFunction } from 'node:net';
import { postJson } from '../outbox/post.ts';

export interface SendOptions {
  timeoutMs: number;
  allowPrivate: boolean;
}

export type SendResult = { ok: true; status: number } | { ok: false; error: string };

const NOT_PUBLIC = new net.BlockList();
for (const [net4, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) NOT_PUBLIC.addSubnet(net4, bits, 'ipv4');
for (const [net6, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['2001:db8::', 32]] as const) {
  NOT_PUBLIC.addSubnet(net6, bits, 'ipv6');
}

/** Whether `address` (an IP) is outside the public internet: loopback, private, link-local, … */
export function isPrivateAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return NOT_PUBLIC.check(address, 'ipv4');
  if (family !== 6) return true;
  // An IPv4 address written as IPv6 (::ffff:10.0.0.1, ::ffff:a00:1) is judged as that IPv4 address.
  const mapped = /^::ffff:(?:0:)?(.+)$/i.exec(address)?.[1];
  if (mapped) {
    if (net.isIP(mapped) === 4) return NOT_PUBLIC.check(mapped, 'ipv4');
    const m = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(mapped);
    if (m) {
      const hi = parseInt(m[1]!, 16);
      const lo = parseInt(m[2]!, 16);
      return NOT_PUBLIC.check(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, 'ipv4');
    }
  }
  return NOT_PUBLIC.check(address, 'ipv6');
}

/** The host of a URL as a bare address when it is an IP literal (`[::1]` → `::1`), else null. */
export function literalAddress(hostname: string): string | null {
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  return net.isIP(bare) ? bare : null;
}

class RefusedAddress extends Error {}

/** A resolver that refuses names resolving to a non-public address (any of them). */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const list = addresses as dns.LookupAddress[];
    const bad = list.find((a) => isPrivateAddress(a.address));
    if (bad || list.length === 0) {
      return callback(new RefusedAddress(`${hostname} resolves to ${bad?.address ?? 'nothing'}, not a public address (CONVENE_WEBHOOK_ALLOW_PRIVATE=0)`), '', 0);
    }
    if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
};

export async function sendWebhook(url: string, headers: Record<string, string>, body: string, opts: SendOptions): Promise<SendResult> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return { ok: false, error: `not a URL: ${url}` };
  }
  const literal = literalAddress(target.hostname);
  if (!opts.allowPrivate && literal && isPrivateAddress(literal)) {
    return { ok: false, error: `${literal} is not a public address (CONVENE_WEBHOOK_ALLOW_PRIVATE=0)` };
  }
  const answer = await postJson(target, {
    headers,
    body,
    timeoutMs: opts.timeoutMs,
    userAgent: 'Convene-Webhooks/1',
    ...(opts.allowPrivate ? {} : { lookup: publicOnlyLookup }),
    describe: (err) => (err instanceof RefusedAddress ? err.message : (err.code ?? err.message)),
  });
  if ('error' in answer) return { ok: false, error: answer.error };
  return answer.status >= 200 && answer.status < 300 ? { ok: true, status: answer.status } : { ok: false, error: `HTTP ${answer.status}` };
}
