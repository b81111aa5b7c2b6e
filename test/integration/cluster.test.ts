// Three real Convene processes on one Redis, and on a Redis Cluster (three masters, a replica each),
// as behind a load balancer without stickiness: one consistent meeting whichever node answers, every
// socket the same gap-free sequence, reads after an acknowledged write never stale on another node,
// and a node killed with SIGKILL: its members that come back elsewhere within the grace period stay,
// the others leave exactly once.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { callAgora, MeetingClient, type ClientOptions } from '../../client/agora.ts';
import { runConvene, spawnServer, type ServerProcess } from '../helpers/process.ts';
import { raw } from '../helpers/qiniu.ts';
import { cleanupPrefix, clusterEnv, redisSkip, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { redisClusterSkip, startRedisCluster } from '../helpers/redis-cluster.ts';

const skip = await redisSkip();
const clusterSkip = await redisClusterSkip();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

const MEMBERS = 60;
const GRACE_S = 4;
const NODE_TIMEOUT_S = 2;
const creds = {
  appId: randomBytes(16).toString('hex'),
  customerId: 'cluster-customer',
  customerSecret: randomBytes(12).toString('hex'),
};
const keys = { ak: 'cluster-ak', sk: randomBytes(12).toString('hex') };

/** A member's socket with every frame it received, as received (duplicates would show). */
class Recorder {
  readonly frames: { type: string; cmd?: number; seq: number; data: any }[] = [];
  ws!: WebSocket;
  closeCode: number | null = null;
  constructor(
    readonly userId: string,
    readonly token: string,
  ) {}

  open(node: ServerProcess, since?: number): Promise<void> {
    const q = new URLSearchParams({ token: this.token });
    if (since !== undefined) q.set('since', String(since));
    const ws = new WebSocket(`${node.url.replace('http', 'ws')}/v1/realtime?${q}`);
    this.ws = ws;
    this.closeCode = null;
    ws.on('message', (d) => this.frames.push(JSON.parse(d.toString())));
    ws.on('close', (code) => (this.closeCode = code));
    ws.on('error', () => {});
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
  }

  get lastSeq(): number {
    return this.frames.reduce((m, f) => Math.max(m, f.seq ?? 0), 0);
  }

  /** Seqs of the event frames (not snapshots) in arrival order. */
  get eventSeqs(): number[] {
    return this.frames.filter((f) => f.type !== 'snapshot').map((f) => f.seq);
  }

  async until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`${this.userId}: ${what} (last seq ${this.lastSeq})`);
      await sleep(20);
    }
  }
}

/** Every seq from `from` to `to` exactly once, in order. */
function assertContiguous(seqs: number[], from: number, to: number, who: string): void {
  const want = Array.from({ length: to - from + 1 }, (_, i) => from + i);
  assert.deepEqual(seqs, want, `${who}: gap-free, in order, no duplicate`);
}

const leftIn = (f: Recorder['frames'][number], userId: string) =>
  f.type === 'channel' && f.cmd === 2 && f.data.list.some((x: { userId: string; state: number }) => x.userId === userId && x.state === 0);

test('three nodes on one Redis: one meeting, one sequence, no stale read, a killed node', { skip, timeout: 120_000 }, async (t) => {
  const prefix = uniquePrefix();
  const redis = new Redis(SHARED_REDIS_URL);
  await threeNodes(t, prefix, { REDIS_URL: SHARED_REDIS_URL }, async () => {
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
  });
});

test('three nodes on a Redis Cluster of three masters: the same, every room in one slot, its events over sharded pub/sub', { skip: clusterSkip, timeout: 120_000 }, async (t) => {
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  await threeNodes(t, uniquePrefix(), { REDIS_CLUSTER_NODES: cluster.seeds }, () => cluster.stop());
});

