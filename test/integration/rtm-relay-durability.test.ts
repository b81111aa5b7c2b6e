// The RTM relay's backlog survives its node: SIGKILLed with messages waiting (SQLite) and started
// again, it sends them all, in order; three nodes on Redis with one killed mid-relay: another node
// takes the dead one's rooms over once its leases run out, each room relayed by one node at a time,
// nothing lost, nothing reordered (a call in flight when its node died may be made once more).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { MeetingClient } from '../../client/agora.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { RedisStore } from '../../src/store/redis/store.ts';
import { runConvene, spawnServer, type ServerProcess } from '../helpers/process.ts';
import { cleanupPrefix, clusterEnv, redisSkip, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { startRtmStandin, type RtmStandin } from '../helpers/rtm-standin.ts';
import { checkRooms, expectedRelay, relayEnv, waitForRelay } from '../helpers/relay.ts';
import type { RoomStore } from '../../src/store/store.ts';

const skip = await redisSkip();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = (n: number) => randomBytes(n).toString('hex');

async function countExpected(store: RoomStore, roomIds: string[]) {
  let n = 0;
  for (const id of roomIds) n += (await expectedRelay(store, id)).count;
  return n;
}

test('SIGKILLed with a backlog and started again: the backlog is relayed, in order, nothing twice (SQLite)', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'convene-relay-kill-'));
  const cert = hex(16);
  const creds = { appId: hex(16), customerId: 'relay-customer', customerSecret: hex(12) };
  const standin = await startRtmStandin({ appId: creds.appId, appCertificate: cert });
  let node: ServerProcess | undefined;
  t.after(async () => {
    await node?.kill();
    await standin.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const env = { ...relayEnv(standin, cert, creds), CONVENE_DATA_DIR: dir };
  // Agora is down: every call fails, the backlog grows in the outbox.
  const down = standin.failWhere(() => true, { status: 503 });
  node = await spawnServer(env);
  const members = ['a', 'b', 'c'].map(() => new MeetingClient({ baseUrl: node!.url, ...creds }));
  const roomIds: string[] = [];
  for (const [i, m] of members.entries()) {
    await m.enter({ roomName: `kill${i % 2}`, roomUuid: `kill${i % 2}`, userName: `m${i}`, userUuid: `m${i}` });
    if (!roomIds.includes(m.roomId)) roomIds.push(m.roomId);
  }
  for (let k = 0; k < 10; k++) for (const m of members) await m.chat(`message ${k}`);
  await members[0]!.changeRoom({ muteAllAudio: 1 });
  while (standin.injected.length < 3) await sleep(10);
  await node.kill('SIGKILL');
  assert.equal(standin.accepted.length, 0, 'nothing was accepted before the kill');
  t.diagnostic(`killed after ${standin.injected.length} refused calls`);

  down();
  node = await spawnServer(env);
  await node.kill('SIGTERM');
  node = await spawnServer(env);
  const store = new SqliteStore({ path: join(dir, 'convene.db') });
  t.after(() => store.close());
  const total = await countExpected(store, roomIds);
  assert.ok(total >= 34, `the backlog holds ${total} messages`);
  await waitForRelay(standin, total, 30_000);
  assert.equal(await checkRooms(store, standin, roomIds, 0), 0);
  assert.equal(standin.accepted.length, total, 'nothing twice');

  // A meeting ended by the operator's command (another process) is relayed by the server too.
  const closed = await runConvene(['rooms', 'close', creds.appId, 'kill0'], env);
  assert.equal(closed.code, 0, closed.stderr + closed.stdout);
  const withEnd = await countExpected(store, roomIds);
  assert.equal(withEnd, total + 1, 'the end is one more message (cmd 3)');
  await waitForRelay(standin, withEnd, 10_000);
  assert.equal(await checkRooms(store, standin, roomIds, 0), 0);
  const last = JSON.parse(standin.accepted.at(-1)!.payload) as { cmd: number; data: { state: number } };
  assert.deepEqual([last.cmd, last.data.state], [3, 0]);
});

