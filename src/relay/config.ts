// The RTM relay's settings (CONVENE_RTM_RELAY_*): off unless a URL is given. The relay sends every
// message Convene pushes on its socket through Agora's RTM RESTful API too, so that the unmodified
// Agora Meeting apps, which listen on RTM only, hear the service (docs/agora-apps.md).

export interface RtmRelayTarget {
  /** Agora's RESTful API base, e.g. https://api.agora.io (paths /dev/v2/project/… are appended). */
  url: string;
  /** Agora's RESTful customer credentials (HTTP Basic); null: an RTM token from the app's certificate. */
  customerId: string | null;
  customerSecret: string | null;
  /** The RTM user id the messages are sent as; never a member's (members' uids are numbers). */
  sender: string;
  /** Calls per second per App ID, shared by a cluster's nodes (Agora's quota is 500). */
  rate: number;
}

export interface RtmRelayConfig extends RtmRelayTarget {
  /** One call's deadline, ms. */
  timeoutMs: number;
  /** Attempts of a retryable failure (408, 429, 5xx, no answer) before the message is dropped. */
  maxAttempts: number;
  /** First retry's delay, doubled up to backoffMaxMs, jittered. */
  backoffMs: number;
  backoffMaxMs: number;
  /** Rooms of one app relayed at once by one node (each room one message at a time). */
  concurrency: number;
  /** Per-app settings that differ from the above (`off`: this app is not relayed). */
  apps: Record<string, Partial<RtmRelayTarget> | 'off'>;
}

export interface ConfigReader {
  str(name: string): string | undefined;
  int(name: string, def: number, min: number, max: number): number;
  problems: string[];
}

/** An RTM user id as Agora's RESTful API takes it: 1-64 printable ASCII characters, not all digits. */
const SENDER = /^(?!\d+$)[\x21-\x7e]{1,64}$/;
const CUSTOMER_ID = /^[^:\s]{1,128}$/;
const URL_RE = /^https?:\/\/[^\s/]+(\/\S*)?$/;

export function readRtmRelay(r: ConfigReader): RtmRelayConfig | null {
  const url = r.str('CONVENE_RTM_RELAY_URL');
  const given = ['CUSTOMER_ID', 'CUSTOMER_SECRET', 'SENDER', 'RATE', 'APPS'].filter((k) => r.str(`CONVENE_RTM_RELAY_${k}`) !== undefined);
  if (url === undefined) {
    if (given.length > 0) r.problems.push(`CONVENE_RTM_RELAY_${given[0]} needs CONVENE_RTM_RELAY_URL (the relay is off without it)`);
    return null;
  }
  const config: RtmRelayConfig = {
    url: url.replace(/\/+$/, ''),
    customerId: r.str('CONVENE_RTM_RELAY_CUSTOMER_ID') ?? null,
    customerSecret: r.str('CONVENE_RTM_RELAY_CUSTOMER_SECRET') ?? null,
    sender: r.str('CONVENE_RTM_RELAY_SENDER') ?? 'convene',
    rate: r.int('CONVENE_RTM_RELAY_RATE', 500, 1, 1_000_000),
    timeoutMs: r.int('CONVENE_RTM_RELAY_TIMEOUT_MS', 5_000, 100, 60_000),
    maxAttempts: r.int('CONVENE_RTM_RELAY_MAX_ATTEMPTS', 20, 1, 1000),
    backoffMs: r.int('CONVENE_RTM_RELAY_BACKOFF_MS', 200, 1, 60_000),
    backoffMaxMs: r.int('CONVENE_RTM_RELAY_BACKOFF_MAX_MS', 10_000, 1, 600_000),
    concurrency: r.int('CONVENE_RTM_RELAY_CONCURRENCY', 64, 1, 1024),
    apps: {},
  };
  if (!URL_RE.test(url)) r.problems.push('CONVENE_RTM_RELAY_URL: must be an http:// or https:// URL, e.g. https://api.agora.io');
  checkTarget(config, 'CONVENE_RTM_RELAY_', r.problems);
  if (config.backoffMaxMs < config.backoffMs) r.problems.push('CONVENE_RTM_RELAY_BACKOFF_MAX_MS must be at least CONVENE_RTM_RELAY_BACKOFF_MS');
  const apps = r.str('CONVENE_RTM_RELAY_APPS');
  if (apps !== undefined) config.apps = readApps(apps, r.problems);
  return config;
}

