// Join storm (issue 9): N members enter one room as fast as they can, each opening its realtime
// socket right after its entry; measured until every member has seen the final total (N), with the
// frames the server sent to those sockets and the server's CPU time. Before batching, 1,000 members
// cost 484 k frames and 8.5 s of CPU; 2,000 cost 1.97 M frames, 31 s of CPU and 32 s until the
// last member saw the final total. Issue 17: 5,000 within 6 s and 500 MB sent in all (each socket's
// snapshot is one page, not the room; cmd 2 in a room of more than 100 counts without listing).
//   npm run bench:joinstorm   (BENCH_SIZES=1000,2000,5000,10000 and BENCH_CONCURRENCY=200 to change it)
import http from 'node:http';
import os from 'node:os';
import type WebSocket from 'ws';
import { cpuSeconds, startConveneChild } from './lib/proc.ts';
import { openWs, pool } from './lib/clients.ts';

const SIZES = (process.env.BENCH_SIZES ?? '1000,2000,5000,10000').split(',').map(Number);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 200);
const DEADLINE_MS = 120_000;

const onlineUsers = /"onlineUsers":(\d+)/;
const cmd2Total = /"data":\{"total":(\d+)/;

interface Result {
  n: number;
  entrySeconds: number;
  /** From the last entry's answer until every member had seen the final total. */
  settleMs: number;
  /** From the first entry until every member had seen the final total. */
  totalMs: number;
  frames: number;
  bytes: number;
  cpuMs: number;
  /** This process's CPU time (the load generator's entries and sockets). */
  clientCpuMs: number;
  complete: boolean;
}

async function storm(n: number): Promise<Result> {
  // Every member's socket comes from this one address: the per-address connection cap is lifted.
  const server = await startConveneChild({ CONVENE_MAX_CONNECTIONS_PER_IP: '0' });
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const auth = `Basic ${Buffer.from(`${server.creds.customerId}:${server.creds.customerSecret}`).toString('base64')}`;
  const sockets: WebSocket[] = [];
  let frames = 0;
  let bytes = 0;
  let sawFinal = 0;
  let allSeenAt = 0;
  let lastEntryAt = 0;
  const seen = new Uint8Array(n);
  const enter = (i: number) =>
    new Promise<{ roomId: string; userToken: string }>((resolve, reject) => {
      const body = JSON.stringify({ roomName: 'Storm', roomUuid: `storm-${n}`, userName: `m${i}`, userUuid: `m${i}`, role: 'participant' });
      const req = http.request(
        `${server.url}/apps/${server.creds.appId}/v1/room/entry`,
        { method: 'POST', agent, headers: { authorization: auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => {
            const env = JSON.parse(text) as { code: number; msg: string; data: { roomId: string; userToken: string } };
            if (env.code !== 0) reject(new Error(`entry ${i}: ${env.code} ${env.msg}`));
            else resolve(env.data);
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const markSeen = (i: number) => {
    if (seen[i]) return;
    seen[i] = 1;
    if (++sawFinal === n) allSeenAt = performance.now();
  };
  const cpu0 = cpuSeconds(server.proc.pid!) * 1000;
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    await pool(Array.from({ length: n }, (_, i) => i), CONCURRENCY, async (i) => {
      const e = await enter(i);
      lastEntryAt = Math.max(lastEntryAt, performance.now());
      const wsUrl = `${server.url.replace('http', 'ws')}/v1/realtime?token=${encodeURIComponent(e.userToken)}`;
      sockets.push(
        await openWs(wsUrl, (text) => {
          frames++;
          bytes += text.length;
          // The load generator shares the server's cores: the total is read off the text, not parsed.
          const total = text.startsWith('{"type":"snapshot"') ? onlineUsers.exec(text)?.[1] : text.includes('"cmd":2,') ? cmd2Total.exec(text)?.[1] : undefined;
          if (total !== undefined && Number(total) === n) markSeen(i);
        }),
      );
    });
    const deadline = performance.now() + DEADLINE_MS;
    while (sawFinal < n && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const cpu = cpuSeconds(server.proc.pid!) * 1000 - cpu0;
    const client = process.cpuUsage(client0);
    return {
      n,
      entrySeconds: (lastEntryAt - t0) / 1000,
      settleMs: sawFinal === n ? allSeenAt - lastEntryAt : NaN,
      totalMs: sawFinal === n ? allSeenAt - t0 : NaN,
      frames,
      bytes,
      cpuMs: cpu,
      clientCpuMs: (client.user + client.system) / 1000,
      complete: sawFinal === n,
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    agent.destroy();
    await server.stop();
  }
}

async function main(): Promise<void> {
  console.log(`bench/joinstorm: ${os.cpus().length} cores, node ${process.version}; entries ${CONCURRENCY} at a time, each member's socket opened right after its entry`);
  const results: Result[] = [];
  for (const n of SIZES) {
    process.stdout.write(`… ${n} members\n`);
    results.push(await storm(n));
  }
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  console.log('\n| members | entries took s | last entry → all saw the final total ms | first entry → all saw it ms | frames | MB | server CPU s | load generator CPU s | complete |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of results) {
    console.log(
      `| ${fmt(r.n)} | ${r.entrySeconds.toFixed(2)} | ${fmt(r.settleMs)} | ${fmt(r.totalMs)} | ${fmt(r.frames)} | ${(r.bytes / 1e6).toFixed(1)} | ${(r.cpuMs / 1000).toFixed(2)} | ${(r.clientCpuMs / 1000).toFixed(2)} | ${r.complete ? 'yes' : 'NO'} |`,
    );
  }
  const two = results.find((r) => r.n === 2000);
  if (two) {
    console.log(`\nN = 2,000: every member saw the final total ${fmt(two.settleMs)} ms after the last entry (target ≤ 3,000) ${two.settleMs <= 3000 ? 'PASS' : 'MISS'}`);
    console.log(`N = 2,000: ${fmt(two.frames)} frames, ${((100 * two.frames) / 1_970_000).toFixed(1)} % of the 1.97 M before batching (target ≤ 10 %) ${two.frames <= 197_000 ? 'PASS' : 'MISS'}`);
  }
  const five = results.find((r) => r.n === 5000);
  if (five) {
    console.log(`N = 5,000: every member saw the final total ${fmt(five.totalMs)} ms after the first entry (target ≤ 6,000) ${five.totalMs <= 6000 ? 'PASS' : 'MISS'}`);
    console.log(`N = 5,000: ${(five.bytes / 1e6).toFixed(1)} MB sent to the sockets in all (target ≤ 500) ${five.bytes <= 500e6 ? 'PASS' : 'MISS'}`);
  }
  const ten = results.find((r) => r.n === 10_000);
  if (ten) console.log(`N = 10,000 completes: ${ten.complete ? 'PASS' : 'MISS'} (${fmt(ten.totalMs)} ms, ${(ten.bytes / 1e6).toFixed(1)} MB)`);
  if (results.some((r) => !r.complete)) process.exitCode = 1;
}

await main();
