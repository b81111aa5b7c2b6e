// A private Redis with Sentinel for failover tests: a primary, its replicas and three Sentinels,
// each a redis-server process on a free port in a temporary directory (never the shared Redis).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './process.ts';
import { redisAvailable } from './redis.ts';

export const SENTINEL_MASTER = 'convene-test';

export interface SentinelSet {
  /** REDIS_SENTINELS for Convene: host:port of the three Sentinels. */
  sentinels: string;
  primaryPort: number;
  replicaPorts: number[];
  /** SIGKILL the primary: no shutdown, nothing flushed. */
  killPrimary(): Promise<void>;
  /**
   * The replicas fall behind: their links to the primary are cut and they cannot sync again (a
   * wrong masterauth) until resumeReplicas(); what is written meanwhile is on the primary alone.
   */
  lagReplicas(): Promise<void>;
  resumeReplicas(): Promise<void>;
  /** The port of the server the Sentinels name as the master now. */
  masterPort(): Promise<number>;
  dispose(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts the set and waits until the replicas are in sync and every Sentinel knows both others and the replicas. */
export async function startSentinelSet(replicas = 1): Promise<SentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), 'convene-sentinel-'));
  const procs: ChildProcess[] = [];
  const out: string[] = [];
  const server = async (args: string[], port: number): Promise<ChildProcess> => {
    const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout!.on('data', (d) => out.push(String(d)));
    c.stderr!.on('data', (d) => out.push(String(d)));
    procs.push(c);
    const deadline = Date.now() + 10_000;
    while (!(await redisAvailable(`redis://127.0.0.1:${port}`))) {
      if (c.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server on ${port} did not start: ${out.join('')}`);
      await sleep(20);
    }
    return c;
  };
  const data = (port: number, name: string) => {
    return ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', `${name}.rdb`, '--loglevel', 'warning'];
  };
  const primaryPort = await freePort();
  const primary = await server(data(primaryPort, 'primary'), primaryPort);
  const replicaPorts: number[] = [];
  for (let i = 0; i < replicas; i++) {
    const port = await freePort();
    replicaPorts.push(port);
    await server([...data(port, `replica-${i}`), '--replicaof', '127.0.0.1', String(primaryPort)], port);
  }
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    ports.push(port);
    // A Sentinel rewrites its configuration file: each has its own.
    const file = join(dir, `sentinel-${i}.conf`);
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
        `sentinel failover-timeout ${SENTINEL_MASTER} 10000`,
        `sentinel parallel-syncs ${SENTINEL_MASTER} 1`,
        '',
      ].join('\n'),
    );
    await server([file, '--sentinel', '--loglevel', 'warning'], port);
  }
  const ask = async (port: number, ...cmd: string[]) => {
    const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await r.connect();
      return await r.call(...(cmd as [string, ...string[]]));
    } finally {
      r.disconnect();
    }
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const infos = await Promise.all(replicaPorts.map(async (p) => String(await ask(p, 'INFO', 'replication'))));
    const known = await Promise.all(
      ports.map(async (p) => [(await ask(p, 'SENTINEL', 'REPLICAS', SENTINEL_MASTER)) as unknown[], (await ask(p, 'SENTINEL', 'SENTINELS', SENTINEL_MASTER)) as unknown[]] as const),
    );
    if (infos.every((i) => i.includes('master_link_status:up')) && known.every(([r, s]) => r.length === replicas && s.length === 2)) break;
    if (Date.now() > deadline) throw new Error(`the Sentinel set did not settle: ${infos.join(' ')} ${JSON.stringify(known)}`);
    await sleep(200);
  }
  return {
    sentinels: ports.map((p) => `127.0.0.1:${p}`).join(','),
    primaryPort,
    replicaPorts,
    killPrimary: () =>
      new Promise<void>((resolve) => {
        if (primary.exitCode !== null) return resolve();
        primary.once('exit', () => resolve());
        primary.kill('SIGKILL');
      }),
    lagReplicas: async () => {
      for (const p of replicaPorts) await ask(p, 'CONFIG', 'SET', 'masterauth', 'not-the-password');
      await ask(primaryPort, 'CLIENT', 'KILL', 'TYPE', 'replica');
    },
    resumeReplicas: async () => {
      for (const p of replicaPorts) await ask(p, 'CONFIG', 'SET', 'masterauth', '');
    },
    masterPort: async () => Number(((await ask(ports[0]!, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER)) as string[])[1]),
    dispose: async () => {
      await Promise.all(
        procs.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill('SIGKILL');
            }),
        ),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
