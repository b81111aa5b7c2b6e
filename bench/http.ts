// HTTP benchmark: Convene's room-info reads (E2) and entries (E1) against a bare Fastify route
// measured in the same run on the same machine. Each server runs alone in a child process; the
// load generator (autocannon) runs in this process. Room info is read as every one of the 2,000
// members of 200 rooms in turn.
//   npm run bench:http            (BENCH_DURATION=seconds, BENCH_CONNECTIONS=n to change the load)
import { envelopeSampler } from './lib/clients.ts';
import autocannon from 'autocannon';
import os from 'node:os';
import { cpuSeconds, freePort, startChild, startConveneChild } from './lib/proc.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const WARMUP = 2;
const ROOMS = 200;
const MEMBERS = 10;
const ENTRY_ROOMS = 500;
const ONLY = process.env.BENCH_ONLY;

interface Figures {
  name: string;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  requests: number;
  non2xx: number;
  badEnvelopes: number;
  checked: number;
  /** The server's CPU time (user + system) per answered request, µs. */
  cpuUs: number;
}

type Req = { method?: string; path?: string; headers?: Record<string, string>; body?: string };

/**
 * Warm up, then measure; every 25th body is decoded and must carry code 0. Requests are set up
 * per connection (not per request) to keep the load generator's own CPU use low: it shares the
 * machine's 2 cores with the server.
 */
async function measure(name: string, url: string, pid: number, perConnection: () => Req[], idReplacement = false, duration = DURATION, warmup = WARMUP): Promise<Figures> {
  const { counts, onResponse } = envelopeSampler();
  const run = (duration: number) =>
    autocannon({
      url,
      connections: CONNECTIONS,
      duration,
      idReplacement,
      setupClient: (client: { setRequests(r: unknown[]): void }) =>
        client.setRequests(perConnection().map((r) => Object.assign(r, { onResponse }))),
    } as unknown as autocannon.Options);
  if (warmup > 0) await run(warmup);
  counts.checked = 0;
  counts.bad = 0;
  const cpu0 = cpuSeconds(pid);
  const r = await run(duration);
  const cpu = cpuSeconds(pid) - cpu0;
  return {
    cpuUs: (cpu * 1e6) / Math.max(1, r.requests.total),
    name,
    rps: r.requests.average,
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    max: r.latency.max,
    requests: r.requests.total,
    non2xx: r.non2xx + r.errors + r.timeouts,
    badEnvelopes: counts.bad,
    checked: counts.checked,
  };
}

/** Slices of the runs put together: rates over the whole time, latency percentiles averaged. */
function merge(name: string, slices: Figures[]): Figures {
  const mean = (k: 'p50' | 'p90' | 'p99') => Math.round((slices.reduce((a, f) => a + f[k], 0) / slices.length) * 10) / 10;
  const sum = (k: 'requests' | 'non2xx' | 'badEnvelopes' | 'checked') => slices.reduce((a, f) => a + f[k], 0);
  return {
    name,
    rps: slices.reduce((a, f) => a + f.rps, 0) / slices.length,
    p50: mean('p50'),
    p90: mean('p90'),
    p99: mean('p99'),
    max: Math.max(...slices.map((f) => f.max)),
    requests: sum('requests'),
    non2xx: sum('non2xx'),
    badEnvelopes: sum('badEnvelopes'),
    checked: sum('checked'),
    cpuUs: slices.reduce((a, f) => a + f.cpuUs * f.requests, 0) / Math.max(1, sum('requests')),
  };
}

