// A Redis failover under write load, for any deployment with replicas (Sentinel, a Cluster): two
// Convene nodes, 50 writers over 20 rooms (chats, entries, mute-all), members holding sockets on
// both nodes; the primary killed after its replicas lagged. What was acknowledged is then looked
// for in every room's log, and every socket's log is checked for gaps and differences.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callAgora, MeetingClient } from '../../client/agora.ts';
import { spawnServer, type ServerProcess } from './process.ts';
import { clusterEnv } from './redis.ts';
import { FrameLog, until } from './frames.ts';
import { leftTheRoom } from './resuming.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ROOMS = 20;
const WRITERS = 50;

interface Room {
  roomUuid: string;
  roomId: string;
  host: MeetingClient;
  member: MeetingClient;
  sockets: FrameLog[];
  /** Who is in the meeting (userUuid): entered before the load, or entered and acknowledged during it. */
  entered: Set<string>;
  chats: string[];
  /** The mute-all values acknowledged, in order (one writer per room sets them). */
  muteAll: number[];
}

/** A Redis deployment the test kills a primary of: Sentinel's, or a Cluster's master. */
export interface FailoverTarget {
  /** How the Convene nodes reach it (REDIS_SENTINELS…, REDIS_CLUSTER_NODES). */
  env: Record<string, string>;
  /** The primary's replicas stop receiving its writes until resume(): what is written meanwhile is on the primary alone. */
  lag(): Promise<void>;
  resume(): Promise<void>;
  /** SIGKILL of the primary (on a Cluster, of the master of the first room's slot). */
  kill(): Promise<void>;
  /** Resolves once a replica serves in its place. */
  promoted(): Promise<void>;
}

/**
 * Two Convene nodes on `target` under write load (50 writers over 20 rooms, a socket per room on
 * each node), the primary killed after its replicas lagged for 500 ms. → what was acknowledged,
 * what of it is lost, what the sockets got wrong, and how soon writes succeeded on both nodes.
 */
export async function failoverUnderLoad(t: { diagnostic(s: string): void; after(fn: () => Promise<void>): void }, target: FailoverTarget, minReplicas: number) {
  const dir = mkdtempSync(join(tmpdir(), 'convene-failover-'));
  const nodes: ServerProcess[] = [];
  t.after(async () => {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  });
  const creds = { appId: randomBytes(16).toString('hex'), customerId: 'sentinel', customerSecret: randomBytes(12).toString('hex') };
  const keys = { ak: 'sentinel-ak', sk: randomBytes(12).toString('hex') };
  const env: Record<string, string> = {
    ...clusterEnv({ url: '', prefix: 'failover:', dir, creds, keys, graceS: 20, nodeTimeoutS: 5 }),
    ...target.env,
    CONVENE_RATE_CHAT: '0',
    CONVENE_RATE_REQUESTS: '0',
    ...(minReplicas > 0 ? { CONVENE_REDIS_MIN_REPLICAS: String(minReplicas) } : {}),
  };
  delete env.REDIS_URL;
  nodes.push(await spawnServer(env), await spawnServer(env));
  const [A, B] = nodes as [ServerProcess, ServerProcess];
  const optsOf = (n: ServerProcess) => ({ baseUrl: n.url, ...creds });

  const rooms: Room[] = [];
  for (let r = 0; r < ROOMS; r++) {
    const roomUuid = `fo-${r}`;
    const host = new MeetingClient(optsOf(A));
    const { roomId } = await host.enter({ roomName: roomUuid, roomUuid, userName: 'Host', userUuid: `host-${r}` });
    const member = new MeetingClient(optsOf(B));
    await member.enter({ roomName: roomUuid, roomUuid, userName: 'M', userUuid: `m-${r}` });
    const sockets = [new FrameLog(), new FrameLog()];
    await sockets[0]!.open(A, host.userToken);
    await sockets[1]!.open(B, member.userToken);
    rooms.push({ roomUuid, roomId, host, member, sockets, entered: new Set([`host-${r}`, `m-${r}`]), chats: [], muteAll: [] });
  }
  await until(() => rooms.every((r) => r.sockets.every((s) => s.frames.length > 0)), 'snapshots', 10_000);

  // 50 writers: writer w works in room w % 20 and alternates the nodes. The first writer of each
  // room toggles mute-all as the host; the others chat, and every 8th write is a new member's entry.
  let stop = false;
  let acked = 0;
  let refused = 0;
  const lastOk = [0, 0];
  const writers = Array.from({ length: WRITERS }, async (_, w) => {
    const room = rooms[w % ROOMS]!;
    for (let n = 0; !stop; n++) {
      const i = n % 2;
      const node = nodes[i]!;
      try {
        if (w < ROOMS) {
          const value = (n + 1) % 2;
          const r = await callAgora<any>(optsOf(node), 'POST', `/${room.roomId}`, { muteAllAudio: value }, room.host.userToken);
          if (r.code === 0) room.muteAll.push(value);
          else refused++;
          if (r.code === 0) (acked++, (lastOk[i] = Date.now()));
        } else if (n % 8 === 7) {
          const userUuid = `w${w}-${n}`;
          const r = await callAgora<any>(optsOf(node), 'POST', '/entry', { roomName: room.roomUuid, roomUuid: room.roomUuid, userName: 'W', userUuid });
          if (r.code === 0) (room.entered.add(userUuid), acked++, (lastOk[i] = Date.now()));
          else refused++;
        } else {
          const text = `w${w}-${n}`;
          const r = await callAgora<any>(optsOf(node), 'POST', `/${room.roomId}/chat`, { message: text, type: 1 }, room.member.userToken);
          if (r.code === 0) (room.chats.push(text), acked++, (lastOk[i] = Date.now()));
          else refused++;
        }
      } catch {
        refused++;
      }
      await sleep(50);
    }
  });

  try {
    await sleep(1_500);
    return await afterTheKill();
  } finally {
    stop = true;
    await Promise.all(writers);
  }

  async function afterTheKill() {
  const before = acked;
  // The replicas lag for the last 500 ms before the kill: the writes of that time are on the primary
  // alone when it dies (acknowledged without CONVENE_REDIS_MIN_REPLICAS, and lost).
  await target.lag();
  await sleep(500);
  await target.kill();
  const killedAt = Date.now();
  await target.resume();
  await target.promoted();
  t.diagnostic(`a replica promoted ${Date.now() - killedAt} ms after the kill`);
  await until(() => lastOk.every((at) => at > killedAt + 500), 'writes succeed again on both nodes', 30_000);
  const resumedMs = Math.max(...lastOk) - killedAt;
  for (const n of nodes) {
    const text = await fetch(`${n.url}/metrics`).then((r) => r.text());
    assert.ok(Number(/^convene_store_reconnections_total (\d+)/m.exec(text)?.[1]) >= 1, 'the failover shows in convene_store_reconnections_total');
  }
  await sleep(1_000);
  stop = true;
  await Promise.all(writers);
  t.diagnostic(`${acked} writes acknowledged (${before} before the kill), ${refused} refused or failed; writes on both nodes again within ${resumedMs} ms of the kill`);

  // Every open socket catches up to its room's last seq; then each room's logs are compared.
  const checks = await Promise.all(rooms.map((room) => checkRoom(room, A, B, creds, keys)));
  const lost = checks.flatMap((c) => c.lost);
  const problems = checks.flatMap((c) => c.problems);
  return { acked, lost: [...new Set(lost)], problems, resumedMs };
  }
}

