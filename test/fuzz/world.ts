// What the fuzz knows about the server's state, learned only from its answers: which meeting runs
// under each room key, each member's ids and current token, revoked tokens, created apps, and an
// upper bound of the peer messages each meeting may hold (they leave gaps in a member's seqs).
import { ROOMS, USERS, PASSWORDS } from './gen.ts';
import type { RawRequest, RawResult } from './raw.ts';
import type { Target } from './target.ts';

export interface MemberModel {
  room: number;
  userUuid: string;
  roomId: string | null;
  userId: string | null;
  token: string | null;
  present: boolean;
}

export interface RoomModel {
  uuid: string;
  /** The running meeting's roomId as far as the answers tell. */
  current: string | null;
  /** The password of the running meeting (a new one is created with the room's default). */
  password: string;
  hostUserId: string | null;
  /** A reset hid the outcome of a call on this room: entry expectations are off until checked. */
  uncertain: boolean;
}

export interface Sent {
  /** Position in the run: batch and action index, for the report. */
  where: string;
  label: string;
  req: RawRequest;
  reset?: string;
}

export interface Violation {
  rule: string;
  where: string;
  label: string;
  detail: string;
  request?: string;
  answer?: string;
}

const INSPECTOR = 'fz-inspector';

export class World {
  readonly rooms: RoomModel[] = ROOMS.map((uuid, i) => ({ uuid, current: null, password: PASSWORDS[i]!, hostUserId: null, uncertain: false }));
  /** members[room][user]; the last column is the inspector used by the checks. */
  readonly members: MemberModel[][] = ROOMS.map((_, r) =>
    [...USERS, INSPECTOR].map((userUuid) => ({ room: r, userUuid, roomId: null, userId: null, token: null, present: false })),
  );
  /** Tokens replaced by a later entry of the same user: refused everywhere, exit included. */
  readonly revoked: string[] = [];
  /** userIds of members known to have left. */
  readonly departed: string[] = [];
  readonly createdApps: { appId: string; customerId: string; customerSecret: string }[] = [];
  readonly deletedApps: string[] = [];
  /**
   * roomId → the peer/targeted messages the meeting's log may hold: at most `count` of them, for
   * one of `to` (userIds; null: unknown). They are the only seqs a member's socket may skip.
   */
  readonly peers = new Map<string, { count: number; to: string[] | null; what: string }[]>();
  /** roomId → ended (known from a code-0 end or a 200 close). */
  readonly endedRooms: string[] = [];
  /** roomId → highest seq a socket of ours saw. */
  readonly lastSeq = new Map<string, number>();
  readonly violations: Violation[] = [];
  readonly recent: Sent[] = [];
  requests = 0;
  where = '';
  /** What the invariant checks covered: rooms inspected, members paged, log entries replayed. */
  readonly checked = { rooms: 0, members: 0, sockets: 0, seqs: 0, peerGaps: 0 };
  /** How many requests of each notable shape went out (printed, so that coverage is visible). */
  readonly coverage = new Map<string, number>();

  constructor(readonly target: Target) {}

  get port(): number {
    return this.target.port;
  }

  get keys() {
    return this.target.keys;
  }

  member(room: number, user: number): MemberModel {
    return this.members[room]![user]!;
  }

  inspector(room: number): MemberModel {
    return this.members[room]![USERS.length]!;
  }

  roomOf(roomId: string): number {
    return this.rooms.findIndex((r) => r.current === roomId);
  }

  addPeer(roomId: string | null, count: number, to: (string | null)[] | null, what: string): void {
    if (!roomId || count <= 0) return;
    const list = this.peers.get(roomId) ?? [];
    list.push({ count, to: to && to.every((x) => x !== null) ? (to as string[]) : null, what });
    this.peers.set(roomId, list);
  }

  /** A member got a (new) token: an older one is revoked by the server (spec §4.2 E1). */
  entered(room: number, m: MemberModel, roomId: string, token: string, createdWithPassword: string): void {
    // Replaced within the same meeting: revoked for good. (An old meeting's token may still exit.)
    if (m.token && m.token !== token && m.roomId === roomId) this.revoked.push(m.token);
    const r = this.rooms[room]!;
    if (r.current !== roomId) {
      // A new meeting: nobody else we know of is in it.
      if (r.current) this.endedRooms.push(r.current);
      for (const other of this.members[room]!) if (other !== m && other.roomId !== roomId) other.present = false;
      r.current = roomId;
      r.password = createdWithPassword;
      r.hostUserId = null;
    }
    if (m.roomId !== roomId) m.userId = null;
    m.roomId = roomId;
    m.token = token;
    m.present = true;
  }