async function populate(base: string, appId: string, auth: string) {
  const sessions: { roomId: string; token: string }[] = [];
  const jobs: (() => Promise<void>)[] = [];
  for (let r = 0; r < ROOMS; r++) {
    for (let m = 0; m < MEMBERS; m++) {
      jobs.push(async () => {
        const res = await fetch(`${base}/apps/${appId}/v1/room/entry`, {
          method: 'POST',
          headers: { authorization: auth, 'content-type': 'application/json' },
          body: JSON.stringify({ roomName: `Room ${r}`, roomUuid: `room-${r}`, userName: `Member ${m}`, userUuid: `room-${r}-m${m}`, enableAudio: 1, enableVideo: 1 }),
        });
        const env = (await res.json()) as { code: number; data: { roomId: string; userToken: string } };
        if (env.code !== 0) throw new Error(`populate: ${JSON.stringify(env)}`);
        sessions.push({ roomId: env.data.roomId, token: env.data.userToken });
      });
    }
  }
  // Members of a room enter one after another (the first creates it); rooms fill in parallel.
  const perRoom = Array.from({ length: ROOMS }, (_, r) => jobs.slice(r * MEMBERS, (r + 1) * MEMBERS));
  await Promise.all(perRoom.map(async (list) => {
    for (const j of list) await j();
  }));
  return sessions;
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function main() {
  console.log(`bench/http: ${os.cpus().length} cores, node ${process.version}, ${CONNECTIONS} connections, ${DURATION} s per run after ${WARMUP} s warm-up`);
  const results: Figures[] = [];

  // This VM's speed drifts over minutes, so the baseline and room info run interleaved in 2 s
  // slices (both servers up, one loaded at a time) and each figure sums its slices.
  const barePort = await freePort();
  const bare = await startChild('bench/lib/bare-fastify.ts', [], { PORT: String(barePort) }, /listening/, barePort);
  // A Convene that fails to start must not leave the baseline running (it would load later runs).
  const convene = await startConveneChild().catch(async (err) => {
    await bare.stop();
    throw err;
  });
  try {
    const { appId, customerId, customerSecret } = convene.creds;
    const auth = `Basic ${Buffer.from(`${customerId}:${customerSecret}`).toString('base64')}`;
    const sessions = await populate(convene.url, appId, auth);
    // Readers spread over every member of every room, as a real deployment reads (issue 17): each
    // connection cycles through its own share of the 2,000 members, all of them read in turn.
    let i = 0;
    const perConnection = Math.ceil(sessions.length / CONNECTIONS);
    const roomInfo = () =>
      Array.from({ length: perConnection }, () => {
        const s = sessions[i++ % sessions.length]!;
        return { method: 'GET', path: `/apps/${appId}/v1/room/${s.roomId}`, headers: { authorization: auth, token: s.token } };
      });
    const plain = () => [{ method: 'GET', path: '/room' }];
    await measure('warm-up', bare.url, bare.proc.pid!, plain, false, WARMUP, 0);
    await measure('warm-up', convene.url, convene.proc.pid!, roomInfo, false, WARMUP, 0);
    // BENCH_ONLY=entry skips the room-info runs (a profile of entries alone), BENCH_ONLY=info the entries.
    const slices = ONLY === 'entry' ? 0 : Math.max(1, Math.round(DURATION / 2));
    const bareSlices: Figures[] = [];
    const infoSlices: Figures[] = [];
    for (let n = 0; n < slices; n++) {
      bareSlices.push(await measure('bare', bare.url, bare.proc.pid!, plain, false, DURATION / slices, 0));
      infoSlices.push(await measure('info', convene.url, convene.proc.pid!, roomInfo, false, DURATION / slices, 0));
    }
    if (slices > 0) results.push(merge('bare Fastify GET (baseline)', bareSlices), merge('Convene E2 room info', infoSlices));
    if (ONLY === 'info') return report(results);
    // Every entry is a new member (autocannon fills in [<id>]); each connection cycles through its
    // own 10 of the 500 rooms, so rooms grow evenly.
    let k = 0;
    results.push(
      await measure(
        'Convene E1 entry',
        convene.url,
        convene.proc.pid!,
        () =>
          Array.from({ length: ENTRY_ROOMS / CONNECTIONS }, () => {
            const room = k++ % ENTRY_ROOMS;
            return {
              method: 'POST',
              path: `/apps/${appId}/v1/room/entry`,
              headers: { authorization: auth, 'content-type': 'application/json' },
              body: JSON.stringify({ roomName: `E${room}`, roomUuid: `entry-${room}`, userName: 'U', userUuid: 'entry-[<id>]', enableAudio: 1 }),
            };
          }),
        true,
      ),
    );
  } finally {
    await Promise.all([convene.stop(), bare.stop()]);
  }
  report(results);
}

function report(results: Figures[]): void {
  console.log('\n| run | req/s | p50 ms | p90 ms | p99 ms | max ms | requests | errors | bad envelopes (sampled) | server CPU µs/req |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(`| ${r.name} | ${fmt(r.rps)} | ${r.p50} | ${r.p90} | ${r.p99} | ${r.max} | ${fmt(r.requests)} | ${r.non2xx} | ${r.badEnvelopes}/${r.checked} | ${fmt(r.cpuUs, 1)} |`);
  }
  const bareR = results.find((r) => r.name.startsWith('bare'));
  const info = results.find((r) => r.name.includes('room info'));
  const entry = results.find((r) => r.name.includes('entry'));
  const clean = results.every((r) => r.non2xx === 0 && r.badEnvelopes === 0 && r.checked > 0);
  if (bareR && info) {
    const ratio = info.rps / bareR.rps;
    console.log(`\nroom info / bare Fastify (interleaved): ${fmt(ratio * 100, 1)} %  (target ≥ 80 %)  ${ratio >= 0.8 ? 'PASS' : 'MISS'}`);
  }
  if (entry) console.log(`entries: ${fmt(entry.rps)}/s  (target ≥ 8,000/s)  ${entry.rps >= 8000 ? 'PASS' : 'MISS'}`);
  console.log(`all answers 2xx with code 0 (sampled): ${clean ? 'yes' : 'NO — figures are not valid'}`);
  if (!clean) process.exitCode = 1;
}

await main();
