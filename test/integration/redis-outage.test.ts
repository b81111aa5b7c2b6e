// Redis goes away under traffic (a private redis-server, stopped for 10 s, later SIGKILLed): the
// two nodes answer retryable errors in each API's envelope, say not ready, keep their sockets open,
// and recover by themselves when it is back; every acknowledged write is in the log afterwards,
// and the open sockets received every event, in order, with no gap.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { callAgora, MeetingClient, type ClientOptions } from '../../client/agora.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { raw } from '../helpers/qiniu.ts';
import { clusterEnv, startRedisServer, type RedisServer } from '../helpers/redis.ts';
import { FrameLog, until } from '../helpers/frames.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hasRedisServer = await new Promise<boolean>((resolve) => {
  import('node:child_process').then(({ spawn }) => {
    const c = spawn('redis-server', ['--version']);
    c.on('error', () => resolve(false));
    c.on('exit', (code) => resolve(code === 0));
  });
});
const skip = hasRedisServer ? undefined : 'no redis-server binary';
if (!hasRedisServer && process.env.CONVENE_REQUIRE_SERVICES === '1') {
  test('redis-server is installed', () => assert.fail('redis-server not found, and CONVENE_REQUIRE_SERVICES=1'));
}

const creds = { appId: randomBytes(16).toString('hex'), customerId: 'outage', customerSecret: randomBytes(12).toString('hex') };
const keys = { ak: 'outage-ak', sk: randomBytes(12).toString('hex') };

interface Outcome {
  text: string;
  code: number | 'network';
}

