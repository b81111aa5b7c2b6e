// Scale (issue 17 item 5): many connected idle members on ONE Convene process.
// Phase 1: BENCH_SCALE_MEMBERS members (default 50,000) in BENCH_SCALE_ROOMS rooms (default 5,000)
// enter over HTTP and connect their realtime socket; the server's heap (after a forced GC) and RSS
// per member, its CPU while idle, then room info and chat delivery while they are all connected.
// Phase 2: BENCH_SCALE_LARGE_ROOMS rooms (20) of BENCH_SCALE_LARGE_SIZE members (1,000), all
// connected, chat in every room at once: delivery latency, and memory per member.
// Both are cut down to what fits the server's file-descriptor limit, with a line saying so.
//   npm run bench:scale   (BENCH_SCALE_CHAT_ROOMS 100, BENCH_SCALE_MESSAGES 5, BENCH_SCALE_IDLE_SECONDS 30,
//                          BENCH_SCALE_ROOM_INFO 2000, BENCH_SCALE_HOLDERS 4, BENCH_SCALE_TIMEOUT 300 s)
import os from 'node:os';
import { pool } from './lib/clients.ts';
import { Api, type Member } from './lib/scale-http.ts';
import { Fleet, type HolderStats } from './lib/scale-fleet.ts';
import { fdLimit, openFds, startScaleServer, type Memory, type ScaleServer } from './lib/scale-server.ts';
import { latency, TimedSockets, type Latency, type TimedRoom } from './lib/scale-timing.ts';

const env = (name: string, def: number) => Number(process.env[name] ?? def);
const MEMBERS = env('BENCH_SCALE_MEMBERS', 50_000);
const ROOMS = env('BENCH_SCALE_ROOMS', 5_000);
const LARGE_ROOMS = env('BENCH_SCALE_LARGE_ROOMS', 20);
const LARGE_SIZE = env('BENCH_SCALE_LARGE_SIZE', 1_000);
const CHAT_ROOMS = env('BENCH_SCALE_CHAT_ROOMS', 100);
const MESSAGES = env('BENCH_SCALE_MESSAGES', 5);
const IDLE_SECONDS = env('BENCH_SCALE_IDLE_SECONDS', 30);
const ROOM_INFO = env('BENCH_SCALE_ROOM_INFO', 2_000);
const HOLDERS = env('BENCH_SCALE_HOLDERS', 4);
const TIMEOUT_S = env('BENCH_SCALE_TIMEOUT', 300);
/** Descriptors kept free on the server (and this process) for HTTP connections, SQLite, the inspector. */
const SPARE = 500;
/** Sockets per loopback source address (each address has ~28,000 ephemeral ports toward one server port). */
const PER_ADDRESS = 2_500;
const ENTRY_CONCURRENCY = 100;
const ROOM_INFO_CONCURRENCY = 20;
/** Phase 1's chat: rooms chatting at once (a chat's delivery among idle members, not a burst of 100). */
const CHAT_TOGETHER = env('BENCH_SCALE_CHAT_TOGETHER', 5);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const kb = (bytes: number) => (bytes / 1024).toFixed(2);
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const ms = (l: Latency) => `${l.p50.toFixed(1)} / ${l.p99.toFixed(1)} (max ${l.max.toFixed(1)})`;

/** Everything that can go wrong without stopping the run: each makes the exit status 1. */
const failures: string[] = [];
const fail = (what: string, count: number, examples: string[] = []) => {
  if (count > 0) failures.push(`${what}: ${count}${examples.length > 0 ? ` (${examples.slice(0, 3).join('; ')})` : ''}`);
};
/** What the hard timeout must end. */
const live = { server: null as ScaleServer | null, fleet: null as Fleet | null, timed: null as TimedSockets | null };

/** Loopback source addresses, 127.0.0.2 upward, one per PER_ADDRESS sockets. */
function addresses(): () => string {
  let n = 0;
  return () => `127.0.0.${2 + n++}`;
}

/** The largest `rooms × size` that fits `budget` sockets, and the line saying so when cut down. */
function fit(what: string, rooms: number, size: number, budget: number, limit: number) {
  if (rooms * size <= budget) return { rooms, size };
  const cut = size > budget ? { rooms: 1, size: budget } : { rooms: Math.floor(budget / size), size };
  console.log(
    `bench/scale: ${what}: ${int(rooms * size)} members do not fit the server's ${int(limit)} open files ` +
      `(${int(budget)} free for sockets, ${SPARE} kept spare); running ${int(cut.rooms * cut.size)} (${int(cut.rooms)} rooms of ${int(cut.size)}) instead`,
  );
  return cut;
}

