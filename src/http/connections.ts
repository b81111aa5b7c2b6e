// Open connections per client address (CONVENE_MAX_CONNECTIONS_PER_IP), and who the client is behind
// a trusted proxy (CONVENE_TRUST_PROXY). Counted on TCP connections, by the peer's address: one
// client cannot hold every file descriptor. A trusted proxy carries many clients on its
// connections and names each only per request, so its connections are not counted; the realtime
// sockets it carries (long-lived, one per connection) are counted by the client address it forwards.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import proxyAddr from '@fastify/proxy-addr';
import { OperationalError } from '../ops/errors.ts';

export type TrustProxy = (addr: string, hop: number) => boolean;

/** CONVENE_TRUST_PROXY: '' trusts no proxy, 'true' any, else a comma list of addresses and CIDRs. */
export function trustProxyFrom(setting: string): TrustProxy | null {
  const s = setting.trim();
  if (s === '' || s === 'false') return null;
  if (s === 'true') return () => true;
  try {
    return proxyAddr.compile(s.split(',').map((a) => a.trim()).filter(Boolean));
  } catch (err) {
    throw new OperationalError(
      `CONVENE_TRUST_PROXY=${JSON.stringify(setting)}: ${(err as Error).message}; give 'true' or a comma list of proxy addresses or CIDRs (e.g. 10.0.0.0/8,127.0.0.1)`,
    );
  }
}

/** How long a connection over the cap may stay open for its refusal to be written. */
const REFUSED_GRACE_MS = 5_000;

export class ConnectionGuard {
  /** Open TCP connections per peer address (not counting trusted proxies). */
  private readonly open = new Map<string, number>();
  /** Open realtime sockets per forwarded client address (those that came through a trusted proxy). */
  private readonly proxied = new Map<string, number>();
  /** The address each counted socket was counted under (a socket re-emitted as a new connection counts once). */
  private readonly counted = new WeakMap<object, string>();
  private readonly refused = new WeakSet<object>();
  /** Connections that have not sent a request yet: nothing to finish when the server stops. */
  private readonly unused = new Set<Duplex>();
  private readonly seen = new WeakSet<object>();

  /** The 'close' listener of every socket (one function, not a closure per connection). */
  private readonly forget: (this: Duplex) => void;

  constructor(
    /** 0: unlimited. */
    readonly maxPerIp: number,
    readonly trust: TrustProxy | null,
  ) {
    const { counted, open, unused } = this;
    this.forget = function (this: Duplex) {
      unused.delete(this);
      const ip = counted.get(this);
      if (ip === undefined) return;
      counted.delete(this);
      decrement(open, ip);
    };
  }

  /** Count `server`'s connections; those over the cap are marked, answered once, then closed. */
  watch(server: Server): void {
    const used = (req: IncomingMessage) => this.unused.delete(req.socket);
    server.on('request', used);
    server.on('upgrade', used);
    server.on('connection', (socket: Duplex & { remoteAddress?: string }) => {
      // A connection fed back as plain HTTP (upgrade.ts) is the same connection: counted once.
      if (this.seen.has(socket)) return;
      this.seen.add(socket);
      this.unused.add(socket);
      // 'close' comes once: `on` spares the wrapper `once` would keep per connection (idle sockets count).
      socket.on('close', this.forget);
      // Without a cap the address is not read: Node would keep it on the socket (idle sockets count).
      if (this.maxPerIp <= 0) return;
      const ip = socket.remoteAddress;
      if (!ip || this.trust?.(ip, 0)) return;
      this.counted.set(socket, ip);
      const n = (this.open.get(ip) ?? 0) + 1;
      this.open.set(ip, n);
      if (n > this.maxPerIp) {
        this.refused.add(socket);
        // An idle connection over the cap gets no request to answer: it is simply cut.
        setTimeout(destroy, REFUSED_GRACE_MS, socket).unref();
      }
    });
  }

  /**
   * Stopping: close the connections that never sent a request (Node's closeIdleConnections leaves
   * them to their timeout, and the server's close waits for them).
   */
  closeUnused(): void {
    for (const socket of this.unused) socket.destroy();
    this.unused.clear();
  }

  /** Whether this connection is over its address's cap: refuse what it asks, and close it. */
  isRefused(socket: object): boolean {
    return this.refused.has(socket);
  }

  /** What to tell a refused client. */
  get refusal(): string {
    return `too many connections from this address (at most ${this.maxPerIp} open at once): close some and retry`;
  }

  /**
   * Whether a realtime socket may open on this upgrade: its TCP connection is within the cap, and
   * (through a trusted proxy) its forwarded client address holds fewer than the cap's sockets.
   */
  admitRealtime(req: IncomingMessage, socket: Duplex & { remoteAddress?: string }): boolean {
    if (this.maxPerIp <= 0) return true;
    if (this.refused.has(socket)) return false;
    const peer = socket.remoteAddress;
    if (!peer || !this.trust?.(peer, 0)) return true;
    const client = proxyAddr(req, this.trust);
    const n = this.proxied.get(client) ?? 0;
    if (n >= this.maxPerIp) return false;
    this.proxied.set(client, n + 1);
    socket.once('close', () => decrement(this.proxied, client));
    return true;
  }

  /** The client's address: the peer's, or the one a trusted proxy forwards. */
  clientOf(req: IncomingMessage): string {
    const peer = req.socket.remoteAddress ?? '';
    return this.trust && peer && this.trust(peer, 0) ? proxyAddr(req, this.trust) : peer;
  }

  /** Connections counted now for `ip` (for tests). */
  openFrom(ip: string): number {
    return this.open.get(ip) ?? 0;
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 1) - 1;
  if (n > 0) map.set(key, n);
  else map.delete(key);
}

function destroy(socket: Duplex): void {
  socket.destroy();
}
