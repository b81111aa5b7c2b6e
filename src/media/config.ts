// The meeting page's own media (src/media/): how many members a room may have for the page to
// connect them with WebRTC directly (a mesh), how fast a member may signal, and the ICE servers
// (STUN/TURN) their browsers are told of. None is needed on a LAN: browsers on one network reach
// each other through their host candidates.
import { createHmac } from 'node:crypto';

/** One ICE server as configured (CONVENE_ICE_SERVERS, a JSON array of these). */
export interface IceServerConfig {
  urls: string[];
  /** Static credentials (a TURN server with fixed users). */
  username?: string;
  credential?: string;
  /**
   * A TURN server's shared secret (coturn's `static-auth-secret`): each member gets credentials of
   * its own that expire (the "TURN REST API": username `<expiry>:<userId>`, credential
   * base64(HMAC-SHA1(secret, username))). Never sent to a browser.
   */
  secret?: string;
  /** Lifetime of minted credentials, seconds (default 86,400). */
  ttl?: number;
}

/** An ICE server as a browser's RTCPeerConnection takes it. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

export interface MediaConfig {
  /** Members a room may have for the page's mesh (CONVENE_WEB_MESH_MAX); 0: no built-in media. */
  meshMax: number;
  /** Signalling messages a member may send per second (a burst of as many passes at once). */
  signalRate: number;
  iceServers: IceServerConfig[];
}

export interface MediaConfigReader {
  str(name: string): string | undefined;
  int(name: string, def: number, min: number, max: number): number;
  problems: string[];
}

const DEFAULT_TTL = 86_400;
const ICE_URL = /^(stun|stuns|turn|turns):[^\s]{1,250}$/;
const FIELDS = new Set(['urls', 'username', 'credential', 'secret', 'ttl']);

export function readMedia(r: MediaConfigReader): MediaConfig {
  return {
    meshMax: r.int('CONVENE_WEB_MESH_MAX', 6, 0, 16),
    signalRate: r.int('CONVENE_SIGNAL_RATE', 50, 1, 10_000),
    iceServers: parseIceServers(r.str('CONVENE_ICE_SERVERS'), r.problems),
  };
}

/** CONVENE_ICE_SERVERS: a JSON array of {urls, username?, credential?} or {urls, secret, ttl?}. */
export function parseIceServers(text: string | undefined, problems: string[]): IceServerConfig[] {
  if (text === undefined || text.trim() === '') return [];
  const fail = (why: string) => (problems.push(`CONVENE_ICE_SERVERS: ${why}`), []);
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    return fail('must be JSON, e.g. [{"urls":"stun:stun.example.com:3478"},{"urls":"turn:turn.example.com:3478","secret":"…"}]');
  }
  if (!Array.isArray(list) || list.length > 16) return fail('must be an array of at most 16 ICE servers');
  const servers: IceServerConfig[] = [];
  for (const [i, s] of list.entries()) {
    const at = `server ${i + 1}`;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) return fail(`${at} must be an object with "urls"`);
    const o = s as Record<string, unknown>;
    const extra = Object.keys(o).find((k) => !FIELDS.has(k));
    if (extra !== undefined) return fail(`${at}: unknown field ${JSON.stringify(extra)} (urls, username, credential, secret, ttl)`);
    const urls = typeof o.urls === 'string' ? [o.urls] : o.urls;
    if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === 'string' && ICE_URL.test(u))) {
      return fail(`${at}: "urls" must be a stun:, stuns:, turn: or turns: URL, or a list of them`);
    }
    const text = (k: string) => o[k] === undefined || (typeof o[k] === 'string' && (o[k] as string).length > 0 && (o[k] as string).length <= 256);
    if (!text('username') || !text('credential') || !text('secret')) return fail(`${at}: username, credential and secret are strings of 1 to 256 characters`);
    if (o.secret !== undefined && (o.username !== undefined || o.credential !== undefined)) {
      return fail(`${at}: either a shared "secret" (credentials minted per member) or a fixed "username" and "credential", not both`);
    }
    if ((o.username === undefined) !== (o.credential === undefined)) return fail(`${at}: "username" and "credential" go together`);
    if (o.ttl !== undefined && (o.secret === undefined || !Number.isSafeInteger(o.ttl) || (o.ttl as number) < 60 || (o.ttl as number) > 7 * 86_400)) {
      return fail(`${at}: "ttl" goes with "secret" and is a number of seconds from 60 to 604800`);
    }
    servers.push({ urls: urls as string[], ...pick(o, ['username', 'credential', 'secret']), ...(o.ttl !== undefined ? { ttl: o.ttl as number } : {}) });
  }
  return servers;
}

/** The ICE servers for one member: minted credentials where a secret is configured. */
export function iceServersFor(servers: IceServerConfig[], userId: string, nowMs: number): IceServer[] {
  return servers.map((s) => {
    if (s.secret === undefined) return { urls: s.urls, ...(s.username !== undefined ? { username: s.username, credential: s.credential } : {}) };
    return { urls: s.urls, ...turnCredentials(s.secret, userId, Math.floor(nowMs / 1000) + (s.ttl ?? DEFAULT_TTL)) };
  });
}

/** The TURN REST API's credentials (coturn `use-auth-secret`): valid until `expiry` (unix seconds). */
export function turnCredentials(secret: string, userId: string, expiry: number): { username: string; credential: string } {
  const username = `${expiry}:${userId}`;
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') };
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) if (typeof o[k] === 'string') out[k] = o[k] as string;
  return out;
}
