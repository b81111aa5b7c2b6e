// Fan-out benchmark: one room of 1,000 connected members while the host toggles mute-all 200 times,
// against a raw `ws` broadcast and a Socket.IO room broadcast of the same payload in the same run;
// then 10,000 idle members across 1,000 rooms: server RSS per connected member.
//   npm run bench:fanout     (BENCH_MEMBERS, BENCH_TOGGLES, BENCH_WARMUP_TOGGLES, BENCH_TRACE=1, BENCH_ONLY=convene|latency, BENCH_TRIGGER=fetch, BENCH_IDLE, BENCH_IDLE_ROOMS to resize; BENCH_SETTLE, ms; BENCH_RESUME=0)
import os from 'node:os';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import WebSocket from 'ws';
import type { Socket } from 'socket.io-client';
import { freePort, percentile, startChild, startConveneChild } from './lib/proc.ts';
import { openSio, openWs, pool } from './lib/clients.ts';

const MEMBERS = Number(process.env.BENCH_MEMBERS ?? 1000);
const TOGGLES = Number(process.env.BENCH_TOGGLES ?? 200);
/**
 * Toggles made and not measured before the measured ones, by every server alike: the first few
 * run cold code (the JIT, the buffers) and, at 200 toggles, the three slowest toggles were the first
 * three in every server — they alone set the p99 (BENCH_TRACE=1 lists the slowest).
 */
const WARMUP_TOGGLES = Number(process.env.BENCH_WARMUP_TOGGLES ?? 20);
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

