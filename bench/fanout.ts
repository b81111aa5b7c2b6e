// Fan-out benchmark: one room of 1,000 connected members while the host toggles mute-all 200 times,
// against a raw `ws` broadcast and a Socket.IO room broadcast of the same payload in the same run;
// then 10,000 idle members across 1,000 rooms: server RSS per connected member.
//   npm run bench:fanout     (BENCH_MEMBERS, BENCH_TOGGLES, BENCH_WARMUP_TOGGLES, BENCH_BLOCK, BENCH_INTERLEAVE=0, BENCH_TRACE=1, BENCH_ONLY=convene|latency, BENCH_TRIGGER=fetch, BENCH_IDLE, BENCH_IDLE_ROOMS to resize; BENCH_SETTLE, ms; BENCH_RESUME=0)
import os from 'node:os';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import type { Socket } from 'socket.io-client';
import { freePort, percentile, startChild, startConveneChild } from './lib/proc.ts';
import { openSio, openWs, pool } from './lib/clients.ts';
import { conveneTarget, sioTarget, wsTarget, type Target } from './lib/fanout-targets.ts';

const MEMBERS = Number(process.env.BENCH_MEMBERS ?? 1000);
const TOGGLES = Number(process.env.BENCH_TOGGLES ?? 200);
/**
 * Toggles made and not measured before the measured ones, by every server alike: the first few
 * run cold code (the JIT, the buffers) and, at 200 toggles, the three slowest toggles were the first
 * three in every server — they alone set the p99 (BENCH_TRACE=1 lists the slowest).
 */