test('three nodes on Redis, one SIGKILLed mid-relay: one relayer per room, nothing lost, nothing reordered', { skip, timeout: 120_000 }, async (t) => {
  const prefix = uniquePrefix();
  const dir = mkdtempSync(join(tmpdir(), 'convene-relay-cluster-'));
  const redis = new Redis(SHARED_REDIS_URL);
  const cert = hex(16);
  const creds = { appId: hex(16), customerId: 'relay-customer', customerSecret: hex(12) };
  // Slow answers, so that calls are in flight when the node dies.
  const standin = await startRtmStandin({ appId: creds.appId, appCertificate: cert, latencyMs: 60 });
  const nodes: ServerProcess[] = [];
  const store = new RedisStore({ redis: new Redis(SHARED_REDIS_URL), prefix, ownsClient: true });
  t.after(async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    await standin.close();
    await store.close();
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });
  const env = {
    ...clusterEnv({ url: SHARED_REDIS_URL, prefix, dir, creds, keys: { ak: 'relay-ak', sk: hex(12) }, graceS: 20, nodeTimeoutS: 2 }),
    ...relayEnv(standin, cert, creds),
  };
  nodes.push(...(await Promise.all([0, 1, 2].map(() => spawnServer(env)))));
  const via = (c: MeetingClient, node: ServerProcess) => ((c.opts.baseUrl = node.url), c);
  const rooms = Array.from({ length: 6 }, (_, r) => ({ name: `room${r}`, a: new MeetingClient({ baseUrl: '', ...creds }), b: new MeetingClient({ baseUrl: '', ...creds }) }));
  await Promise.all(
    rooms.map(async ({ name, a, b }, r) => {
      await via(a, nodes[r % 3]!).enter({ roomName: name, roomUuid: name, userName: `a${r}`, userUuid: `a${r}` });
      await via(b, nodes[(r + 1) % 3]!).enter({ roomName: name, roomUuid: name, userName: `b${r}`, userUuid: `b${r}` });
      for (let i = 0; i < 8; i++) await via(a, nodes[(r + 2 + i) % 3]!).chat(`hello ${i}`);
    }),
  );
  // Kill a node while it holds leases (the relay's lanes are `appId/rtm/roomId`).
  let victim: ServerProcess | undefined;
  const deadline = Date.now() + 15_000;
  while (!victim) {
    assert.ok(Date.now() < deadline, 'no node was seen relaying');
    const holders = Object.entries(await redis.hgetall(`${prefix}wh:lease`)).filter(([lane]) => lane.includes('/rtm/'));
    const pids = holders.map(([, token]) => Number(token.split(':')[0]!.split('-').at(-2)));
    victim = nodes.find((n) => pids.includes(n.child.pid!));
    if (!victim) await sleep(5);
  }
  await victim.kill('SIGKILL');
  t.diagnostic(`killed node pid ${victim.child.pid} after ${standin.accepted.length} messages were accepted`);
  const survivors = nodes.filter((n) => n !== victim);
  await Promise.all(
    rooms.map(async ({ a, b }, r) => {
      await via(b, survivors[r % 2]!).chat('still here');
      await via(a, survivors[(r + 1) % 2]!).changeRoom({ state: 0 });
    }),
  );
  const roomIds = rooms.map((r) => r.a.roomId);
  const total = await countExpected(store, roomIds);
  const until = Date.now() + 30_000;
  while (Date.now() < until && new Set(standin.accepted.map((r) => `${r.target} ${r.payload}`)).size < total) await sleep(20);
  await sleep(300);
  const repeats = await checkRooms(store, standin, roomIds, 1);
  t.diagnostic(`${standin.accepted.length} calls accepted for ${total} messages: ${repeats} made again after the kill`);
  assert.equal(await redis.zcard(`${prefix}wh:due`), 0, 'nothing is left in the outbox');
});