/** The cluster suite on the Redis that `redisEnv` names (REDIS_URL or REDIS_CLUSTER_NODES); `cleanup` once its nodes are gone. */
async function threeNodes(t: TestContext, prefix: string, redisEnv: Record<string, string>, cleanup: () => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'convene-cluster-'));
  const nodes: ServerProcess[] = [];
  t.after(async () => {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
    await cleanup();
  });
  const { REDIS_URL: _url, ...common } = clusterEnv({ url: SHARED_REDIS_URL, prefix, dir, creds, keys, graceS: GRACE_S, nodeTimeoutS: NODE_TIMEOUT_S });
  const env = { ...common, ...redisEnv };

  for (let i = 0; i < 3; i++) nodes.push(await spawnServer(env));
  const [A, B, C] = nodes as [ServerProcess, ServerProcess, ServerProcess];
  const optsOf = (n: ServerProcess): ClientOptions => ({ baseUrl: n.url, ...creds });
  const info = (n: ServerProcess, roomId: string, token: string) => callAgora<any>(optsOf(n), 'GET', `/${roomId}`, undefined, token);

  // 60 concurrent entries through random nodes.
  const members = await Promise.all(
    Array.from({ length: MEMBERS }, async (_, i) => {
      const c = new MeetingClient(optsOf(pick(nodes)));
      const r = await c.enter({ roomName: 'Cluster', roomUuid: 'cluster', userName: `u${i}`, userUuid: `u${i}` });
      return { i, client: c, roomId: r.roomId, token: r.userToken, userId: c.userId };
    }),
  );
  const roomId = members[0]!.roomId;
  assert.ok(members.every((m) => m.roomId === roomId), 'one room');
  const views = await Promise.all(nodes.map((n) => info(n, roomId, members[0]!.token)));
  for (const v of views) {
    assert.equal(v.code, 0);
    assert.equal(v.data.room.onlineUsers, MEMBERS, 'every node counts 60');
    assert.equal(v.data.room.hosts.length, 1, 'one host');
    assert.equal(v.data.room.hosts[0].userId, views[0].data.room.hosts[0].userId, 'the same host on every node');
  }
  const pages = await Promise.all(nodes.map((n) => callAgora<any>(optsOf(n), 'GET', `/${roomId}/user/page?count=100`, undefined, members[0]!.token)));
  for (const p of pages) assert.deepEqual(p.data.list.map((u: any) => u.userId), pages[0]!.data.list.map((u: any) => u.userId), 'the same member page everywhere');
  const hostId: string = views[0].data.room.hosts[0].userId;

  // Every member holds a socket on a random node; the host's is on C (the node killed later).
  const placed = new Map<string, ServerProcess>();
  const recorders = await Promise.all(
    members.map(async (m) => {
      const r = new Recorder(m.userId, m.token);
      const node = m.userId === hostId ? C : pick(nodes);
      placed.set(m.userId, node);
      await r.open(node);
      await r.until(() => r.frames.some((f) => f.type === 'snapshot'), 'a snapshot');
      return r;
    }),
  );
  const startSeq = new Map(recorders.map((r) => [r.userId, r.frames.find((f) => f.type === 'snapshot')!.seq]));

  // Broadcast traffic from random members through random nodes, 10 at a time.
  for (let round = 0; round < 4; round++) {
    await Promise.all(
      members.slice(round * 10, round * 10 + 10).map(async (m) => {
        const r = await callAgora<any>(optsOf(pick(nodes)), 'POST', `/${roomId}/chat`, { message: `hello ${m.i}`, type: 1 }, m.token);
        assert.equal(r.code, 0, JSON.stringify(r));
      }),
    );
  }
  const finalSeq = await storedSeq();
  /** The room's seq as a fresh socket's snapshot on node B says it. */
  async function storedSeq(): Promise<number> {
    const snap = new Recorder('probe', members[0]!.token);
    await snap.open(B);
    await snap.until(() => snap.frames.some((f) => f.type === 'snapshot'), 'probe snapshot');
    snap.ws.close();
    return snap.frames.find((f) => f.type === 'snapshot')!.seq;
  }
  for (const r of recorders) {
    await r.until(() => r.lastSeq >= finalSeq, `events up to ${finalSeq}`);
    assertContiguous(r.eventSeqs, startSeq.get(r.userId)! + 1, finalSeq, r.userId);
  }
  t.diagnostic(`${MEMBERS} sockets over 3 nodes, each received seq ${Math.min(...startSeq.values()) + 1}..${finalSeq} gap-free`);

  // 200 write-then-read pairs: written on one node, read at once on the two others.
  let stale = 0;
  for (let i = 0; i < 200; i++) {
    const w = nodes[i % 3]!;
    const readers = [nodes[(i + 1) % 3]!, nodes[(i + 2) % 3]!];
    const m = members[i % MEMBERS]!;
    if (i % 10 === 9) {
      // A new member enters on one node; Qiniu ListUser and the member page on the others list it.
      const c = new MeetingClient(optsOf(w));
      await c.enter({ roomName: 'Cluster', roomUuid: 'cluster', userName: `late${i}`, userUuid: `late${i}` });
      for (const n of readers) {
        const users = await raw(n.port, { method: 'GET', path: `/v3/apps/${creds.appId}/rooms/cluster/users`, keys });
        if (!users.json.users.some((u: { userId: string }) => u.userId === `late${i}`)) stale++;
      }
      continue;
    }
    const video = i % 2;
    const set = await callAgora<any>(optsOf(w), 'POST', `/${roomId}/user/${m.userId}`, { enableVideo: video }, m.token);
    assert.equal(set.code, 0, JSON.stringify(set));
    for (const n of readers) {
      const v = await info(n, roomId, m.token);
      if (v.data.user.enableVideo !== video) stale++;
    }
  }
  assert.equal(stale, 0, 'no read on another node trails an acknowledged write');

  // SIGKILL node C. Half its members reconnect to A within the grace period; the rest never return.
  const onC = recorders.filter((r) => placed.get(r.userId) === C);
  const comeBack = onC.filter((r, i) => i % 2 === 1 && r.userId !== hostId);
  const gone = onC.filter((r) => !comeBack.includes(r));
  assert.ok(gone.some((r) => r.userId === hostId) && onC.length >= 3, `C holds the host and others (${onC.length})`);
  const survivors = recorders.filter((r) => placed.get(r.userId) !== C);
  const killedAtSeq = Math.max(...survivors.map((r) => r.lastSeq));
  await C.kill('SIGKILL');
  for (const r of comeBack) {
    await r.until(() => r.closeCode !== null, 'its socket closed with the node');
    const since = r.lastSeq;
    await r.open(A, since);
  }
  // Members left behind leave after node timeout + grace, once each; the host passes on.
  const watchers = [...survivors, ...comeBack];
  const deadline = Date.now() + (NODE_TIMEOUT_S + GRACE_S + 8) * 1000;
  for (const w of watchers) {
    await w.until(() => gone.every((g) => w.frames.some((f) => leftIn(f, g.userId))), 'every departure', deadline - Date.now());
  }
  await sleep(GRACE_S * 1000); // anything duplicated or late would show now
  const leaves = (w: Recorder, userId: string) => w.frames.filter((f) => leftIn(f, userId)).length;
  for (const w of watchers) {
    for (const g of gone) assert.equal(leaves(w, g.userId), 1, `${w.userId} saw ${g.userId} leave exactly once`);
    for (const c of comeBack) assert.equal(leaves(w, c.userId), 0, `${c.userId} came back in time and did not leave`);
    assert.ok(w.frames.some((f) => f.type === 'channel' && f.cmd === 7 && f.seq > killedAtSeq), 'the host passed on');
  }
  // Everyone still connected saw the same sequence since the kill, and the resumed ones no gap at all.
  const endSeq = Math.max(...watchers.map((w) => w.lastSeq));
  for (const w of watchers) {
    await w.until(() => w.lastSeq >= endSeq, 'the last event');
    assertContiguous(w.eventSeqs, startSeq.get(w.userId)! + 1, endSeq, w.userId);
  }
  const [va, vb] = await Promise.all([A, B].map((n) => info(n, roomId, survivors[0]!.token)));
  assert.equal(va.data.room.onlineUsers, vb.data.room.onlineUsers);
  assert.equal(va.data.room.hosts[0].userId, vb.data.room.hosts[0].userId);
  assert.notEqual(va.data.room.hosts[0].userId, hostId);
  t.diagnostic(`killed C: ${comeBack.length} came back to A, ${gone.length} left once each; ${va.data.room.onlineUsers} online on A and B`);
  for (const r of watchers) r.ws.close();

  // App and key changes on one node (or by the CLI, on the same Redis) hold on the other at once.
  const online = va.data.room.onlineUsers as number;
  const upd = await raw(A.port, { method: 'POST', path: `/v3/apps/${creds.appId}`, body: JSON.stringify({ maxUsers: online }), keys });
  assert.equal(upd.status, 200, upd.body);
  const full = await callAgora<any>(optsOf(B), 'POST', '/entry', { roomName: 'Cluster', roomUuid: 'cluster', userName: 'x', userUuid: 'one-too-many', role: 'participant' });
  assert.equal(full.code, 1003, `maxUsers set on A is enforced on B at once (${JSON.stringify(full)})`);
  const cliEnv = { ...redisEnv, CONVENE_REDIS_PREFIX: prefix, CONVENE_DATA_DIR: dir };
  const created = await runConvene(['keys', 'create'], cliEnv);
  assert.equal(created.code, 0, created.stderr);
  const { accessKey: ak, secretKey: sk } = JSON.parse(created.stdout) as { accessKey: string; secretKey: string };
  const listWith = (n: ServerProcess) => raw(n.port, { method: 'GET', path: `/v3/apps/${creds.appId}/rooms`, keys: { ak, sk } });
  assert.equal((await listWith(B)).status, 200, 'a key made by the CLI works on a node at once');
  assert.equal((await runConvene(['keys', 'rm', ak], cliEnv)).code, 0);
  assert.deepEqual([(await listWith(A)).status, (await listWith(B)).status], [401, 401], 'a removed key is refused on every node at once');
  const del = await raw(B.port, { method: 'DELETE', path: `/v3/apps/${creds.appId}`, keys });
  assert.equal(del.status, 200, del.body);
  const afterDelete = await info(A, roomId, survivors[0]!.token);
  assert.equal(afterDelete.code, 404, 'an app deleted on B is unknown on A at once');
}
