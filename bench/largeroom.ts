// Large rooms (issue 9): entering and leaving must cost the same in a room of 20 members as in one
// of 20,000. For each size, the room is first filled through the client API, then timed: entries
// one at a time (each a commit of its own: the latency of a single command) and 64 at a time (a
// burst, which the meeting service batches), then the same members' exits. The 20-member room is
// the baseline; the ratios are large room / baseline. Before the member index, entries fell from
// 2,000/s to 400/s between these sizes.
//   npm run bench:largeroom   (BENCH_LARGE=20000 BENCH_TIMED=1000 to change it)
import http from 'node:http';
import { startConveneChild, percentile } from './lib/proc.ts';
import { pool } from './lib/clients.ts';

const LARGE = Number(process.env.BENCH_LARGE ?? 20_000);
const TIMED = Number(process.env.BENCH_TIMED ?? 1_000);
const BURST = 64;

interface Figures {
  size: number;
  /** Median and p99 of an entry sent alone, ms. */
  singleP50: number;
  singleP99: number;
  /** Entries and exits per second, 64 in flight. */
  burstEntries: number;
  burstExits: number;
}

async function measure(size: number): Promise<Figures> {
  const server = await startConveneChild({ CONVENE_MAX_CONNECTIONS_PER_IP: '0', CONVENE_MAX_ROOM_MEMBERS: '0' });
  const agent = new http.Agent({ keepAlive: true, maxSockets: BURST });
  const auth = `Basic ${Buffer.from(`${server.creds.customerId}:${server.creds.customerSecret}`).toString('base64')}`;
  const base = `${server.url}/apps/${server.creds.appId}/v1/room`;
  const call = (path: string, body: unknown, token?: string) =>
    new Promise<{ roomId: string; userToken: string }>((resolve, reject) => {
      const text = JSON.stringify(body);
      const headers: Record<string, string | number> = { authorization: auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) };
      if (token) headers.token = token;
      const req = http.request(`${base}${path}`, { method: 'POST', agent, headers }, (res) => {
        let out = '';
        res.on('data', (d) => (out += d));
        res.on('end', () => {
          const env = JSON.parse(out) as { code: number; msg: string; data: { roomId: string; userToken: string } };
          if (env.code !== 0) reject(new Error(`${path}: ${env.code} ${env.msg}`));
          else resolve(env.data);
        });
      });
      req.on('error', reject);
      req.end(text);
    });
  const enter = (who: string) => call('/entry', { roomName: 'Large', roomUuid: 'large', userName: who, userUuid: who, role: 'participant' });
  const exit = (e: { roomId: string; userToken: string }) => {
    // A userToken is roomId.userId.secret.
    const userId = e.userToken.split('.')[1]!;
    return call(`/${e.roomId}/user/${userId}/exit`, {}, e.userToken);
  };
  try {
    await pool(Array.from({ length: size }, (_, i) => i), BURST, async (i) => void (await enter(`fill${i}`)));
    const singles: number[] = [];
    for (let i = 0; i < TIMED; i++) {
      const t = performance.now();
      await enter(`one${i}`);
      singles.push(performance.now() - t);
    }
    singles.sort((a, b) => a - b);
    const entered: { roomId: string; userToken: string }[] = [];
    let t = performance.now();
    await pool(Array.from({ length: TIMED }, (_, i) => i), BURST, async (i) => void entered.push(await enter(`burst${i}`)));
    const burstEntries = TIMED / ((performance.now() - t) / 1000);
    t = performance.now();
    await pool(entered, BURST, async (e) => void (await exit(e)));
    const burstExits = TIMED / ((performance.now() - t) / 1000);
    return { size, singleP50: percentile(singles, 50), singleP99: percentile(singles, 99), burstEntries, burstExits };
  } finally {
    agent.destroy();
    await server.stop();
  }
}

const small = await measure(20);
const large = await measure(LARGE);
const row = (f: Figures) =>
  `| ${f.size.toLocaleString('en')} | ${f.singleP50.toFixed(2)} | ${f.singleP99.toFixed(2)} | ${Math.round(f.burstEntries).toLocaleString('en')} | ${Math.round(f.burstExits).toLocaleString('en')} |`;
console.log(`Large rooms: ${TIMED} entries timed alone, then ${TIMED} entries and their exits ${BURST} at a time`);
console.log('| members already in the room | single entry p50 ms | p99 ms | entries/s (64 in flight) | exits/s |');
console.log('|---|---|---|---|---|');
console.log(row(small));
console.log(row(large));
console.log(
  `ratios ${LARGE.toLocaleString('en')} / 20: single entry p50 ${(large.singleP50 / small.singleP50).toFixed(2)}×, ` +
    `burst entries ${(large.burstEntries / small.burstEntries).toFixed(2)}×, exits ${(large.burstExits / small.burstExits).toFixed(2)}×`,
);
