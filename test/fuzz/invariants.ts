// The rooms' invariants, checked from outside after every batch (spec agora-meeting-v1 §4.2 E4,
// §7 "exactly one host while anyone is in the room"; DESIGN principle 4: a gap-free event log):
// for each pool room with someone in it, GET room info, every member page, the Qiniu user list
// and realtime sockets replaying the log from seq 0 must all tell the same story.
import WebSocket from 'ws';
import { qiniuAuthorization } from '../../src/tokens/qiniu.ts';
import { PASSWORDS } from './gen.ts';
import { exchange, type RawResult } from './raw.ts';
import { build } from './requests.ts';
import { CLEAN, basicOf, learnInfo, roomPrefix, ruleOf } from './exec.ts';
import { checkExchange } from './envelope.ts';
import type { MemberModel, Sent, World } from './world.ts';

/** One clean, checked request of the checker itself. */
async function call(w: World, label: string, method: string, path: string, headers: [string, string][], body?: unknown): Promise<RawResult> {
  const built = build(
    { method, path, query: [], headers, fields: body === undefined ? null : (body as Record<string, unknown>), host: `127.0.0.1:${w.port}`, hugeBytes: 0 },
    CLEAN,
  );
  const sent: Sent = { where: w.where, label, req: built.req };
  w.record(sent);
  const r = await exchange(w.port, built.req);
  for (const p of checkExchange(r, method, path)) w.violate(ruleOf(p), label, p, sent, r);
  return r;
}

/** A correctly signed Qiniu call with the run's admin key. */
export async function qiniu(w: World, label: string, method: string, path: string, body?: unknown): Promise<RawResult> {
  const raw = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
  const auth = qiniuAuthorization(w.keys.accessKey, w.keys.secretKey, {
    method,
    target: path,
    host: `127.0.0.1:${w.port}`,
    contentType: 'application/json',
    qiniuHeaders: [],
    body: raw,
  });
  return call(w, label, method, path, [['Authorization', auth]], body);
}

const agoraData = (r: RawResult): any => (r.kind === 'answer' && (r.json as any)?.code === 0 ? (r.json as any).data : null);

export async function checkRooms(w: World, round: number): Promise<void> {
  for (let r = 0; r < w.rooms.length; r++) await checkRoom(w, r, round);
}

