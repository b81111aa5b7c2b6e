// The real server as a child process (`node --import tsx src/main.ts serve`, or `npm start`), for
// tests that kill it, and one-shot runs of the `convene` command.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface ServerProcess {
  /** The spawned process: node itself, or npm when started `via: 'npm'`. */
  child: ChildProcess;
  port: number;
  url: string;
  stdout: () => string;
  /** Values printed as `  Name   value` lines (App ID, Customer ID, …). */
  printed: (name: string) => string | undefined;
  kill: (signal?: NodeJS.Signals) => Promise<void>;
}

export interface SpawnServerOptions {
  /** `npm` runs `npm start` as an operator would; its child is then node (or a shell). */
  via?: 'node' | 'npm';
  /** In its own process group, as a terminal's foreground job is. */
  detached?: boolean;
  /** Another checkout to run (a previous release); this one by default. */
  cwd?: string;
}

export async function spawnServer(env: Record<string, string>, opts: SpawnServerOptions = {}): Promise<ServerProcess> {
  const port = await freePort();
  const [command, args] = opts.via === 'npm' ? ['npm', ['start']] : [process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve']];
  const child = spawn(command, args, {
    cwd: opts.cwd ?? root,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CONVENE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited: ${out}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok && out.includes('listening')) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    port,
    url,
    stdout: () => out,
    printed: (name) => new RegExp(`^\\s+${name}\\s+(\\S+)$`, 'm').exec(out)?.[1],
    kill: (signal = 'SIGKILL') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}

/**
 * A server on a data directory of its own (SQLite), with `settings` besides, for the operator's
 * commands to run beside it with the same `env`: killed, and the directory removed, when the test
 * ends.
 */
export async function serverOnOwnDir(t: TestContext, prefix: string, settings: Record<string, string> = {}): Promise<{ server: ServerProcess; env: Record<string, string> }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let server: ServerProcess | null = null;
  t.after(async () => {
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const env = { CONVENE_DATA_DIR: dir, CONVENE_PRESENCE_EXPIRY: 'off', ...settings };
  server = await spawnServer(env);
  return { server, env };
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Killed after `timeoutMs` (e.g. a command that started a server instead of exiting). */
  timedOut: boolean;
}

export interface RunOptions {
  /**
   * `node --import tsx src/cli.ts` (what `npm start` execs), `src/main.ts` (the older entry, still
   * supported), `npm start --`, the package's bin through `npx convene` (never installing one), or
   * that bin run by node itself (`node bin/convene.js`).
   */
  via?: 'node' | 'main' | 'npm' | 'npx' | 'bin';
  timeoutMs?: number;
  spawn?: Pick<SpawnOptions, 'uid' | 'gid'>;
}

/** Runs `convene ARGS` to its end. PORT is a free port: a command that wrongly serves collides with nothing. */
export async function runConvene(args: string[], env: Record<string, string>, opts: RunOptions = {}): Promise<Finished> {
  const port = await freePort();
  const via = opts.via ?? 'node';
  const [command, prefix] =
    via === 'npm'
      ? ['npm', ['start', '--']]
      : via === 'npx'
        ? ['npx', ['--yes=false', 'convene']]
        : via === 'bin'
          ? [process.execPath, ['bin/convene.js']]
          : [process.execPath, ['--import', 'tsx', `src/${via === 'main' ? 'main' : 'cli'}.ts`]];
  const child = spawn(command, [...prefix, ...args], {
    cwd: root,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CONVENE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts.spawn,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    for (const pid of descendants(child.pid!)) killQuietly(pid);
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? 20_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  return { code, signal, stdout, stderr, timedOut };
}

/** npm's own banner and warnings, which are not the command's output. */
export function withoutNpmNoise(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/^> /.test(l) && !/^npm (warn|notice)/.test(l))
    .join('\n')
    .trim();
}

/** Every process below `pid` (Linux /proc), each before its own children. */
export function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      children.push(...readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    }
  } catch {
    children = [];
  }
  return children.flatMap((c) => [c, ...descendants(c)]);
}

/** True while `pid` runs; a zombie (exited, not yet reaped) does not count. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

/** True when nothing listens on 127.0.0.1:port (binding it succeeds). */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
