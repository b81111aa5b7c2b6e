// Memory per idle connected member after a full GC, against raw `ws` measured the same way: what
// `bench:fanout`'s RSS figure cannot tell apart (RSS keeps the heap that the garbage of 10,000
// entries grew). Convene: 10,000 members enter 1,000 rooms and connect; raw ws: 10,000 sockets
// join 1,000 rooms. Each server's heap is collected twice through its inspector, before and after.
// A tree given as the first argument is measured instead of this one (A/B against a commit's worktree).
//   npm run bench:memory [-- /path/to/other/tree]      (BENCH_IDLE, BENCH_IDLE_ROOMS to resize)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { freePort, root as here, startChild } from './lib/proc.ts';
import { openWs, pool } from './lib/clients.ts';
import { openInspector } from './lib/inspector.ts';

const tree = process.argv[2] ?? here;
const IDLE = Number(process.env.BENCH_IDLE ?? 10_000);
const ROOMS = Number(process.env.BENCH_IDLE_ROOMS ?? 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Idle members read nothing. */
const ignore = () => {};

interface Inspected {
  output: () => string;
  /** process.memoryUsage() after two full collections. */
  memory(): Promise<NodeJS.MemoryUsage>;
  stop(): Promise<void>;
}

/** A child (startChild) with its inspector open: this process collects its garbage before measuring. */
async function inspected(cwd: string, script: string, args: string[], env: Record<string, string>, ready: RegExp, port: number): Promise<Inspected> {
  const child = await startChild(script, args, env, ready, port, { node: ['--inspect=127.0.0.1:0'], cwd });
  const inspector = await openInspector(child.output());
  return {
    output: child.output,
    memory: () => inspector.memory(),
    async stop() {
      inspector.close();
      await child.stop();
    },
  };
}

type Figures = { heap: number; rss: number };

/**
 * `connect(sockets, rooms, prefix)` brings `rooms` rooms of IDLE / ROOMS members each. A warm-up
 * round first (a fiftieth of the rooms, kept connected): the code that the first members compile
 * and the first caches are the server's, not the measured members' (a cold "before" charged about
 * 0.2 KB per member of one-time code to Convene).
 */
async function measure(server: Inspected, connect: (sockets: WebSocket[], rooms: number, prefix: string) => Promise<void>): Promise<Figures> {
  const sockets: WebSocket[] = [];
  await connect(sockets, Math.max(1, Math.ceil(ROOMS / 50)), 'warm');
  await sleep(1000);
  const before = await server.memory();
  try {
    await connect(sockets, ROOMS, 'idle');
    await sleep(3000);
    const after = await server.memory();
    return { heap: (after.heapUsed - before.heapUsed) / IDLE / 1024, rss: (after.rss - before.rss) / IDLE / 1024 };
  } finally {
    for (const ws of sockets) ws.terminate();
    await server.stop();
  }
}

async function convene(): Promise<Figures> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'convene-bench-memory-'));
  const env = { PORT: String(port), HOST: '127.0.0.1', CONVENE_DATA_DIR: dir, CONVENE_LOG_LEVEL: 'warn', CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_MAX_CONNECTIONS_PER_IP: '0' };
  const server = await inspected(tree, 'src/main.ts', ['serve'], env, /Convene listening/, port);
  const printed = (n: string) => new RegExp(`^\\s+${n}\\s+(\\S+)$`, 'm').exec(server.output())![1]!;
  const appId = printed('App ID');
  const auth = `Basic ${Buffer.from(`${printed('Customer ID')}:${printed('Customer Secret')}`).toString('base64')}`;
  const base = `http://127.0.0.1:${port}`;
  try {
    return await measure(server, (sockets, rooms, prefix) =>
      pool(Array.from({ length: rooms }, (_, r) => r), 25, async (r) => {
        const tokens: string[] = [];
        for (let m = 0; m < IDLE / ROOMS; m++) {
          const body = JSON.stringify({ roomName: `R${r}`, roomUuid: `${prefix}-${r}`, userName: `M${m}`, userUuid: `${prefix}-${r}-${m}` });
          const res = await fetch(`${base}/apps/${appId}/v1/room/entry`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body });
          tokens.push(((await res.json()) as { data: { userToken: string } }).data.userToken);
        }
        for (const t of tokens) sockets.push(await openWs(`ws://127.0.0.1:${port}/v1/realtime?token=${encodeURIComponent(t)}`, ignore));
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function rawWs(): Promise<Figures> {
  const port = await freePort();
  // Not /listening/: the inspector's "Debugger listening" line comes first.
  const server = await inspected(here, 'bench/lib/ws-baseline.ts', [], { PORT: String(port) }, /ws baseline listening/, port);
  return measure(server, (sockets, rooms, prefix) =>
    pool(Array.from({ length: (rooms * IDLE) / ROOMS }, (_, i) => i), 50, async (i) => {
      sockets.push(await openWs(`ws://127.0.0.1:${port}/?room=${prefix}-${i % rooms}`, ignore));
    }),
  );
}

const ws = await rawWs();
const c = await convene();
console.log(`\nbench/memory: ${IDLE} idle connected members in ${ROOMS} rooms, after a full GC (${tree})\n`);
console.log('| server | heap per member KB | RSS per member KB |');
console.log('|---|---:|---:|');
console.log(`| raw ws (baseline) | ${ws.heap.toFixed(2)} | ${ws.rss.toFixed(2)} |`);
console.log(`| Convene | ${c.heap.toFixed(2)} | ${c.rss.toFixed(2)} |`);
const heapRatio = c.heap / ws.heap;
console.log(`\nConvene / raw ws heap per member after GC: ${heapRatio.toFixed(2)}× (target ≤ 1.2×) ${heapRatio <= 1.2 ? 'PASS' : 'MISS'}`);
console.log(`Convene / raw ws RSS per member after GC: ${(c.rss / ws.rss).toFixed(2)}× (information)`);
process.exit(0);
