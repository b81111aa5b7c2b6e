// Webhooks from a cluster: three real Convene processes on one Redis deliver one outbox. A node
// is SIGKILLed while it delivers; its lanes are taken over by the others once its leases run out.
// Every event arrives, per room in seq order, each once by id (the receiver dedupes by
// webhook-id), verified by the standardwebhooks package, and no room's events are ever being
// delivered by two nodes at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { MeetingClient, type ClientOptions } from '../../client/agora.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { raw } from '../helpers/qiniu.ts';
import { cleanupPrefix, clusterEnv, redisSkip, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { byRoom, verify, WebhookReceiver } from '../helpers/webhooks.ts';

const skip = await redisSkip();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The process among `pids` with an open TCP connection from `port` on this host (Linux
 * /proc: the socket's inode by its local port, then the process holding that inode).
 */
function ownerOfPort(port: number, pids: number[]): number | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && parseInt(cols[1]!.split(':')[1]!, 16) === port) inodes.add(cols[9]!);
    }
  }
  return pids.find((pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        return m !== null && inodes.has(m[1]!);
      });
    } catch {
      return false;
    }
  });
}

const ROOMS = 6;
const creds = { appId: randomBytes(16).toString('hex'), customerId: 'webhooks-customer', customerSecret: randomBytes(12).toString('hex') };
const keys = { ak: 'webhooks-ak', sk: randomBytes(12).toString('hex') };

test('three nodes on Redis, one SIGKILLed mid-delivery: every event once by id, in order per room, never two deliverers at once', { skip, timeout: 120_000 }, async (t) => {
  const prefix = uniquePrefix();
  const dir = mkdtempSync(join(tmpdir(), 'convene-webhooks-cluster-'));
  const redis = new Redis(SHARED_REDIS_URL);
  // Slow answers, so that deliveries are in flight when the node dies; the first three refused.
  const receiver = new WebhookReceiver({ failFirst: 3, delayMs: 150 });
  const nodes: ServerProcess[] = [];
  t.after(async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    await receiver.stop();
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });
  await receiver.start();
  const env = {
    ...clusterEnv({ url: SHARED_REDIS_URL, prefix, dir, creds, keys, graceS: 20, nodeTimeoutS: 2 }),
    CONVENE_PRESENCE_EXPIRY: 'off',
    CONVENE_RATE_CHAT: '0',
    CONVENE_WEBHOOK_BACKOFF_MS: '20',
    CONVENE_WEBHOOK_BACKOFF_MAX_MS: '200',
    // A lease is 2 × the timeout + 1 s: a dead node's lanes wait 3 s for another node.
    CONVENE_WEBHOOK_TIMEOUT_MS: '1000',
    CONVENE_WEBHOOK_MAX_ATTEMPTS: '1000',
  };
  nodes.push(...(await Promise.all([0, 1, 2].map(() => spawnServer(env)))));
  const added = await raw(nodes[0]!.port, { method: 'POST', path: `/v3/apps/${creds.appId}/webhooks`, body: JSON.stringify({ url: receiver.url(), events: ['*'] }), keys });
  assert.equal(added.status, 200, added.body);
  const secret = added.json.secret as string;

  const alive = () => nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
  /** A member whose every call goes to the node given (no stickiness: any node serves any room). */
  const opts = (): ClientOptions => ({ baseUrl: '', ...creds });
  const via = (c: MeetingClient, node: ServerProcess) => {
    c.opts.baseUrl = node.url;
    return c;
  };
  const rooms = Array.from({ length: ROOMS }, (_, r) => ({ name: `room${r}`, a: new MeetingClient(opts()), b: new MeetingClient(opts()) }));
  await Promise.all(
    rooms.map(async ({ name, a, b }, r) => {
      await via(a, nodes[r % 3]!).enter({ roomName: name, roomUuid: name, userName: `a${r}`, userUuid: `a${r}` });
      await via(b, nodes[(r + 1) % 3]!).enter({ roomName: name, roomUuid: name, userName: `b${r}`, userUuid: `b${r}` });
      for (let i = 0; i < 3; i++) await via(a, nodes[(r + 2 + i) % 3]!).chat(`hello ${i}`);
    }),
  );

  // Kill the node whose delivery the receiver is answering now (found by its connection), holding
  // a lane's lease.
  let victim: ServerProcess | undefined;
  let interrupted = '';
  const deadline = Date.now() + 15_000;
  while (!victim) {
    assert.ok(Date.now() < deadline, 'no node was seen delivering');
    const holders = Object.values(await redis.hgetall(`${prefix}wh:lease`)).map((token) => Number(token.split(':')[0]!.split('-').at(-2)));
    for (const [port, id] of receiver.openPorts) {
      const sender = ownerOfPort(port, nodes.map((n) => n.child.pid!));
      victim = nodes.find((n) => sender !== undefined && n.child.pid === sender && holders.includes(sender));
      interrupted = id;
      if (victim) break;
    }
    if (!victim) await sleep(5);
  }
  await victim.kill('SIGKILL');
  const killedAt = Date.now();
  t.diagnostic(`killed node pid ${victim.child.pid} while it delivered ${interrupted}, after ${receiver.accepted().length} events were accepted`);

  // Events go on through the surviving nodes.
  const survivors = alive();
  await Promise.all(
    rooms.map(async ({ a, b }, r) => {
      await via(b, survivors[r % survivors.length]!).exit();
      await via(a, survivors[(r + 1) % survivors.length]!).chat('bye');
    }),
  );

  const expected = (r: number) => [
    ['room.started', null], ['member.joined', `a${r}`], ['member.joined', `b${r}`],
    ['chat.sent', `a${r}`], ['chat.sent', `a${r}`], ['chat.sent', `a${r}`],
    ['member.left', `b${r}`], ['chat.sent', `a${r}`],
  ];
  const total = ROOMS * expected(0).length;
  await receiver.until(() => receiver.accepted().length >= total, 'every event after the takeover', 30_000);
  await sleep(500);

  const accepted = receiver.accepted();
  const byRoomName = byRoom(accepted);
  // Room by room first: a failure then shows which events were missing or extra.
  for (let r = 0; r < ROOMS; r++) {
    const got = byRoomName.get(`room${r}`);
    assert.deepEqual(got?.said, expected(r), `room${r}: every event (ids ${got?.keys})`);
    assert.equal(got?.ordered, true, `room${r}: in (seq, idx) order: ${got?.keys}`);
  }
  assert.equal(accepted.length, total, 'each event once by id');
  for (const d of receiver.deliveries) verify(d, secret);
  assert.throws(() => verify(accepted[0]!, `whsec_${Buffer.alloc(32, 1).toString('base64')}`), /No matching signature/);
  assert.equal(receiver.maxConcurrentPerLane, 1, 'a room is never delivered by two nodes at once');
  const repeats = receiver.deliveries.filter((d) => d.status < 300).length - accepted.length;
  t.diagnostic(`${receiver.deliveries.length} deliveries for ${total} events: 3 refused, ${repeats} repeated after the kill (same webhook-id)`);
  // The delivery the killed node had under way was never answered to it: another node made it again.
  assert.ok(
    receiver.deliveries.some((d) => d.id === interrupted && d.at > killedAt && d.status < 300),
    `the interrupted delivery ${interrupted} was made again by another node`,
  );
  // Nothing is left in the outbox.
  assert.equal(await redis.zcard(`${prefix}wh:due`), 0);
});