async function checkRoom(w: World, r: number, round: number): Promise<void> {
  const room = w.rooms[r]!;
  const label = `check:${room.uuid}`;
  const bad = (rule: string, detail: string) => w.violate(`invariant: ${rule}`, label, detail);

  const listed = await qiniu(w, `${label}:ListUser`, 'GET', `/v3/apps/${w.keys.appId}/rooms/${room.uuid}/users`);
  if (listed.kind !== 'answer' || listed.status !== 200) return bad('Qiniu ListUser failed', `HTTP ${listed.kind === 'answer' ? listed.status : listed.kind}`);
  const users = ((listed.json as { users?: { userId: string }[] }).users ?? []).map((u) => u.userId);
  if (new Set(users).size !== users.length) bad('Qiniu ListUser lists a user twice', JSON.stringify(users));
  if (users.length === 0) {
    for (const m of w.members[r]!) m.present = false;
    room.hostUserId = null;
    room.uncertain = false;
    return;
  }

  // A member of ours whose token still works; else the inspector enters (a valid call too).
  const verified: { m: MemberModel; info: any }[] = [];
  for (const m of w.members[r]!) {
    if (verified.length >= 3) break;
    if (!m.token || !users.includes(m.userUuid)) continue;
    const info = await learnInfo(w, r, m, 'client', `${label}:info`, false);
    if (info) verified.push({ m, info });
  }
  if (verified.length === 0) {
    const insp = w.inspector(r);
    for (const password of [room.password, PASSWORDS[r]!, '']) {
      const res = await call(w, `${label}:inspector-entry`, 'POST', roomPrefix('client', w.keys.appId) + '/entry', [['Authorization', basicOf(w)]], {
        roomName: room.uuid,
        roomUuid: room.uuid,
        userName: 'Inspector',
        userUuid: insp.userUuid,
        password,
      });
      const d = agoraData(res);
      if (!d) continue;
      w.entered(r, insp, d.roomId, d.userToken, password);
      const info = await learnInfo(w, r, insp, 'client', `${label}:info`, true);
      if (info) verified.push({ m: insp, info });
      break;
    }
    if (verified.length === 0) return bad('cannot inspect a room with members', `ListUser: ${JSON.stringify(users)}; no token of ours works and the inspector cannot enter`);
    // The inspector joined: the Qiniu list grows by it (unless it was already in).
    if (!users.includes(insp.userUuid)) users.push(insp.userUuid);
  }
  const info = verified[0]!.info;
  const roomId: string = info.room.roomId;
  room.current = roomId;
  room.password = info.room.password;
  room.hostUserId = info.room.hosts?.[0]?.userId ?? null;
  room.uncertain = false;
  for (const m of w.members[r]!) if (m.roomId !== roomId || !users.includes(m.userUuid)) m.present = false;

  // Exactly one host while anyone is in the room (§7), and the counts agree across both APIs.
  const online: number = info.room.onlineUsers;
  if (info.room.state !== 1) bad('a room with members is not running', `state ${info.room.state}`);
  if (online !== users.length) bad('onlineUsers differs from the Qiniu user list', `onlineUsers ${online}, ListUser ${users.length} ${JSON.stringify(users)}`);
  if (!Array.isArray(info.room.hosts) || info.room.hosts.length !== 1) bad('not exactly one host', `room.hosts = ${JSON.stringify(info.room.hosts?.map((h: any) => h.userId))}, onlineUsers ${online}`);
  else if (info.room.hosts[0].role !== 1) bad('the host is not role 1', JSON.stringify(info.room.hosts[0]));
  for (const v of verified.slice(1)) {
    if (v.info.room.onlineUsers !== online || v.info.room.hosts?.[0]?.userId !== info.room.hosts?.[0]?.userId) {
      bad('two members see different rooms', `${JSON.stringify([online, info.room.hosts?.[0]?.userId])} vs ${JSON.stringify([v.info.room.onlineUsers, v.info.room.hosts?.[0]?.userId])}`);
    }
  }

  // Every page, with a small count so that the cursor is exercised (§4.2 E4).
  const token = verified[0]!.m.token!;
  const pageAll = async (role: number | null) => {
    const count = 1 + ((round + r + (role ?? 0)) % 3);
    const ids: string[] = [];
    const roles: number[] = [];
    let total: number | null = null;
    let nextId = '';
    for (let i = 0; i < 120; i++) {
      const q = new URLSearchParams({ count: String(count), ...(role !== null ? { role: String(role) } : {}), ...(nextId ? { nextId } : {}) });
      const res = await call(w, `${label}:page`, 'GET', `${roomPrefix('seed', w.keys.appId)}/${roomId}/user/page?${q}`, [['Authorization', basicOf(w)], ['token', token]]);
      const d = agoraData(res);
      if (!d) return bad('a member page failed', `role ${role}: ${res.kind === 'answer' ? res.text.slice(0, 120) : res.kind}`), null;
      if (total === null) total = d.total;
      else if (d.total !== total) bad('page total changes between pages', `${total} then ${d.total}`);
      if (d.count !== d.list.length) bad('page count differs from its list', `count ${d.count}, ${d.list.length} items`);
      if (d.list.length > count) bad('page longer than count', `${d.list.length} > ${count}`);
      if (d.list.length === 0) return { ids, roles, total: total! };
      // Android loops until an empty page: a non-empty page must never point back to the start.
      if (d.nextId === '' || d.nextId === '0' || d.nextId === nextId) return bad('page cursor does not move forward', `nextId ${JSON.stringify(d.nextId)} after ${JSON.stringify(nextId)}`), null;
      nextId = d.nextId;
      for (const m of d.list) {
        ids.push(m.userId);
        roles.push(m.role);
      }
    }
    return bad('paging never ends', `role ${role}`), null;
  };
  w.checked.rooms++;
  const all = await pageAll(null);
  w.checked.members += all?.ids.length ?? 0;
  const hosts = await pageAll(1);
  const parts = await pageAll(2);
  if (all && hosts && parts) {
    if (new Set(all.ids).size !== all.ids.length) bad('a member is listed twice', JSON.stringify(all.ids));
    if (all.ids.length !== all.total) bad('pages list fewer or more members than total', `${all.ids.length} listed, total ${all.total}`);
    if (all.total !== online) bad('member pages total differs from onlineUsers', `total ${all.total}, onlineUsers ${online}`);
    if (hosts.total !== 1 || hosts.roles.some((x) => x !== 1)) bad('not exactly one member with role 1', `role-1 pages: total ${hosts.total}, roles ${JSON.stringify(hosts.roles)}`);
    if (all.roles.filter((x) => x === 1).length !== 1) bad('not exactly one member with role 1', `roles over all pages: ${JSON.stringify(all.roles)}`);
    if (parts.roles.some((x) => x !== 2)) bad('role-2 page lists a host', JSON.stringify(parts.roles));
    if (hosts.total + parts.total !== all.total) bad('role totals do not add up', `${hosts.total} + ${parts.total} != ${all.total}`);
    const sorted = (xs: string[]) => [...xs].sort().join(',');
    if (sorted([...hosts.ids, ...parts.ids]) !== sorted(all.ids)) bad('role pages and the full page list different members', `${sorted(hosts.ids)} | ${sorted(parts.ids)} vs ${sorted(all.ids)}`);
    if (hosts.ids[0] !== info.room.hosts?.[0]?.userId) bad('the role-1 member is not room.hosts[0]', `${hosts.ids[0]} vs ${info.room.hosts?.[0]?.userId}`);
  }

  // Every member we hold a token for replays the log: the fewer members without a socket, the
  // fewer peer messages can explain a skipped seq.
  const others = w.members[r]!.filter((m) => m.token && m.roomId === roomId && users.includes(m.userUuid) && !verified.some((v) => v.m === m));
  await checkLog(w, r, round, roomId, online, [...verified.map((v) => v.m), ...others], verified.length, label);
}

