// A real webhook receiver for tests: an HTTP server on 127.0.0.1 that records every delivery,
// answers as told (fail the first N, answer slowly, never answer), can go down and come back on the
// same port, and watches that no room's events are ever delivered twice at once.
import http from 'node:http';
import type net from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Delivery {
  path: string;
  id: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: { id: string; type: string; timestamp: string; data: { roomId: string; roomUuid: string; seq: number; member: { userUuid: string } | null } & Record<string, unknown> };
  status: number;
  /** When it arrived (ms). */
  at: number;
}

export interface ReceiverBehaviour {
  /** Answer 500 to this many deliveries first (counted over every path). */
  failFirst?: number;
  /** Hold each answer this long (ms). */
  delayMs?: number;
  /** Never answer (keep the connection open). */
  blackHole?: boolean;
}

export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  /** Requests being answered now, by room (and endpoint path): never more than one. */
  private readonly open = new Map<string, number>();
  maxConcurrentPerLane = 0;
  inFlight = 0;
  /** The event ids being answered now, by the client port of their request (to find who sent one). */
  readonly openPorts = new Map<number, string>();
  private failed = 0;
  private server: http.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(readonly behaviour: ReceiverBehaviour = {}) {}

  async start(port = this.port): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: Delivery['json'];
        try {
          json = JSON.parse(body);
        } catch {
          res.writeHead(400).end();
          return;
        }
        const lane = `${req.url} ${json.data?.roomId}`;
        const now = (this.open.get(lane) ?? 0) + 1;
        this.open.set(lane, now);
        this.maxConcurrentPerLane = Math.max(this.maxConcurrentPerLane, now);
        this.inFlight++;
        const clientPort = req.socket.remotePort!;
        this.openPorts.set(clientPort, String(req.headers['webhook-id']));
        let closed = false;
        const finish = () => {
          if (closed) return;
          closed = true;
          this.inFlight--;
          this.openPorts.delete(clientPort);
          this.open.set(lane, (this.open.get(lane) ?? 1) - 1);
        };
        res.on('close', finish);
        if (this.behaviour.blackHole) return;
        const status = this.failed < (this.behaviour.failFirst ?? 0) ? (this.failed++, 500) : 204;
        this.deliveries.push({ path: req.url ?? '', id: String(req.headers['webhook-id']), headers: req.headers, body, json, status, at: Date.now() });
        const answer = () => {
          finish();
          if (!res.destroyed) res.writeHead(status).end();
        };
        if (this.behaviour.delayMs) setTimeout(answer, this.behaviour.delayMs);
        else answer();
      });
    });
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Down: the port refuses connections until start() again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The deliveries accepted (2xx) on `path`, each id once, in the order they first arrived. */
  accepted(path = '/hook'): Delivery[] {
    const seen = new Set<string>();
    return this.deliveries.filter((d) => d.path === path && d.status < 300 && !seen.has(d.id) && (seen.add(d.id), true));
  }

  async until(pred: () => boolean, what: string, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`receiver: ${what} (got ${this.deliveries.length} deliveries)`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** Verifies a delivery as a receiver would, with the standardwebhooks package; throws if it fails. */
export function verify(d: Delivery, secret: string | Buffer): unknown {
  const wh = typeof secret === 'string' ? new Webhook(secret) : new Webhook(secret, { format: 'raw' });
  return wh.verify(d.body, d.headers as Record<string, string>);
}

/** A room's accepted events as [type, userUuid], in arrival order, and whether their (seq, idx) ascend. */
export function byRoom(accepted: Delivery[]): Map<string, { said: [string, string | null][]; ordered: boolean; keys: string[] }> {
  const rooms = new Map<string, { said: [string, string | null][]; ordered: boolean; keys: string[]; last: [number, number] }>();
  for (const d of accepted) {
    const roomUuid = d.json.data.roomUuid;
    let r = rooms.get(roomUuid);
    if (!r) rooms.set(roomUuid, (r = { said: [], ordered: true, keys: [], last: [-1, -1] }));
    const m = /^evt_.+_(\d+)_(\d+)$/.exec(d.id);
    const key: [number, number] = [Number(m?.[1]), Number(m?.[2])];
    if (key[0] < r.last[0] || (key[0] === r.last[0] && key[1] <= r.last[1])) r.ordered = false;
    r.last = key;
    r.keys.push(`${key[0]}.${key[1]}`);
    r.said.push([d.json.type, d.json.data.member?.userUuid ?? null]);
  }
  return rooms;
}