/** What a room's log lacks of the acknowledged writes (lost), and what its sockets got wrong (problems). */
async function checkRoom(room: Room, A: ServerProcess, B: ServerProcess, creds: { appId: string; customerId: string; customerSecret: string }, keys: { ak: string; sk: string }) {
  const lost: string[] = [];
  const problems: string[] = [];
  const info = await callAgora<any>({ baseUrl: A.url, ...creds }, 'GET', `/${room.roomId}`, undefined, room.host.userToken);
  assert.equal(info.code, 0, `${JSON.stringify(info)}; node A's last errors: ${A.stdout().split('\n').filter((l) => /"level":(50|60)/.test(l)).slice(-3).join('\n')}`);
  // A socket the server closed (its room's log went back) does not catch up: it is a problem below.
  const open = room.sockets.filter((s) => s.closeCode === null);
  const target = () => Math.max(0, ...open.map((x) => x.lastSeq));
  await until(() => open.every((s) => s.lastSeq >= target()), 'open sockets caught up', 10_000);
  const [a, b] = room.sockets as [FrameLog, FrameLog];
  for (const s of [a, b]) if (!s.gapFree()) problems.push(`${room.roomUuid}: a socket's seqs have a gap: ${s.eventSeqs().join(',')}`);
  for (const [seq, frame] of a.bySeq()) {
    const other = b.bySeq().get(seq);
    if (other !== undefined && other !== frame) problems.push(`${room.roomUuid}: seq ${seq} differs between the nodes' sockets`);
  }
  if (a.closeCode !== null || b.closeCode !== null) problems.push(`${room.roomUuid}: a socket closed (${a.closeCode}, ${b.closeCode})`);
  // What was lost is read from the room's log, replayed from its start on a fresh socket up to the
  // seq a snapshot says the room is at.
  const now = await openUntilServed(A, room.host.userToken, (s) => s.frames.length > 0, 'a snapshot');
  const log = await openUntilServed(A, room.host.userToken, (s) => s.lastSeq >= now.frames[0].seq, 'the log replayed', 0);
  const texts = log.texts();
  for (const c of room.chats) if (!texts.has(c)) lost.push(`chat ${c}`);
  const values = log.muteAllValues();
  if (!isSubsequence(room.muteAll, values)) lost.push(`${room.roomUuid}: acknowledged mute-all values ${room.muteAll.join('')} are not all in the log ${values.join('')}`);
  for (const s of open) {
    const missed = room.chats.filter((c) => texts.has(c) && !s.texts().has(c)).length;
    if (missed > 0) problems.push(`${room.roomUuid}: an open socket missed ${missed} chats of the log`);
  }
  for (const u of await leftTheRoom(B, creds.appId, keys, room.roomUuid, room.entered)) lost.push(`member ${u}`);
  return { lost, problems };
}

/**
 * A fresh socket on `node` until `done` holds, opened again (as a client does) when the node ends it
 * with 1013, the retryable "storage unavailable" (a write on entry can wait for a replica that is
 * still catching up with the promoted primary).
 */
async function openUntilServed(node: ServerProcess, token: string, done: (s: FrameLog) => boolean, what: string, since?: number): Promise<FrameLog> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const s = new FrameLog();
    await s.open(node, token, since);
    await until(() => done(s) || s.closeCode !== null, what, Math.max(1, deadline - Date.now()));
    if (done(s)) {
      s.ws.close();
      return s;
    }
    assert.equal(s.closeCode, 1013, `${what}: the socket closed with ${s.closeCode}`);
    await sleep(200);
  }
}

function isSubsequence(xs: number[], ys: number[]): boolean {
  let j = 0;
  for (const x of xs) {
    while (j < ys.length && ys[j] !== x) j++;
    if (j === ys.length) return false;
    j++;
  }
  return true;
}