/** Enter `size` members in each of `rooms` rooms; one room's entries one after another (so its seq is `size`). */
async function enterAll(api: Api, tag: string, rooms: number, size: number, concurrency: number): Promise<TimedRoom[]> {
  const out: TimedRoom[] = Array.from({ length: rooms }, () => ({ roomId: '', tokens: [] }));
  await pool(out, Math.min(concurrency, rooms), async (room, r) => {
    for (let m = 0; m < size; m++) {
      const e: Member = await api.enter(`${tag}-${r}`, `${tag}-${r}-${m}`);
      room.roomId = e.roomId;
      room.tokens.push(e.userToken);
    }
  });
  return out;
}

/** Socket URLs of these rooms' members, resuming from the room's seq (nothing to catch up). */
const urlsOf = (server: ScaleServer, rooms: TimedRoom[]) =>
  rooms.flatMap((room) => room.tokens.map((t) => `ws://127.0.0.1:${server.port}/v1/realtime?token=${encodeURIComponent(t)}&since=${room.tokens.length}`));

async function settledMemory(server: ScaleServer, waitMs: number): Promise<Memory> {
  await sleep(waitMs);
  return server.memory();
}

interface PhaseOne {
  rooms: number;
  size: number;
  fdLimit: number;
  before: Memory;
  entered: Memory;
  connected: Memory;
  idleCpu: number;
  roomInfo: Latency;
  chat: Latency;
  idleMessages: number;
  seconds: { entries: number; sockets: number };
}

async function phaseOne(): Promise<PhaseOne> {
  const server = (live.server = await startScaleServer());
  const limit = server.fdLimit();
  const perRoom = Math.max(1, Math.round(MEMBERS / ROOMS));
  const { rooms, size } = fit('phase 1', ROOMS, perRoom, server.socketBudget(SPARE), limit);
  const api = new Api(server.url, server.creds, ENTRY_CONCURRENCY);
  const fleet = (live.fleet = await Fleet.start(HOLDERS));
  const timed = (live.timed = new TimedSockets());
  try {
    const before = await settledMemory(server, 1000);
    let t = performance.now();
    let cpu = server.cpuSeconds();
    const all = await enterAll(api, 'p1', rooms, size, ENTRY_CONCURRENCY);
    const entriesS = (performance.now() - t) / 1000;
    const entriesCpu = server.cpuSeconds() - cpu;
    const entered = await settledMemory(server, 1000);
    // The chatting rooms' sockets are timed here; every other socket is held by a child.
    const chatRooms = all.slice(0, Math.min(CHAT_ROOMS, rooms));
    const from = addresses();
    t = performance.now();
    cpu = server.cpuSeconds();
    const [own, bulk] = await Promise.all([
      timed.openAll(urlsOf(server, chatRooms), from, PER_ADDRESS, 50),
      fleet.open(urlsOf(server, all.slice(chatRooms.length)), PER_ADDRESS, from, 25),
    ]);
    const socketsS = (performance.now() - t) / 1000;
    const socketsCpu = server.cpuSeconds() - cpu;
    fail('phase 1 sockets not opened', own.length + bulk.failed, [...own, ...bulk.errors]);
    const held = timed.size + bulk.opened;
    console.log(
      `phase 1: ${int(rooms * size)} members entered in ${entriesS.toFixed(1)} s (server CPU ${entriesCpu.toFixed(1)} s), ` +
        `${int(held)} sockets open in ${socketsS.toFixed(1)} s (server CPU ${socketsCpu.toFixed(1)} s); server holds ${int(server.openFds())} of ${int(limit)} files`,
    );
    const connected = await settledMemory(server, 3000);

    const cpu0 = server.cpuSeconds();
    t = performance.now();
    await sleep(IDLE_SECONDS * 1000);
    const idleCpu = ((server.cpuSeconds() - cpu0) / ((performance.now() - t) / 1000)) * 100;
    const idle = await fleet.stats();
    checkHeld('phase 1 (idle)', idle, timed, held);

    const roomInfo = await roomInfoRound(api, all);
    const chat = await busy('phase 1 chat', server, () => timed.chat(api, chatRooms, MESSAGES, 'p1', 15_000, CHAT_TOGETHER));
    fail('phase 1 chat requests failed', chat.failed.length, chat.failed);
    fail('phase 1 chat deliveries missing after 15 s', chat.missing);
    checkHeld('phase 1 (end)', await fleet.stats(), timed, held);
    return { rooms, size, fdLimit: limit, before, entered, connected, idleCpu, roomInfo, chat: chat.latency, idleMessages: idle.messages, seconds: { entries: entriesS, sockets: socketsS } };
  } finally {
    timed.close();
    await fleet.stop();
    api.close();
    await server.stop();
    live.server = live.fleet = live.timed = null;
  }
}

