// Netless (Agora Interactive Whiteboard) tokens, minted offline from the project's AK/SK with the
// algorithm Netless publishes (github.com/netless-io/netless-token, the same in every language):
// the fields (role, uuid, ak, nonce, expireAt) as strings, sorted by key, JSON-encoded and signed with
// HMAC-SHA256 (hex) under the SK; `sig` added; the sorted fields URL-encoded as a query string,
// base64url without padding, behind the prefix. Written here rather than taken from the npm
// `netless-token` package: Netless says its code is not published to npm, and that package names no source.
import { createHmac, randomUUID } from 'node:crypto';

/** Lower is mightier (Netless' order): admin may ban rooms; writer may draw; reader only watches. */
export const NetlessRole = { admin: '0', writer: '1', reader: '2' } as const;
export type NetlessRole = (typeof NetlessRole)[keyof typeof NetlessRole];

export const SDK_PREFIX = 'NETLESSSDK_';
export const ROOM_PREFIX = 'NETLESSROOM_';

export interface NetlessKeys {
  ak: string;
  sk: string;
}

function sortedStrings(fields: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(fields).sort()) out[k] = String(fields[k]);
  return out;
}

function queryOf(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
}

/** One token: `lifespanMs` 0 never expires (Netless' convention; Convene always gives one). */
export function mintNetlessToken(
  prefix: string,
  keys: NetlessKeys,
  lifespanMs: number,
  content: { role: NetlessRole; uuid?: string },
  now = Date.now(),
): string {
  const fields: Record<string, string> = { role: content.role, ak: keys.ak, nonce: randomUUID() };
  if (content.uuid !== undefined) fields.uuid = content.uuid;
  if (lifespanMs > 0) fields.expireAt = String(now + lifespanMs);
  const signed = sortedStrings(fields);
  const sig = createHmac('sha256', keys.sk).update(JSON.stringify(signed)).digest('hex');
  return prefix + Buffer.from(queryOf(sortedStrings({ ...signed, sig })), 'utf8').toString('base64url');
}

/** An SDK token (project-wide) for Convene's own calls to the REST API. */
export function sdkToken(keys: NetlessKeys, role: NetlessRole, lifespanMs: number, now = Date.now()): string {
  return mintNetlessToken(SDK_PREFIX, keys, lifespanMs, { role }, now);
}

/** A room token: what a member's whiteboard SDK joins room `uuid` with. */
export function roomToken(keys: NetlessKeys, uuid: string, role: NetlessRole, lifespanMs: number, now = Date.now()): string {
  return mintNetlessToken(ROOM_PREFIX, keys, lifespanMs, { role, uuid }, now);
}

/**
 * The boardToken of a Netless board: a writer room token for the board's room. Writer for everyone:
 * the v1 SDKs cannot join with a reader token, and whether a member may draw is the app's own
 * switch (`isWritable`, from grantBoard and the board's creator), so `draw` does not change it.
 * A room's token is reused while more than half its lifetime remains (room info is a hot read).
 */
export class NetlessRoomTokens {
  private readonly cache = new Map<string, { token: string; exp: number }>();

  constructor(
    private readonly keys: NetlessKeys,
    /** Seconds. */
    private readonly lifetime: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** One token per board, kept: every member's is the same writer token. */
  sign(boardId: string, _userId: string, _draw: boolean, _remember = true): string {
    const now = this.now();
    const hit = this.cache.get(boardId);
    if (hit && hit.exp - now > (this.lifetime * 1000) / 2) return hit.token;
    const token = roomToken(this.keys, boardId, NetlessRole.writer, this.lifetime * 1000, now);
    this.cache.delete(boardId);
    this.cache.set(boardId, { token, exp: now + this.lifetime * 1000 });
    if (this.cache.size > 50_000) this.cache.delete(this.cache.keys().next().value!);
    return token;
  }
}
