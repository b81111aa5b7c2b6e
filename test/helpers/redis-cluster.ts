// A private Redis Cluster for tests: masters and their replicas, each a redis-server process on its
// own port in one temporary directory (never the shared Redis on 6379), created by redis-cli.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { redisAvailable } from './redis.ts';

export interface RedisClusterOptions {
  masters?: number; // 3
  replicasPerMaster?: number; // 1
  nodeTimeoutMs?: number; // 1000: how long before a silent node is failed over
}

export interface RedisClusterMaster {
  port: number;
  /** Inclusive slot ranges, lowest first. */
  slots: [number, number][];
}

export interface RedisCluster {
  /** host:port of every node, masters first (by their first slot), for ioredis or REDIS_CLUSTER-style config. */
  seeds: string;
  /** In the order of `seeds`. */
  ports: number[];
  /** The masters as a live node sees them now. */
  masters(): Promise<RedisClusterMaster[]>;
  masterOfSlot(slot: number): Promise<number>;
  /** SIGKILL: no shutdown, nothing flushed; resolves once the process has exited. */
  killMaster(port: number): Promise<void>;
  /** Waits until a replica serves the dead master's slots on every surviving node; tookMs counts from the kill. */
  waitForFailover(deadPort: number, timeoutMs?: number): Promise<{ newMasterPort: number; tookMs: number }>;
  stop(): Promise<void>;
}

const SLOTS = 16384;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// redis-cli colours its errors even into a pipe; an error message reads better without.
const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
const run = (cmd: string, args: string[], timeout = 30_000) =>
  new Promise<{ ok: boolean; out: string }>((resolve) =>
    execFile(cmd, args, { timeout }, (err, out, errOut) => resolve({ ok: !err, out: plain(`${out}${errOut}${err && !out ? err.message : ''}`) })),
  );

/**
 * The `skip` option for tests that start a Redis Cluster: a reason when redis-server 7+ or redis-cli
 * is missing (a failure with CONVENE_REQUIRE_SERVICES=1).
 */
export async function redisClusterSkip(): Promise<string | undefined> {
  const [server, cli] = await Promise.all([run('redis-server', ['--version']), run('redis-cli', ['--version'])]);
  const major = Number(/v=(\d+)\./.exec(server.out)?.[1] ?? 0);
  const reason = !server.ok
    ? 'redis-server is not installed'
    : major < 7
      ? `redis-server ${major} is older than 7`
      : !cli.ok
        ? 'redis-cli is not installed'
        : undefined;
  if (reason && process.env.CONVENE_REQUIRE_SERVICES === '1') {
    test('redis-server 7 and redis-cli are installed', () => assert.fail(`${reason}, and CONVENE_REQUIRE_SERVICES=1`));
  }
  return reason;
}

const bindable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });

/**
 * A port whose bus port (port + 10000) is free too. Both are taken below the kernel's ephemeral range
 * (32768+ here), where freePort() and outgoing connections never land, so that between this check
 * and redis-server's bind nothing else in the test run is likely to grab them.
 */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 10_000 + Math.floor(Math.random() * 10_000);
    if (taken.has(port) || !(await bindable(port)) || !(await bindable(port + 10_000))) continue;
    taken.add(port);
    return port;
  }
  throw new Error('no free port pair (port, port + 10000) between 10000 and 30000');
}

/** One admin command on one node; a fresh connection each time, so a dead node only fails that call. */
async function ask(port: number, ...cmd: string[]): Promise<unknown> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 });
  r.on('error', () => {}); // the rejection below carries it; unhandled, ioredis would print it
  try {
    await r.connect();
    return await r.call(...(cmd as [string, ...string[]]));
  } finally {
    r.disconnect();
  }
}

function parseSlots(reply: unknown): RedisClusterMaster[] {
  const byPort = new Map<number, [number, number][]>();
  for (const [start, end, [, port]] of reply as [number, number, [string, number]][]) {
    byPort.set(Number(port), [...(byPort.get(Number(port)) ?? []), [start, end]]);
  }
  return [...byPort].map(([port, slots]) => ({ port, slots: slots.sort((a, b) => a[0] - b[0]) })).sort((a, b) => a.slots[0]![0] - b.slots[0]![0]);
}

const covered = (ms: RedisClusterMaster[]) => ms.flatMap((m) => m.slots).reduce((n, [a, b]) => n + b - a + 1, 0);

/** Polls `check` (true when done, else what it saw) until done, or throws with the last thing it saw. */
async function waitUntil(what: string, timeoutMs: number, check: () => Promise<true | string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = '';
  for (;;) {
    try {
      const r = await check();
      if (r === true) return;
      seen = r;
    } catch (err) {
      seen = String(err);
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms; last seen:\n${seen}`);
    await sleep(100);
  }
}

function spawnNode(port: number, dir: string, nodeTimeoutMs: number, log: string[]): ChildProcess {
  const args = [
    ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
    // Replicas write the RDB they receive into dir: one name per node, or they overwrite each other's.
    ...['--dbfilename', `dump-${port}.rdb`],
    ...['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', String(nodeTimeoutMs)],
    // However long a replica was cut off, it may be promoted: tests kill masters on purpose.
    ...['--cluster-allow-reads-when-down', 'no', '--cluster-replica-validity-factor', '0'],
    // The default waits 5 s for more replicas to join a full sync; a master here has all of its own already.
    ...['--repl-diskless-sync-delay', '0'],
  ];
  const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  c.stdout!.on('data', (d) => log.push(`[${port}] ${d}`));
  c.stderr!.on('data', (d) => log.push(`[${port}] ${d}`));
  c.on('error', (err) => log.push(`[${port}] ${err.message}`));
  return c;
}

const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
const kill = (c: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (!alive(c)) return resolve();
    c.once('exit', () => resolve());
    c.kill('SIGKILL');
  });

/** Each redis-server answers PING; one that exited (its port taken meanwhile, say) fails at once. */
async function waitForProcesses(procs: Map<number, ChildProcess>, log: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (const [port, c] of procs) {
    while (!(await redisAvailable(`redis://127.0.0.1:${port}`))) {
      if (!alive(c) || Date.now() > deadline) throw new Error(`redis-server on ${port} did not start: ${log.join('')}`);
      await sleep(20);
    }
  }
}