/**
 * Run `job` and print the CPU the server and this process (the timing clients) used meanwhile: which
 * side a latency was spent on (both share two cores here).
 */
async function busy<T>(what: string, server: ScaleServer, job: () => Promise<T>): Promise<T> {
  const [server0, own0, t0] = [server.cpuSeconds(), process.cpuUsage(), performance.now()];
  const out = await job();
  const own = process.cpuUsage(own0);
  const wall = (performance.now() - t0) / 1000;
  console.log(`${what}: ${wall.toFixed(1)} s wall, server CPU ${(server.cpuSeconds() - server0).toFixed(1)} s, timing clients' CPU ${((own.user + own.system) / 1e6).toFixed(1)} s`);
  return out;
}

/** Every socket still open: none dropped by the server, here or in the holders. */
function checkHeld(when: string, s: HolderStats, timed: TimedSockets, expected: number): void {
  fail(`${when}: sockets closed by the server`, s.dropped + timed.dropped, [`holders' close codes ${JSON.stringify(s.closeCodes)}`]);
  const open = s.open + timed.size - timed.dropped;
  fail(`${when}: sockets missing`, expected - open, [`${open} open, ${expected} opened`]);
}

/** ROOM_INFO room-info reads, each as a different member spread over all rooms, ROOM_INFO_CONCURRENCY at once. */
async function roomInfoRound(api: Api, rooms: TimedRoom[]): Promise<Latency> {
  const total = rooms.reduce((n, r) => n + r.tokens.length, 0);
  const step = Math.max(1, Math.floor(total / ROOM_INFO));
  const callers: { roomId: string; token: string }[] = [];
  for (let i = 0; callers.length < Math.min(ROOM_INFO, total); i += step) {
    const room = rooms[i % rooms.length]!;
    callers.push({ roomId: room.roomId, token: room.tokens[Math.floor(i / rooms.length) % room.tokens.length]! });
  }
  const samples: number[] = [];
  const errors: string[] = [];
  await pool(callers, ROOM_INFO_CONCURRENCY, async ({ roomId, token }) => {
    const t0 = performance.now();
    try {
      await api.roomInfo(roomId, token);
      samples.push(performance.now() - t0);
    } catch (err) {
      errors.push((err as Error).message);
    }
  });
  fail('room info requests failed', errors.length, errors);
  return latency(samples);
}

interface PhaseTwo {
  rooms: number;
  size: number;
  before: Memory;
  connected: Memory;
  chat: Latency;
}

