// Child processes for benchmarks: each server under test gets its own process (and core).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

import { freePort } from '../../test/helpers/process.ts';

export { freePort };

export interface Child {
  proc: ChildProcess;
  url: string;
  port: number;
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * Start `node --import tsx <script> ...args` and wait until `ready` appears in its output. `node`:
 * flags for node itself (`--inspect=…`); `cwd`: another tree than this one (an A/B run).
 */
export async function startChild(
  script: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  port: number,
  opts: { node?: string[]; cwd?: string } = {},
): Promise<Child> {
  // BENCH_PROFILE=<dir> writes a CPU profile of each server child there (inspect with any viewer).
  const prof = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const proc = spawn(process.execPath, [...prof, ...(opts.node ?? []), '--import', 'tsx', script, ...args], {
    cwd: opts.cwd ?? root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 30_000;
  while (!ready.test(out)) {
    if (proc.exitCode !== null) throw new Error(`${script} exited: ${out}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${script} did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 3000).unref();
      }),
  };
}

/** A Convene server on a fresh data directory, with its default app's credentials. */
export async function startConveneChild(env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'convene-bench-'));
  const port = await freePort();
  const child = await startChild(
    'src/main.ts',
    ['serve'],
    { PORT: String(port), HOST: '127.0.0.1', CONVENE_DATA_DIR: dir, CONVENE_LOG_LEVEL: 'warn', CONVENE_PRESENCE_EXPIRY: 'off', ...env },
    /Convene listening/,
    port,
  );
  const printed = (name: string) => new RegExp(`^\\s+${name}\\s+(\\S+)$`, 'm').exec(child.output())?.[1] ?? '';
  return {
    ...child,
    creds: { appId: printed('App ID'), customerId: printed('Customer ID'), customerSecret: printed('Customer Secret') },
    keys: { accessKey: printed('Access Key'), secretKey: printed('Secret Key') },
    async stop() {
      await child.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ; 100 on Linux everywhere). */
const CLK_TCK = 100;

/** CPU seconds (user + system) process `pid` has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces, hence the last ')'); utime and stime are 14 and 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}