  left(room: number, m: MemberModel): void {
    m.present = false;
    if (m.userId) this.departed.push(m.userId);
  }

  ended(room: number): void {
    const r = this.rooms[room]!;
    if (r.current) this.endedRooms.push(r.current);
    r.current = null;
    r.password = PASSWORDS[room]!;
    r.hostUserId = null;
    for (const m of this.members[room]!) if (m.present) this.left(room, m);
  }

  record(sent: Sent): void {
    this.requests++;
    for (const f of features(sent)) this.coverage.set(f, (this.coverage.get(f) ?? 0) + 1);
    this.recent.push(sent);
    if (this.recent.length > 6) this.recent.shift();
  }

  violate(rule: string, label: string, detail: string, sent?: Sent, result?: RawResult): void {
    this.violations.push({
      rule,
      where: sent?.where ?? this.where,
      label,
      detail,
      request: sent ? printRequest(sent) : undefined,
      answer: result ? printResult(result) : undefined,
    });
  }
}

/** The notable shapes of a request, for the coverage table. */
function features(s: Sent): string[] {
  const r = s.req;
  const f: string[] = [s.label.split(':').slice(0, 2).join(':')];
  const h = (n: string) => r.headers.filter(([k]) => k.toLowerCase() === n);
  if (/^[a-z]+:\/\//i.test(r.target) && !r.target.startsWith('ws:')) f.push('shape:absolute-form target');
  if (h('upgrade').length > 0 && !/realtime/.test(r.target)) f.push(`shape:Upgrade ${h('upgrade')[0]![1]} on an ordinary path${/upgrade/i.test(h('connection')[0]?.[1] ?? '') ? ' (Connection: Upgrade)' : ''}`);
  const keys = (r.target.split('?')[1] ?? '').split('&').map((kv) => kv.split('=')[0]).filter(Boolean);
  if (new Set(keys).size !== keys.length) f.push('shape:repeated query parameter');
  for (const n of ['authorization', 'token', 'content-type', 'host', 'x-qiniu-date']) if (h(n).length > 1) f.push(`shape:repeated ${n} header`);
  if (r.body && r.body.length > 0 && h('content-type').length === 0) f.push('shape:body without Content-Type');
  if (r.body && r.body.length > 64 * 1024) f.push('shape:body over 64 KiB');
  if (s.reset) f.push(`reset:${s.reset}`);
  if (r.target.split('?')[0]!.split('/').some((seg) => seg.length > 512)) f.push('shape:path segment over 512');
  if (/%(?![0-9A-Fa-f]{2})|%(C0|E0|FF|00)/.test(r.target)) f.push('shape:percent-encoding junk');
  return f;
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

export function printRequest(s: Sent): string {
  const r = s.req;
  const lines = [`${r.method} ${clip(r.target, 1500)} HTTP/1.1`, ...r.headers.map(([k, v]) => `${k}: ${clip(v, 160)}`)];
  const body = r.body && r.body.length > 0 ? `\n\n${clip(JSON.stringify(r.body.toString('utf8')), 300)} (${r.body.length} bytes)` : '';
  return `${lines.join('\n')}${body}${s.reset ? `\n[connection reset: ${s.reset}]` : ''}`;
}

export function printResult(r: RawResult): string {
  if (r.kind === 'done-reset') return '(reset by us)';
  if (r.kind !== 'answer') return `(${r.kind}: ${r.detail}) ${r.partial ? JSON.stringify(r.partial.slice(0, 200)) : ''}`;
  const hs = r.headers.filter(([k]) => !/^(date|connection|keep-alive)$/i.test(k)).map(([k, v]) => `${k}: ${clip(v, 100)}`);
  return `HTTP ${r.status} ${r.reason}\n${hs.join('\n')}\n\n${clip(r.text, 300)}`;
}
