// The Netless whiteboard's settings (CONVENE_NETLESS_*), read when CONVENE_BOARD_PROVIDER=netless:
// the meeting's board is then a Netless (Agora Interactive Whiteboard) room, the board the unmodified
// Agora Meeting apps draw on (docs/operations.md, "Netless whiteboard").

export interface NetlessConfig {
  /** Netless' REST API, e.g. https://api.netless.link (paths /v5/rooms… are appended). */
  url: string;
  /** The whiteboard project's Access Key and Secret Key (Agora Console), which sign every token. */
  ak: string;
  sk: string;
  /** The data centre of the rooms: what the `region` header names (the v1 SDKs join cn-hz). */
  region: string;
  /** One REST call's deadline, ms. */
  timeoutMs: number;
  /** First retry of a failed ban, ms; doubled per attempt up to 5 minutes. */
  retryMs: number;
}

export interface NetlessConfigReader {
  str(name: string): string | undefined;
  int(name: string, def: number, min: number, max: number): number;
  problems: string[];
}

/** Netless' data centres (REST "Room management": the `region` header). */
export const NETLESS_REGIONS = ['cn-hz', 'us-sv', 'sg', 'in-mum', 'eu', 'gb-lon'] as const;
const URL_RE = /^https?:\/\/[^\s/]+(\/\S*)?$/;
const KEY = /^[\x21-\x7e]{1,256}$/;

/** null unless the board provider is netless; then AK and SK are required. */
export function readNetless(r: NetlessConfigReader, provider: string): NetlessConfig | null {
  if (provider !== 'netless') return null;
  const url = r.str('CONVENE_NETLESS_URL') ?? 'https://api.netless.link';
  if (!URL_RE.test(url)) r.problems.push('CONVENE_NETLESS_URL: must be an http:// or https:// URL, e.g. https://api.netless.link');
  const ak = r.str('CONVENE_NETLESS_AK');
  const sk = r.str('CONVENE_NETLESS_SK');
  if (ak === undefined || sk === undefined) {
    r.problems.push("CONVENE_BOARD_PROVIDER=netless needs CONVENE_NETLESS_AK and CONVENE_NETLESS_SK (the whiteboard project's Access Key and Secret Key, Agora Console)");
  } else if (!KEY.test(ak) || !KEY.test(sk)) {
    r.problems.push('CONVENE_NETLESS_AK and CONVENE_NETLESS_SK: must be 1 to 256 printable characters without spaces');
  }
  const region = r.str('CONVENE_NETLESS_REGION') ?? 'cn-hz';
  if (!(NETLESS_REGIONS as readonly string[]).includes(region)) {
    r.problems.push(`CONVENE_NETLESS_REGION=${JSON.stringify(region)}: must be one of ${NETLESS_REGIONS.join(', ')}`);
  }
  return {
    url,
    ak: ak ?? '',
    sk: sk ?? '',
    region,
    timeoutMs: r.int('CONVENE_NETLESS_TIMEOUT_MS', 10_000, 100, 120_000),
    retryMs: r.int('CONVENE_NETLESS_RETRY_MS', 1_000, 1, 3_600_000),
  };
}
