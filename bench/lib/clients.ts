// Client-side pieces the benchmarks share: bounded concurrency, raw sockets, sampled envelope checks.
import WebSocket from 'ws';
import { io as sioConnect, type Socket } from 'socket.io-client';

/** Run `job` over `items` with at most `n` at a time. */
export async function pool<T>(items: T[], n: number, job: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        await job(items[i]!, i);
      }
    }),
  );
}

export function openWs(url: string, onMessage: (text: string) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('message', (d) => onMessage(d.toString()));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** A Socket.IO client joined to `room` (the baselines' servers read it from the query), websocket only. */
export function openSio(port: number, room: string, onMessage: (text: string) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = sioConnect(`http://127.0.0.1:${port}`, { transports: ['websocket'], query: { room }, reconnection: false, forceNew: true });
    s.on('m', onMessage);
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

/** An autocannon onResponse that decodes every 25th body, which must carry `code: 0`. */
export function envelopeSampler() {
  const counts = { n: 0, checked: 0, bad: 0 };
  const onResponse = (_status: number, body: string) => {
    if (++counts.n % 25 !== 0) return;
    counts.checked++;
    try {
      if ((JSON.parse(body) as { code?: number }).code !== 0) counts.bad++;
    } catch {
      counts.bad++;
    }
  };
  return { counts, onResponse };
}
