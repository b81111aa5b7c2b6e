// A TCP relay in front of a server, for tests that cut a client's network: everything a browser page
// opened through it (its page, its HTTP calls, its realtime socket) can be reset at once, and new
// connections refused, until it is restored.
import net from 'node:net';

export interface Relay {
  url: string;
  port: number;
  /** Connections refused while cut (the client's reconnect attempts). */
  refused: number;
  /** Resets every relayed connection (TCP RST) and refuses new ones until restore(). */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startRelay(target: { host: string; port: number }): Promise<Relay> {
  const open = new Set<net.Socket>();
  let blocked = false;
  const server = net.createServer((client) => {
    if (blocked) {
      relay.refused++;
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        open.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const relay: Relay = {
    url: `http://127.0.0.1:${port}`,
    port,
    refused: 0,
    cut() {
      blocked = true;
      for (const s of open) s.resetAndDestroy();
    },
    restore() {
      blocked = false;
    },
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return relay;
}