async function phaseTwo(): Promise<PhaseTwo> {
  const server = (live.server = await startScaleServer());
  // Every socket of this phase is timed here: this process's own descriptors bound it too.
  const budget = Math.min(server.socketBudget(SPARE), fdLimit('self') - openFds('self') - SPARE);
  const { rooms, size } = fit('phase 2', LARGE_ROOMS, LARGE_SIZE, budget, server.fdLimit());
  const api = new Api(server.url, server.creds, ENTRY_CONCURRENCY);
  const timed = (live.timed = new TimedSockets());
  try {
    const before = await settledMemory(server, 1000);
    let t = performance.now();
    const all = await enterAll(api, 'p2', rooms, size, rooms);
    const entriesS = (performance.now() - t) / 1000;
    t = performance.now();
    const notOpened = await timed.openAll(urlsOf(server, all), addresses(), PER_ADDRESS, 100);
    fail('phase 2 sockets not opened', notOpened.length, notOpened);
    console.log(`phase 2: ${int(rooms * size)} members entered in ${entriesS.toFixed(1)} s, ${int(timed.size)} sockets open in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const connected = await settledMemory(server, 3000);
    const chat = await busy('phase 2 chat', server, () => timed.chat(api, all, MESSAGES, 'p2', 30_000));
    fail('phase 2 chat requests failed', chat.failed.length, chat.failed);
    fail('phase 2 chat deliveries missing after 30 s', chat.missing);
    fail('phase 2: sockets closed by the server', timed.dropped);
    return { rooms, size, before, connected, chat: chat.latency };
  } finally {
    timed.close();
    api.close();
    await server.stop();
    live.server = live.timed = null;
  }
}

function summary(p1: PhaseOne, p2: PhaseTwo): void {
  const n1 = p1.rooms * p1.size;
  const n2 = p2.rooms * p2.size;
  const per = (a: Memory, b: Memory, n: number) => `${kb((b.heap - a.heap) / n)} / ${kb((b.rss - a.rss) / n)}`;
  console.log(`\nbench/scale: one Convene process, ${os.cpus().length} cores, node ${process.version}; server file limit ${int(p1.fdLimit)}\n`);
  console.log('| figure | value |');
  console.log('|---|---:|');
  console.log(`| phase 1 members asked → run | ${int(MEMBERS)} → ${int(n1)} (${int(p1.rooms)} rooms of ${p1.size}) |`);
  console.log(`| server heap / RSS before entries (after GC), MB | ${mb(p1.before.heap)} / ${mb(p1.before.rss)} |`);
  console.log(`| server heap / RSS with all connected (after GC), MB | ${mb(p1.connected.heap)} / ${mb(p1.connected.rss)} |`);
  console.log(`| heap / RSS per member, entered only, KB | ${per(p1.before, p1.entered, n1)} |`);
  console.log(`| heap / RSS per member, entered and connected, KB | ${per(p1.before, p1.connected, n1)} |`);
  console.log(`| server CPU idle over ${IDLE_SECONDS} s, % of one core | ${p1.idleCpu.toFixed(2)} |`);
  console.log(`| messages to idle sockets while idle (expected 0) | ${int(p1.idleMessages)} |`);
  console.log(`| room info p50 / p99 ms (${int(ROOM_INFO)} members, ${ROOM_INFO_CONCURRENCY} at once) | ${ms(p1.roomInfo)} |`);
  console.log(`| chat delivery p50 / p99 ms (${Math.min(CHAT_ROOMS, p1.rooms)} rooms × ${MESSAGES}, ${CHAT_TOGETHER} rooms at a time, ${int(p1.chat.samples)} receipts) | ${ms(p1.chat)} |`);
  console.log(`| phase 2 members asked → run | ${int(LARGE_ROOMS * LARGE_SIZE)} → ${int(n2)} (${p2.rooms} rooms of ${int(p2.size)}) |`);
  console.log(`| heap / RSS per member, entered and connected, KB | ${per(p2.before, p2.connected, n2)} |`);
  console.log(`| chat delivery p50 / p99 ms (${p2.rooms} rooms × ${MESSAGES} at once, ${int(p2.chat.samples)} receipts) | ${ms(p2.chat)} |`);
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  console.log('');
  console.log(`phase 1: ${int(n1)} of the ${int(MEMBERS)} sockets asked ran on one process${n1 < MEMBERS ? ` (cut to the ${int(p1.fdLimit)} open files this machine allows)` : ''}`);
  console.log(`phase 1: idle CPU ${p1.idleCpu.toFixed(1)} % of one core (target ≤ 10 %) ${verdict(p1.idleCpu <= 10)}`);
  console.log(`phase 1: room info p99 ${p1.roomInfo.p99.toFixed(1)} ms (target < 50 ms) ${verdict(p1.roomInfo.p99 < 50)}`);
  console.log(`phase 1: chat delivery p99 ${p1.chat.p99.toFixed(1)} ms (target < 100 ms) ${verdict(p1.chat.p99 < 100)}`);
}

async function main(): Promise<void> {
  console.log(`bench/scale: phase 1 ${int(MEMBERS)} members in ${int(ROOMS)} rooms; phase 2 ${LARGE_ROOMS} rooms × ${int(LARGE_SIZE)}; hard timeout ${TIMEOUT_S} s`);
  const p1 = await phaseOne();
  const p2 = await phaseTwo();
  summary(p1, p2);
  if (failures.length > 0) {
    console.log(`\nFAILED:\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
  process.exit(0);
}

/** The run stops by itself: past the timeout everything it started is killed. */
const hardStop = setTimeout(() => {
  console.error(`bench/scale: over the ${TIMEOUT_S} s timeout; stopping`);
  live.fleet?.kill();
  live.timed?.close();
  void Promise.race([live.server?.stop(), sleep(5000)]).then(() => process.exit(2));
}, TIMEOUT_S * 1000);
hardStop.unref();

try {
  await main();
} catch (err) {
  console.error('bench/scale:', err);
  live.fleet?.kill();
  live.timed?.close();
  await Promise.race([live.server?.stop(), sleep(5000)]);
  process.exit(1);
}