/** Run `jobs` with at most `n` at a time. */
interface Latency {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

/**
 * Toggle `WARMUP_TOGGLES + TOGGLES` times: `trigger(i)` starts toggle i; every member's receipt of
 * toggle i is timed from that moment (one clock: this process). The next toggle starts once all
 * have received it. The warm-up's toggles are not counted.
 */
async function measureToggles(trigger: (i: number) => Promise<void> | void, arrivals: { wait: (i: number) => Promise<number[]> }): Promise<Latency> {
  const all: number[] = [];
  /** Per measured toggle: its index, when its answer (if any) came, its first and its last receipt, ms. */
  const trace: number[][] = [];
  for (let i = 0; i < WARMUP_TOGGLES + TOGGLES; i++) {
    const done = arrivals.wait(i);
    const t0 = performance.now();
    await trigger(i);
    const answered = performance.now() - t0;
    const times = await done;
    if (i < WARMUP_TOGGLES) continue;
    for (const t of times) all.push(t - t0);
    trace.push([i, answered, Math.min(...times) - t0, Math.max(...times) - t0]);
  }
  if (process.env.BENCH_TRACE) printTrace(trace);
  all.sort((a, b) => a - b);
  return { p50: percentile(all, 50), p99: percentile(all, 99), max: all.at(-1)!, samples: all.length };
}

/** BENCH_TRACE=1: where each toggle's time went, and the slowest toggles. */
function printTrace(trace: number[][]): void {
  for (const [k, name] of [[1, 'trigger returned'], [2, 'first receipt'], [3, 'last receipt']] as const) {
    const c = trace.map((r) => r[k]!).sort((a, b) => a - b);
    const at = (q: number) => c[Math.min(c.length - 1, Math.floor(c.length * q))]!.toFixed(2);
    console.log(`  ${name}: p50 ${at(0.5)} p90 ${at(0.9)} p99 ${at(0.99)} max ${c.at(-1)!.toFixed(2)} ms`);
  }
  const slowest = [...trace].sort((a, b) => b[3]! - a[3]!).slice(0, 8);
  console.log(`  slowest toggles (index: returned / first / last ms): ${slowest.map((r) => `${r[0]}: ${r.slice(1).map((x) => x.toFixed(1)).join(' / ')}`).join(', ')}`);
}

/** Collects receipt times per toggle index, resolving when all `expected` members have it. */
function arrivalBook(expected: number) {
  const times = new Map<number, number[]>();
  const waiters = new Map<number, (t: number[]) => void>();
  return {
    arrive(i: number) {
      let list = times.get(i);
      if (!list) times.set(i, (list = []));
      list.push(performance.now());
      if (list.length === expected) waiters.get(i)?.(list);
    },
    wait(i: number) {
      return new Promise<number[]>((resolve) => {
        const list = times.get(i);
        if (list && list.length === expected) resolve(list);
        else waiters.set(i, resolve);
      });
    },
  };
}

async function conveneFanout(): Promise<Latency> {
  const c = await startConveneChild(SERVER_ENV);
  const sockets: WebSocket[] = [];
  try {
    const { appId, customerId, customerSecret } = c.creds;
    const auth = `Basic ${Buffer.from(`${customerId}:${customerSecret}`).toString('base64')}`;
    const api = (method: string, path: string, body?: unknown, token?: string) =>
      fetch(`${c.url}/apps/${appId}/v1/room${path}`, {
        method,
        headers: { authorization: auth, 'content-type': 'application/json', ...(token ? { token } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then((r) => r.json() as Promise<{ code: number; data: { roomId: string; userToken: string } }>);
    const tokens: string[] = [];
    let roomId = '';
    for (let i = 0; i < MEMBERS; i++) {
      const r = await api('POST', '/entry', { roomName: 'Fanout', roomUuid: 'fanout', userName: `M${i}`, userUuid: `m${i}` });
      if (r.code !== 0) throw new Error(JSON.stringify(r));
      tokens.push(r.data.userToken);
      roomId = r.data.roomId;
    }
    const book = arrivalBook(MEMBERS);
    // Members connect after the entries, resuming from the current seq (no snapshot to download);
    // BENCH_RESUME=0: without `since`, each receiving a snapshot first.
    const seq = MEMBERS;
    const since = process.env.BENCH_RESUME === '0' ? '' : `&since=${seq}`;
    await pool(tokens, 50, async (token) => {
      const ws = await openWs(`${c.url.replace('http', 'ws')}/v1/realtime?token=${encodeURIComponent(token)}${since}`, (text) => {
        const m = JSON.parse(text) as { cmd: number; seq: number };
        if (m.cmd === 3) book.arrive(m.seq - seq - 1);
      });
      sockets.push(ws);
    });
    const host = tokens[0]!;
    // BENCH_SETTLE=ms: wait after the sockets opened, so that their resumes are over before the first
    // toggle (a diagnostic: by default the toggles start at once, as live traffic would).
    if (process.env.BENCH_SETTLE) await new Promise((r) => setTimeout(r, Number(process.env.BENCH_SETTLE)));
    const toggle = process.env.BENCH_TRIGGER === 'fetch' ? api : lightPost(c.url, appId, auth);
    return await measureToggles(async (i) => {
      const r = await toggle('POST', `/${roomId}`, { muteAllAudio: i % 2 === 0 ? 1 : 0 }, host);
      if (r.code !== 0) throw new Error(JSON.stringify(r));
    }, book);
  } finally {
    for (const ws of sockets) ws.terminate();
    await c.stop();
  }
}

/**
 * The host's calls during the toggles, on node:http with one kept-alive connection: lighter than
 * fetch() (undici) for this process, which also receives the 1,000 frames. BENCH_TRIGGER=fetch
 * measures with fetch; two A/B runs each read the same within the noise (p99 16.6 / 17.1 ms with
 * fetch, 15.2 / 24.0 ms without).
 */
function lightPost(base: string, appId: string, auth: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return (method: string, path: string, body: unknown, token: string) =>
    new Promise<{ code: number }>((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = http.request(`${base}/apps/${appId}/v1/room${path}`, {
        method,
        agent,
        headers: { authorization: auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), token },
      });
      req.once('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.once('end', () => resolve(JSON.parse(text) as { code: number }));
      });
      req.once('error', reject);
      req.end(data);
    });
}

/** The same payload Convene sends for a mute-all toggle. */
const payload = (i: number) =>
  JSON.stringify({ type: 'channel', cmd: 3, version: 1, timestamp: Date.now(), seq: 1001 + i, data: { muteAllChat: 0, muteAllAudio: i % 2 === 0 ? 1 : 0, state: 1 } });

async function wsFanout(): Promise<Latency> {
  const port = await freePort();
  const srv = await startChild('bench/lib/ws-baseline.ts', [], { PORT: String(port) }, /listening/, port);
  const sockets: WebSocket[] = [];
  try {
    const book = arrivalBook(MEMBERS);
    await pool(Array.from({ length: MEMBERS }), 50, async () => {
      sockets.push(await openWs(`ws://127.0.0.1:${port}/?room=fanout`, (text) => book.arrive((JSON.parse(text) as { seq: number }).seq - 1001)));
    });
    const control = await openWs(`ws://127.0.0.1:${port}/?room=control`, () => {});
    sockets.push(control);
    return await measureToggles((i) => control.send(JSON.stringify({ broadcast: 'fanout', payload: payload(i) })), book);
  } finally {
    for (const ws of sockets) ws.terminate();
    await srv.stop();
  }
}

async function sioFanout(): Promise<Latency> {
  const port = await freePort();
  const srv = await startChild('bench/lib/sio-baseline.ts', [], { PORT: String(port) }, /listening/, port);
  const sockets: Socket[] = [];
  try {
    const book = arrivalBook(MEMBERS);
    await pool(Array.from({ length: MEMBERS }), 50, async () => {
      sockets.push(await openSio(port, 'fanout', (text) => book.arrive((JSON.parse(text) as { seq: number }).seq - 1001)));
    });
    const control = await openSio(port, 'control', () => {});
    sockets.push(control);
    return await measureToggles((i) => void control.emit('broadcast', { room: 'fanout', payload: payload(i) }), book);
  } finally {
    for (const s of sockets) s.disconnect();
    await srv.stop();
  }
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
  const convene = await conveneFanout();
  // BENCH_ONLY=convene: Convene's latency alone (a quick A/B of the realtime path).
  if (process.env.BENCH_ONLY === 'convene') return console.log(`Convene p50 ${ms(convene.p50)} p99 ${ms(convene.p99)} max ${ms(convene.max)}`);
  const raw = await wsFanout();
  const sio = await sioFanout();
  console.log('\nDelivery latency to every member (ms, from the trigger to each receipt; next toggle after all received)');
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