const WARMUP_TOGGLES = Number(process.env.BENCH_WARMUP_TOGGLES ?? 20);
/** Measured toggles per turn when the servers take turns (measureAll), and the unmeasured ones before each. */
const BLOCK = Number(process.env.BENCH_BLOCK ?? 20);
const BLOCK_WARMUP = 2;
const IDLE = Number(process.env.BENCH_IDLE ?? 10_000);
const IDLE_ROOMS = Number(process.env.BENCH_IDLE_ROOMS ?? 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Every client here connects from 127.0.0.1: the per-address connection cap (default 1,000) is off. */
const SERVER_ENV = { CONVENE_MAX_CONNECTIONS_PER_IP: '0' };

/** Resident memory of a process, bytes. */
function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

interface Latency {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

/** The measured toggles of one server: every member's receipt, timed from its toggle's start. */
class Tally {
  readonly all: number[] = [];
  /** Per measured toggle: its index, when its answer (if any) came, its first and its last receipt, ms. */
  readonly trace: number[][] = [];

  result(): Latency {
    const all = [...this.all].sort((a, b) => a - b);
    return { p50: percentile(all, 50), p99: percentile(all, 99), max: all.at(-1)!, samples: all.length };
  }
}

/**
 * `count` toggles of `t`, one after another: every member's receipt of a toggle is timed from the
 * moment it starts (one clock: this process), and the next starts once all have it. Counted in
 * `tally` unless it is null (a warm-up).
 */
async function toggles(t: Target, count: number, tally: Tally | null): Promise<void> {
  for (let n = 0; n < count; n++) {
    const i = t.next++;
    const done = t.arrivals.wait(i);
    const t0 = performance.now();
    await t.trigger(i);
    const answered = performance.now() - t0;
    const times = await done;
    if (!tally) continue;
    for (const x of times) tally.all.push(x - t0);
    tally.trace.push([i, answered, Math.min(...times) - t0, Math.max(...times) - t0]);
  }
}

/**
 * Each server's WARMUP_TOGGLES, then its TOGGLES measured. Interleaved (the default with several
 * servers), every server is up at once and the measured toggles go in blocks of BLOCK, the servers
 * taking turns (the first of each round moves on by one), each block after BLOCK_WARMUP unmeasured
 * toggles: this VM's speed drifts by ±20 % within minutes, and one server measured after the other
 * met another machine (Convene's p99 ratio ranged 0.72–1.49× in one session so). BENCH_INTERLEAVE=0:
 * one server after the other, as until 2026-12-07.
 */
async function measureAll(targets: Target[]): Promise<Latency[]> {
  const tallies = targets.map(() => new Tally());
  for (const t of targets) await toggles(t, WARMUP_TOGGLES, null);
  if (targets.length === 1 || process.env.BENCH_INTERLEAVE === '0') {
    for (const [k, t] of targets.entries()) await toggles(t, TOGGLES, tallies[k]!);
  } else {
    for (let round = 0; round * BLOCK < TOGGLES; round++) {
      for (let j = 0; j < targets.length; j++) {
        const k = (round + j) % targets.length;
        await toggles(targets[k]!, BLOCK_WARMUP, null);
        await toggles(targets[k]!, Math.min(BLOCK, TOGGLES - round * BLOCK), tallies[k]!);
      }
    }
  }
  if (process.env.BENCH_TRACE) for (const [k, t] of targets.entries()) printTrace(t.name, tallies[k]!.trace);
  return tallies.map((t) => t.result());
}

/** BENCH_TRACE=1: where each toggle's time went, and the slowest toggles. */
function printTrace(name: string, trace: number[][]): void {
  console.log(`  ${name}:`);
  for (const [k, what] of [[1, 'trigger returned'], [2, 'first receipt'], [3, 'last receipt']] as const) {
    const c = trace.map((r) => r[k]!).sort((a, b) => a - b);
    const at = (q: number) => c[Math.min(c.length - 1, Math.floor(c.length * q))]!.toFixed(2);
    console.log(`    ${what}: p50 ${at(0.5)} p90 ${at(0.9)} p99 ${at(0.99)} max ${c.at(-1)!.toFixed(2)} ms`);
  }
  const slowest = [...trace].sort((a, b) => b[3]! - a[3]!).slice(0, 8);
  console.log(`    slowest toggles (index: returned / first / last ms): ${slowest.map((r) => `${r[0]}: ${r.slice(1).map((x) => x.toFixed(1)).join(' / ')}`).join(', ')}`);
}

interface Memory {
  base: number;
  loaded: number;
  perMember: number;
}

/**
 * The resident memory once the server has been quiet for 9-10 s, the same for every server. Convene
 * gives its heap's empty pages back after 5 quiet seconds (src/ops/heap.ts; the pause is up to a
 * few hundred ms): read at 3-4 s, as until 2026-12-07, its figures would be those of the garbage
 * that 10,000 entries left.
 */
async function settleRss(pid: number): Promise<number> {
  await sleep(9000);
  const a = rss(pid);
  await sleep(1000);
  return Math.min(a, rss(pid));
}

async function conveneIdle(): Promise<Memory> {
  const c = await startConveneChild(SERVER_ENV);
  const sockets: WebSocket[] = [];
  try {
    const base = await settleRss(c.proc.pid!);
    const { appId, customerId, customerSecret } = c.creds;
    const auth = `Basic ${Buffer.from(`${customerId}:${customerSecret}`).toString('base64')}`;
    const perRoom = IDLE / IDLE_ROOMS;
    await pool(Array.from({ length: IDLE_ROOMS }, (_, r) => r), 25, async (r) => {
      const tokens: string[] = [];
      for (let m = 0; m < perRoom; m++) {
        const res = await fetch(`${c.url}/apps/${appId}/v1/room/entry`, {
          method: 'POST',
          headers: { authorization: auth, 'content-type': 'application/json' },
          body: JSON.stringify({ roomName: `R${r}`, roomUuid: `idle-${r}`, userName: `M${m}`, userUuid: `idle-${r}-${m}` }),
        });
        tokens.push(((await res.json()) as { data: { userToken: string } }).data.userToken);
      }
      for (const token of tokens) {
        sockets.push(await openWs(`${c.url.replace('http', 'ws')}/v1/realtime?token=${encodeURIComponent(token)}&since=${perRoom}`, () => {}));
      }
    });
    const loaded = await settleRss(c.proc.pid!);
    return { base, loaded, perMember: (loaded - base) / IDLE };
  } finally {
    for (const ws of sockets) ws.terminate();
    await c.stop();
  }
}

async function wsIdle(): Promise<Memory> {
  const port = await freePort();
  const srv = await startChild('bench/lib/ws-baseline.ts', [], { PORT: String(port) }, /listening/, port);
  const sockets: WebSocket[] = [];
  try {
    const base = await settleRss(srv.proc.pid!);
    await pool(Array.from({ length: IDLE }, (_, i) => i), 50, async (i) => {
      sockets.push(await openWs(`ws://127.0.0.1:${port}/?room=idle-${i % IDLE_ROOMS}`, () => {}));
    });
    const loaded = await settleRss(srv.proc.pid!);
    return { base, loaded, perMember: (loaded - base) / IDLE };
  } finally {
    for (const ws of sockets) ws.terminate();
    await srv.stop();
  }
}

async function sioIdle(): Promise<Memory> {
  const port = await freePort();
  const srv = await startChild('bench/lib/sio-baseline.ts', [], { PORT: String(port) }, /listening/, port);
  const sockets: Socket[] = [];
  try {
    const base = await settleRss(srv.proc.pid!);
    await pool(Array.from({ length: IDLE }, (_, i) => i), 50, async (i) => {
      sockets.push(await openSio(port, `idle-${i % IDLE_ROOMS}`, () => {}));
    });
    const loaded = await settleRss(srv.proc.pid!);
    return { base, loaded, perMember: (loaded - base) / IDLE };
  } finally {
    for (const s of sockets) s.disconnect();
    await srv.stop();
  }
}

const ms = (n: number) => n.toFixed(2);
const kb = (n: number) => (n / 1024).toFixed(1);

async function main() {
  console.log(`bench/fanout: ${os.cpus().length} cores, node ${process.version}; ${MEMBERS} members × ${TOGGLES} toggles after ${WARMUP_TOGGLES} unmeasured; ${IDLE} idle members in ${IDLE_ROOMS} rooms`);
  // BENCH_ONLY=convene: Convene's latency alone (a quick A/B of the realtime path).
  const only = process.env.BENCH_ONLY === 'convene';
  const targets: Target[] = [];
  let convene: Latency, raw: Latency, sio: Latency;
  try {
    // Convene's last, and its warm-up first: its sockets' resumes are still going on as its toggles
    // start, as when it was measured alone (BENCH_SETTLE waits for them to end).
    if (!only) targets.push(await wsTarget(MEMBERS), await sioTarget(MEMBERS));
    targets.unshift(await conveneTarget(MEMBERS, SERVER_ENV));
    [convene, raw, sio] = (await measureAll(targets)) as [Latency, Latency, Latency];
  } finally {
    for (const t of targets) await t.close();
  }
  if (only) return console.log(`Convene p50 ${ms(convene.p50)} p99 ${ms(convene.p99)} max ${ms(convene.max)}`);
  const style = process.env.BENCH_INTERLEAVE === '0' ? 'one server after the other' : `the servers taking turns, ${BLOCK} toggles each`;
  console.log(`\nDelivery latency to every member (ms, from the trigger to each receipt; next toggle after all received; ${style})`);
  console.log('| server | p50 | p99 | max | samples |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, l] of [['Convene (HTTP mute-all → commit → fan-out)', convene], ['raw ws broadcast', raw], ['Socket.IO room broadcast', sio]] as const) {
    console.log(`| ${name} | ${ms(l.p50)} | ${ms(l.p99)} | ${ms(l.max)} | ${l.samples} |`);
  }
  const vsRaw = convene.p99 / raw.p99;
  console.log(`\nConvene p99 / raw ws p99: ${vsRaw.toFixed(2)}× (target ≤ 1.1×) ${vsRaw <= 1.1 ? 'PASS' : 'MISS'}`);
  console.log(`Convene p99 / Socket.IO p99: ${(convene.p99 / sio.p99).toFixed(2)}× (target < 1) ${convene.p99 < sio.p99 ? 'PASS' : 'MISS'}`);
  // BENCH_ONLY=latency: the latencies alone (the other measurement style, BENCH_RESUME=0, needs no memory run).
  if (process.env.BENCH_ONLY === 'latency') process.exit(0);

  const cm = await conveneIdle();
  const wm = await wsIdle();
  const sm = await sioIdle();
  console.log('\nServer RSS with idle connected members');
  console.log('| server | RSS before | RSS with members | per member |');
  console.log('|---|---:|---:|---:|');
  for (const [name, m] of [['Convene', cm], ['raw ws', wm], ['Socket.IO', sm]] as const) {
    console.log(`| ${name} | ${kb(m.base / 1024)} MB | ${kb(m.loaded / 1024)} MB | ${kb(m.perMember)} KB |`);
  }
  const memRatio = cm.perMember / wm.perMember;
  console.log(`\nConvene / raw ws per member: ${memRatio.toFixed(2)}× (target ≤ 1.2×) ${memRatio <= 1.2 ? 'PASS' : 'MISS'}`);
  process.exit(0);
}

await main();