/** Chats alternating between the nodes, as fast as answers come; what was acknowledged is known. */
function writer(nodes: ServerProcess[], roomId: string, token: string, tag: string) {
  const outcomes: Outcome[] = [];
  let stop = false;
  let n = 0;
  const done = (async () => {
    while (!stop) {
      const node = nodes[n % nodes.length]!;
      const text = `${tag}-${n++}`;
      try {
        const r = await callAgora<any>({ baseUrl: node.url, ...creds }, 'POST', `/${roomId}/chat`, { message: text, type: 1 }, token);
        outcomes.push({ text, code: r.code });
      } catch {
        outcomes.push({ text, code: 'network' });
      }
      await sleep(10);
    }
  })();
  return {
    outcomes,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

/** The room's whole log, replayed on a fresh socket from seq 0. */
async function logTexts(node: ServerProcess, token: string): Promise<Set<string>> {
  const s = new FrameLog();
  await s.open(node, token, 0);
  await sleep(1_000);
  s.ws.close();
  return s.texts();
}

test('Redis stopped for 10 s, then SIGKILLed under writes: retryable errors, recovery, nothing acknowledged lost', { skip, timeout: 120_000 }, async (t) => {
  const redis: RedisServer = await startRedisServer({ appendonly: true, appendfsync: 'always' });
  const dir = mkdtempSync(join(tmpdir(), 'convene-outage-'));
  const nodes: ServerProcess[] = [];
  after(async () => {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await redis.dispose();
    rmSync(dir, { recursive: true, force: true });
  });
  // The writers are scripts chatting as fast as answers come: the per-member chat limit is off.
  const env = { ...clusterEnv({ url: redis.url, prefix: 'outage:', dir, creds, keys, graceS: 5, nodeTimeoutS: 2 }), CONVENE_RATE_CHAT: '0' };

  nodes.push(await spawnServer(env), await spawnServer(env));
  const [A, B] = nodes as [ServerProcess, ServerProcess];
  const opts = (n: ServerProcess): ClientOptions => ({ baseUrl: n.url, ...creds });
  const host = new MeetingClient(opts(A));
  const { roomId } = await host.enter({ roomName: 'Outage', roomUuid: 'outage', userName: 'Host', userUuid: 'host' });
  const member = new MeetingClient(opts(B));
  await member.enter({ roomName: 'Outage', roomUuid: 'outage', userName: 'M', userUuid: 'm' });
  const onA = new FrameLog();
  const onB = new FrameLog();
  await onA.open(A, host.userToken);
  await onB.open(B, member.userToken);
  await until(() => onA.frames.length > 0 && onB.frames.length > 0, 'snapshots', 5_000);
  const startA = onA.frames[0].seq as number;
  const startB = onB.frames[0].seq as number;

  // Phase 1: traffic; the nodes' pub/sub connections are cut three times under it (what they miss
  // meanwhile must come from the log), then Redis stops for 10 s.
  const w1 = writer(nodes, roomId, host.userToken, 'stop');
  const admin = new Redis(redis.url);
  for (let i = 0; i < 3; i++) {
    await sleep(300);
    const killed = await admin.client('KILL', 'TYPE', 'pubsub');
    assert.ok(Number(killed) >= 2, 'both nodes had a subscriber to cut');
  }
  admin.disconnect();
  await sleep(600);
  await redis.stop('SIGTERM');
  const outageStart = Date.now();
  await sleep(1_000);
  const during = {
    readyz: await Promise.all(nodes.map((n) => fetch(`${n.url}/readyz`).then((r) => r.status))),
    info: await callAgora<any>(opts(A), 'GET', `/${roomId}`, undefined, host.userToken),
    entry: await callAgora<any>(opts(B), 'POST', '/entry', { roomName: 'X', roomUuid: 'x', userName: 'X', userUuid: 'x', role: 'participant' }).catch((e) => e),
    qiniu: await raw(B.port, { method: 'GET', path: `/v3/apps/${creds.appId}/rooms/outage/users`, keys }),
  };
  assert.deepEqual(during.readyz, [503, 503], '/readyz says not ready on both nodes');
  assert.equal(during.info.code, 503, `Agora: retryable code 503 (${JSON.stringify(during.info)})`);
  assert.equal(during.entry.code, 503, `entry: retryable code 503 (${JSON.stringify(during.entry)})`);
  assert.equal(during.qiniu.status, 503, 'Qiniu: HTTP 503');
  assert.equal(typeof during.qiniu.json?.error, 'string', 'Qiniu: JSON {error}');
  await sleep(Math.max(0, 10_000 - (Date.now() - outageStart)));
  assert.equal(onA.closeCode, null, 'sockets stay open during the outage');
  assert.equal(onB.closeCode, null);
  await redis.restart();
  const restartedAt = Date.now();
  await until(async () => (await Promise.all(nodes.map((n) => fetch(`${n.url}/readyz`).then((r) => r.status)))).every((s) => s === 200), 'ready again', 15_000);
  await until(() => w1.outcomes.slice(-3).every((o) => o.code === 0) && w1.outcomes.length > 3, 'writes succeed again', 15_000);
  t.diagnostic(`recovered ${Date.now() - restartedAt} ms after Redis came back`);
  await sleep(1_000);
  await w1.stop();
  const codes1 = new Set(w1.outcomes.map((o) => o.code));
  assert.ok([...codes1].every((c) => c === 0 || c === 503), `only success or retryable 503 (saw ${[...codes1]})`);
  assert.ok(w1.outcomes.some((o) => o.code === 503), 'the outage was felt');

  // Phase 2: SIGKILL Redis itself under writes; with appendfsync always no acknowledged write is lost.
  const w2 = writer(nodes, roomId, member.userToken, 'kill');
  await sleep(1_500);
  await redis.kill();
  await sleep(500);
  await redis.restart();
  const killedAt = w2.outcomes.length;
  await until(() => w2.outcomes.length > killedAt + 3 && w2.outcomes.slice(-3).every((o) => o.code === 0), 'writes succeed after the kill', 15_000);
  await sleep(500);
  await w2.stop();

  const acked = [...w1.outcomes, ...w2.outcomes].filter((o) => o.code === 0).map((o) => o.text);
  const log = await logTexts(A, host.userToken);
  const missing = acked.filter((x) => !log.has(x));
  assert.deepEqual(missing, [], `every acknowledged write is in the log (${acked.length} acknowledged)`);

  // The sockets open all along got everything, in order, without gap (resubscribed, gaps filled).
  const final = Math.max(onA.lastSeq, onB.lastSeq);
  await until(() => onA.lastSeq >= final && onB.lastSeq >= final, 'sockets caught up', 10_000);
  for (const [s, start, who] of [[onA, startA, 'A'], [onB, startB, 'B']] as const) {
    const seqs = s.eventSeqs();
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => start + 1 + i), `socket on ${who}: gap-free, in order`);
    const got = s.texts();
    assert.deepEqual(acked.filter((x) => !got.has(x)), [], `socket on ${who} received every acknowledged chat`);
  }
  t.diagnostic(`${acked.length} acknowledged writes, all in the log and on both open sockets`);
  // An outage is expected in a cluster: logged as warnings, never as errors (level 50+).
  for (const n of nodes) {
    const errors = n.stdout().split('\n').filter((l) => /"level":(50|60)/.test(l));
    assert.deepEqual(errors.map((l) => JSON.parse(l).msg + " " + (JSON.parse(l).err?.message ?? "")), [], "no error-level log lines");
  }
});
