// The servers bench/fanout.ts toggles: Convene, a raw `ws` broadcast and a Socket.IO room broadcast,
// each with a room of connected members, a way to start toggle i and the time each member got it.
import http from 'node:http';
import WebSocket from 'ws';
import type { Socket } from 'socket.io-client';
import { freePort, startChild, startConveneChild } from './proc.ts';
import { openSio, openWs, pool } from './clients.ts';

/** A server under test: a room of connected members, how to start toggle i, and when each member got it. */
export interface Target {
  name: string;
  trigger: (i: number) => Promise<void> | void;
  arrivals: { wait: (i: number) => Promise<number[]> };
  close: () => Promise<void>;
  /** Toggles made so far (the next one's index). */
  next: number;
}

/** Collects receipt times per toggle index, resolving when all `expected` members have it. */
export function arrivalBook(expected: number) {
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

/** Set up a target; what it started is stopped again if its set-up fails. */
async function setUp(name: string, stop: () => Promise<void>, build: () => Promise<Omit<Target, 'name' | 'close' | 'next'>>): Promise<Target> {
  try {
    return { name, ...(await build()), close: stop, next: 0 };
  } catch (err) {
    await stop();
    throw err;
  }
}

export async function conveneTarget(members: number, env: Record<string, string>): Promise<Target> {
  const c = await startConveneChild(env);
  const sockets: WebSocket[] = [];
  const stop = async () => {
    for (const ws of sockets) ws.terminate();
    await c.stop();
  };
  return setUp('Convene', stop, async () => {
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
    for (let i = 0; i < members; i++) {
      const r = await api('POST', '/entry', { roomName: 'Fanout', roomUuid: 'fanout', userName: `M${i}`, userUuid: `m${i}` });
      if (r.code !== 0) throw new Error(JSON.stringify(r));
      tokens.push(r.data.userToken);
      roomId = r.data.roomId;
    }
    const arrivals = arrivalBook(members);
    // Members connect after the entries, resuming from the current seq (no snapshot to download);
    // BENCH_RESUME=0: without `since`, each receiving a snapshot first.
    const seq = members;
    const since = process.env.BENCH_RESUME === '0' ? '' : `&since=${seq}`;
    await pool(tokens, 50, async (token) => {
      const ws = await openWs(`${c.url.replace('http', 'ws')}/v1/realtime?token=${encodeURIComponent(token)}${since}`, (text) => {
        const m = JSON.parse(text) as { cmd: number; seq: number };
        if (m.cmd === 3) arrivals.arrive(m.seq - seq - 1);
      });
      sockets.push(ws);
    });
    const host = tokens[0]!;
    // BENCH_SETTLE=ms: wait after the sockets opened, so that their resumes are over before the first
    // toggle (a diagnostic: by default the toggles start at once, as live traffic would).
    if (process.env.BENCH_SETTLE) await new Promise((r) => setTimeout(r, Number(process.env.BENCH_SETTLE)));
    const toggle = process.env.BENCH_TRIGGER === 'fetch' ? api : lightPost(c.url, appId, auth);
    const trigger = async (i: number) => {
      const r = await toggle('POST', `/${roomId}`, { muteAllAudio: i % 2 === 0 ? 1 : 0 }, host);
      if (r.code !== 0) throw new Error(JSON.stringify(r));
    };
    return { trigger, arrivals };
  });
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

/** A baseline server (a script of bench/lib) that broadcasts to a room what its control socket sends it. */
interface Baseline<S> {
  name: string;
  script: string;
  open(port: number, room: string, onText: (text: string) => void): Promise<S>;
  close(socket: S): void;
  broadcast(control: S, payload: string): void;
}

async function baselineTarget<S>(b: Baseline<S>, members: number): Promise<Target> {
  const port = await freePort();
  const srv = await startChild(b.script, [], { PORT: String(port) }, /listening/, port);
  const sockets: S[] = [];
  const stop = async () => {
    for (const s of sockets) b.close(s);
    await srv.stop();
  };
  return setUp(b.name, stop, async () => {
    const arrivals = arrivalBook(members);
    await pool(Array.from({ length: members }), 50, async () => {
      sockets.push(await b.open(port, 'fanout', (text) => arrivals.arrive((JSON.parse(text) as { seq: number }).seq - 1001)));
    });
    const control = await b.open(port, 'control', () => {});
    sockets.push(control);
    return { trigger: (i: number) => b.broadcast(control, payload(i)), arrivals };
  });
}

export function wsTarget(members: number): Promise<Target> {
  return baselineTarget<WebSocket>(
    {
      name: 'raw ws',
      script: 'bench/lib/ws-baseline.ts',
      open: (port, room, onText) => openWs(`ws://127.0.0.1:${port}/?room=${room}`, onText),
      close: (ws) => ws.terminate(),
      broadcast: (control, p) => control.send(JSON.stringify({ broadcast: 'fanout', payload: p })),
    },
    members,
  );
}

export function sioTarget(members: number): Promise<Target> {
  return baselineTarget<Socket>(
    {
      name: 'Socket.IO',
      script: 'bench/lib/sio-baseline.ts',
      open: (port, room, onText) => openSio(port, room, onText),
      close: (s) => void s.disconnect(),
      broadcast: (control, p) => void control.emit('broadcast', { room: 'fanout', payload: p }),
    },
    members,
  );
}