function checkTarget(t: Partial<RtmRelayTarget>, where: string, problems: string[]): void {
  if ((t.customerId == null) !== (t.customerSecret == null)) problems.push(`${where}CUSTOMER_ID and ${where}CUSTOMER_SECRET must be given together`);
  if (t.customerId != null && !CUSTOMER_ID.test(t.customerId)) problems.push(`${where}CUSTOMER_ID: must be 1 to 128 characters without ":" or spaces`);
  if (t.sender !== undefined && !SENDER.test(t.sender)) {
    problems.push(`${where}SENDER=${JSON.stringify(t.sender)}: must be 1 to 64 printable ASCII characters and not all digits (members' RTM ids are their uids, numbers)`);
  }
  if (t.url !== undefined && !URL_RE.test(t.url)) problems.push(`${where}URL: must be an http:// or https:// URL`);
  if (t.rate !== undefined && !(Number.isInteger(t.rate) && t.rate >= 1 && t.rate <= 1_000_000)) problems.push(`${where}RATE: must be an integer from 1 to 1000000`);
}

/** CONVENE_RTM_RELAY_APPS: `{"<appId>": "off" | {"customerId","customerSecret","sender","url","rate"}}`. */
function readApps(text: string, problems: string[]): RtmRelayConfig['apps'] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    problems.push('CONVENE_RTM_RELAY_APPS: must be a JSON object, e.g. {"<appId>":"off"} or {"<appId>":{"customerId":"…","customerSecret":"…"}}');
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    problems.push('CONVENE_RTM_RELAY_APPS: must be a JSON object keyed by App ID');
    return {};
  }
  const out: RtmRelayConfig['apps'] = {};
  const known = new Set(['customerId', 'customerSecret', 'sender', 'url', 'rate']);
  for (const [appId, v] of Object.entries(parsed as Record<string, unknown>)) {
    const where = `CONVENE_RTM_RELAY_APPS[${appId}].`;
    if (v === 'off') {
      out[appId] = 'off';
      continue;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      problems.push(`${where}: must be "off" or an object`);
      continue;
    }
    const o = v as Record<string, unknown>;
    const unknown = Object.keys(o).filter((k) => !known.has(k));
    if (unknown.length > 0) problems.push(`${where}${unknown[0]}: unknown setting (known: ${[...known].join(', ')})`);
    const wrong = Object.entries(o).find(([k, x]) => known.has(k) && (k === 'rate' ? typeof x !== 'number' : typeof x !== 'string'));
    if (wrong) {
      problems.push(`${where}${wrong[0]}: must be a ${wrong[0] === 'rate' ? 'number' : 'string'}`);
      continue;
    }
    const t = o as Partial<RtmRelayTarget>;
    checkTarget(t, where, problems);
    out[appId] = { ...t, ...(t.url ? { url: t.url.replace(/\/+$/, '') } : {}) };
  }
  return out;
}

/** The settings that apply to one app: null when it is not relayed. */
export function relayTargetFor(config: RtmRelayConfig, appId: string): RtmRelayTarget | null {
  const own = config.apps[appId];
  if (own === 'off') return null;
  const t: RtmRelayTarget = { url: config.url, customerId: config.customerId, customerSecret: config.customerSecret, sender: config.sender, rate: config.rate, ...own };
  // Credentials of the app's own replace the server's together, never one of the pair.
  if (own?.customerId) t.customerSecret = own.customerSecret ?? null;
  return t;
}
