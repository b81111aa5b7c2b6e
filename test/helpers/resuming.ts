// A member's realtime socket as a client library keeps it behind a load balancer: on a close it
// resumes (since = the last seq it saw) on the next node in turn. It records every gap it saw and
// the events it received by seq, so that tests can compare what every socket of a room saw.
import WebSocket from 'ws';
import type { ServerProcess } from './process.ts';

export class Resuming {
  last = -1;
  gaps: string[] = [];
  closes: { code: number; at: number }[] = [];
  opens: { node: number; at: number }[] = [];
  /** seq → the event frame as received (snapshots not included). */
  readonly events = new Map<number, string>();
  ws: WebSocket | null = null;
  stopped = false;

  /** `nodes` is read at each (re)connection: a test may replace a node in it (an upgrade). */
  constructor(
    private readonly nodes: ServerProcess[],
    private readonly token: string,
    private node: number,
  ) {}

  open(): Promise<void> {
    const q = new URLSearchParams({ token: this.token });
    if (this.last >= 0) q.set('since', String(this.last));
    const ws = new WebSocket(`${this.nodes[this.node]!.url.replace('http', 'ws')}/v1/realtime?${q}`);
    this.ws = ws;
    ws.on('message', (d) => {
      const text = d.toString();
      const f = JSON.parse(text);
      if (typeof f.seq !== 'number') return;
      if (f.type === 'snapshot') this.last = Math.max(this.last, f.seq);
      else {
        if (f.seq === this.last + 1) this.last = f.seq;
        else if (f.seq > this.last) (this.gaps.push(`${this.last} → ${f.seq}`), (this.last = f.seq));
        if (!this.events.has(f.seq)) this.events.set(f.seq, text);
      }
    });
    ws.on('error', () => {});
    ws.on('close', (code) => {
      this.closes.push({ code, at: Date.now() });
      if (this.stopped) return;
      // As behind a load balancer: the next node in turn (a draining one sends it on again).
      this.node = (this.node + 1) % this.nodes.length;
      setTimeout(() => void this.open().catch(() => {}), 20 + Math.random() * 50);
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => (this.opens.push({ node: this.node, at: Date.now() }), resolve()));
      ws.once('unexpected-response', () => reject(new Error('refused')));
    });
  }

  stop(): void {
    this.stopped = true;
    this.ws?.terminate();
  }
}