/** Every node agrees: state ok, all slots served, every node known and connected, every replica synced. */
async function settled(ports: number[], replicas: number): Promise<true | string> {
  for (const port of ports) {
    const info = String(await ask(port, 'CLUSTER', 'INFO'));
    const nodes = String(await ask(port, 'CLUSTER', 'NODES'));
    const slots = covered(parseSlots(await ask(port, 'CLUSTER', 'SLOTS')));
    const lines = nodes.trim().split('\n');
    const slaves = lines.filter((l) => l.split(' ')[2]!.includes('slave') && l.split(' ')[3] !== '-');
    const ok = info.includes('cluster_state:ok') && slots === SLOTS && lines.length === ports.length && lines.every((l) => l.includes(' connected')) && slaves.length === replicas;
    if (!ok) return `node ${port}: ${slots} slots\n${info}\n${nodes}`;
    const repl = String(await ask(port, 'INFO', 'replication'));
    if (repl.includes('role:slave') && !repl.includes('master_link_status:up')) return `replica ${port} not synced:\n${repl}`;
  }
  return true;
}

/** Starts the nodes, creates the cluster and waits until every node sees all of it settled. */
export async function startRedisCluster(opts: RedisClusterOptions = {}): Promise<RedisCluster> {
  const { masters = 3, replicasPerMaster = 1, nodeTimeoutMs = 1_000 } = opts;
  const dir = mkdtempSync(join(tmpdir(), 'convene-redis-cluster-'));
  const procs = new Map<number, ChildProcess>();
  const log: string[] = [];
  const stop = async () => {
    await Promise.all([...procs.values()].map(kill));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const taken = new Set<number>();
    for (let i = 0; i < masters * (1 + replicasPerMaster); i++) {
      const port = await clusterPort(taken);
      procs.set(port, spawnNode(port, dir, nodeTimeoutMs, log));
    }
    const ports = [...procs.keys()];
    await waitForProcesses(procs, log);
    const seeds = ports.map((p) => `127.0.0.1:${p}`);
    const created = await run('redis-cli', ['--cluster', 'create', ...seeds, '--cluster-replicas', String(replicasPerMaster), '--cluster-yes']);
    if (!created.ok) throw new Error(`redis-cli --cluster create failed:\n${created.out}\n${log.join('')}`);
    await waitUntil('the cluster did not settle', 30_000, () => settled(ports, masters * replicasPerMaster));
    // redis-cli makes the first nodes masters on one host, but nothing promises it: ask.
    const first = parseSlots(await ask(ports[0]!, 'CLUSTER', 'SLOTS')).map((m) => m.port);
    return clusterHandle([...first, ...ports.filter((p) => !first.includes(p))], procs, stop);
  } catch (err) {
    await stop();
    throw err;
  }
}

function clusterHandle(ports: number[], procs: Map<number, ChildProcess>, stop: () => Promise<void>): RedisCluster {
  const killed = new Map<number, { at: number; slots: [number, number][] }>();
  const live = () => ports.filter((p) => alive(procs.get(p)!));
  const masters = async () => parseSlots(await ask(live()[0]!, 'CLUSTER', 'SLOTS'));
  const ownerOf = (ms: RedisClusterMaster[], slot: number) => ms.find((m) => m.slots.some(([a, b]) => a <= slot && slot <= b))?.port;
  return {
    seeds: ports.map((p) => `127.0.0.1:${p}`).join(','),
    ports,
    masters,
    masterOfSlot: async (slot) => {
      const port = ownerOf(await masters(), slot);
      if (port === undefined) throw new Error(`no master serves slot ${slot}`);
      return port;
    },
    killMaster: async (port) => {
      // Its slots are remembered now: once it is gone no node can say which they were.
      const slots = (await masters()).find((m) => m.port === port)?.slots;
      if (!slots) throw new Error(`${port} is not a master of this cluster`);
      killed.set(port, { at: Date.now(), slots });
      await kill(procs.get(port)!);
    },
    waitForFailover: async (deadPort, timeoutMs = 15_000) => {
      const dead = killed.get(deadPort);
      if (!dead) throw new Error(`${deadPort} was not killed with killMaster()`);
      let newMasterPort = 0;
      await waitUntil(`no replica took over the slots of ${deadPort}`, timeoutMs, async () => {
        const seen = new Set<number | undefined>();
        for (const port of live()) {
          const info = String(await ask(port, 'CLUSTER', 'INFO'));
          const ms = parseSlots(await ask(port, 'CLUSTER', 'SLOTS'));
          for (const [a, b] of dead.slots) seen.add(ownerOf(ms, a)).add(ownerOf(ms, b));
          const [owner] = seen;
          if (!info.includes('cluster_state:ok') || covered(ms) !== SLOTS || seen.size !== 1 || owner === deadPort) {
            return `node ${port}: slots ${JSON.stringify(dead.slots)} served by ${[...seen].join(', ')}\n${info}\n${await ask(port, 'CLUSTER', 'NODES')}`;
          }
        }
        newMasterPort = [...seen][0]!;
        return true;
      });
      return { newMasterPort, tookMs: Date.now() - dead.at };
    },
    stop,
  };
}