/** Replay the log from seq 0 on sockets of several members, up to a fence message of our own. */
async function checkLog(w: World, r: number, round: number, roomId: string, online: number, members: MemberModel[], verifiedCount: number, label: string): Promise<void> {
  const room = w.rooms[r]!;
  const bad = (rule: string, detail: string) => w.violate(`invariant: ${rule}`, label, detail);
  const fence = `fence-${round}-${room.uuid}`;
  interface Sock {
    ws: WebSocket;
    who: string;
    userId: string | null;
    msgs: any[];
    done: Promise<boolean>;
    closeCode: number | null;
  }
  const open = (token: string, since: string | null, who: string, userId: string | null): Sock => {
    const q = new URLSearchParams({ token, ...(since !== null ? { since } : {}) });
    const url = `ws://127.0.0.1:${w.port}/${r % 2 ? 'scenario/meeting/' : ''}v1/realtime?${q}`;
    w.record({ where: w.where, label: `${label}:socket`, req: { method: 'GET', target: url, headers: [] } });
    const ws = new WebSocket(url);
    const msgs: any[] = [];
    const sock = { ws, who, userId, msgs, closeCode: null as number | null } as Sock;
    sock.done = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      ws.on('message', (d) => {
        let m: any;
        try {
          m = JSON.parse(d.toString());
        } catch {
          return bad('realtime text frame is not JSON', d.toString().slice(0, 100));
        }
        msgs.push(m);
        if (since === null && m.type === 'snapshot') {
          clearTimeout(timer);
          resolve(true);
        }
        if (m.type === 'server' && m.data?.text === fence) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      ws.on('close', (code) => {
        sock.closeCode = code;
        clearTimeout(timer);
        resolve(false);
      });
      ws.on('error', () => {});
    });
    return sock;
  };
  const all = members.map((m) => open(m.token!, '0', m.userUuid, m.userId));
  const snap = open(members[0]!.token!, null, `${members[0]!.userUuid} (snapshot)`, members[0]!.userId);
  await Promise.all([...all, snap].map((s) => new Promise<void>((res) => (s.ws.readyState === WebSocket.OPEN ? res() : (s.ws.once('open', () => res()), s.ws.once('close', () => res()))))));
  // A broadcast of our own marks the end: everything before it must have reached every socket.
  const sent = await qiniu(w, `${label}:fence`, 'POST', `/v3/apps/${w.keys.appId}/rooms/${room.uuid}/message`, { text: fence, targets: [] });
  if (sent.kind !== 'answer' || sent.status !== 200) {
    bad('the fence message was refused', sent.kind === 'answer' ? `HTTP ${sent.status} ${sent.text.slice(0, 100)}` : sent.kind);
  } else {
    const reachedAll = await Promise.all(all.map((s) => s.done));
    // Tokens not verified just now may have been replaced or revoked (a 44xx close): left out.
    const keep = all.map((s, i) => i < verifiedCount || reachedAll[i] || !(s.closeCode !== null && s.closeCode >= 4400 && s.closeCode < 4500));
    const socks = all.filter((_, i) => keep[i]);
    const reached = reachedAll.filter((_, i) => keep[i]);
    const snapOk = await snap.done;
    if (!snapOk) bad('no snapshot on a connect without since', `member ${snap.who}: got ${JSON.stringify(snap.msgs.map((m) => m.type)).slice(0, 200)}`);
    else {
      const s = snap.msgs.find((m) => m.type === 'snapshot');
      const hosts = (s.data.members as any[]).filter((m) => m.role === 1).length;
      if (s.data.members.length !== online || s.data.room.onlineUsers !== online || hosts !== 1 || s.data.room.hosts?.length !== 1) {
        bad('snapshot disagrees with room info', `snapshot: ${s.data.members.length} members, onlineUsers ${s.data.room.onlineUsers}, ${hosts} with role 1, ${s.data.room.hosts?.length} hosts; room info: ${online} online, 1 host`);
      }
    }
    const channelSets: Set<number>[] = [];
    const union = new Set<number>();
    let S = 0;
    socks.forEach((s, i) => {
      if (!reached[i]) return bad('a socket replaying from seq 0 never got the fence', `member ${s.who}: ${s.msgs.length} messages, last seq ${s.msgs.at(-1)?.seq}`);
      const snapshots = s.msgs.filter((m) => m.type === 'snapshot');
      if (snapshots.length > 0) bad('since=0 got a snapshot though the log reaches back', `member ${s.who}, snapshot seq ${snapshots[0].seq}`);
      let last = 0;
      const channel = new Set<number>();
      for (const m of s.msgs) {
        if (m.type === 'snapshot') continue;
        if (!(m.seq > last)) bad('seqs not strictly increasing', `member ${s.who}: seq ${m.seq} after ${last}`);
        last = m.seq;
        union.add(m.seq);
        if (m.type === 'channel') channel.add(m.seq);
      }
      S = Math.max(S, last);
      channelSets.push(channel);
    });
    // A channel event reaches everyone: the sockets' channel seqs must be the same set.
    for (const c of channelSets.slice(1)) {
      const a = channelSets[0]!;
      const diff = [...a].filter((x) => !c.has(x)).concat([...c].filter((x) => !a.has(x)));
      if (diff.length > 0) bad('channel events missing on some sockets', `seqs ${diff.slice(0, 20).join(',')}`);
    }
    // Seqs nobody saw can only be peer or targeted messages for members not connected here.
    const missing: number[] = [];
    for (let i = 1; i <= S; i++) if (!union.has(i)) missing.push(i);
    const connected = new Set(socks.filter((_, i) => reached[i]).map((s) => s.userId));
    const unexplained = (w.peers.get(roomId) ?? []).filter((p) => p.to === null || p.to.some((id) => !connected.has(id)));
    const bound = unexplained.reduce((n, p) => n + p.count, 0);
    w.checked.sockets += socks.length + 1;
    w.checked.seqs += S;
    w.checked.peerGaps += missing.length;
    if (missing.length > bound) {
      const why = [...new Set(unexplained.map((p) => p.what))].join(', ');
      bad('gaps in the event log', `room ${roomId}: ${missing.length} seqs up to ${S} reached none of ${connected.size} members' sockets (${missing.slice(0, 30).join(',')}${missing.length > 30 ? ',…' : ''}), but at most ${bound} peer/targeted messages went to members without a socket here (${why || 'none'})`);
    }
    if (S > (w.lastSeq.get(roomId) ?? 0)) w.lastSeq.set(roomId, S);
  }
  for (const s of [...all, snap]) s.ws.terminate();
}

