// A holder of idle realtime sockets for bench/scale.ts, run as a forked child (IPC): the bulk of the
// members' sockets live here, a few thousand per process, so that neither the main process's event
// loop nor its file descriptors are taken by them. Messages from the parent:
//   { op: 'open', localAddress, urls, concurrency }  → { op: 'opened', opened, failed, errors }
//   { op: 'stats' }                                  → { op: 'stats', open, dropped, messages, closeCodes }
//   { op: 'close' }                                  → every socket terminated, then the process exits
// Replies to 'ready' once listening for those. Exits when the parent goes away.
import WebSocket from 'ws';

interface OpenOrder {
  op: 'open';
  localAddress: string;
  urls: string[];
  concurrency: number;
}

const sockets = new Set<WebSocket>();
/** Sockets closed by the server (or the network) while the bench still held them. */
let dropped = 0;
let messages = 0;
const closeCodes: Record<string, number> = {};
let closing = false;

const send = (m: object) => process.send!(m);

function open(url: string, localAddress: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
    // Idle members: what they receive is only counted (pings are answered by ws itself).
    ws.on('message', () => void messages++);
    ws.once('open', () => {
      sockets.add(ws);
      ws.once('close', (code) => {
        sockets.delete(ws);
        if (closing) return;
        dropped++;
        closeCodes[code] = (closeCodes[code] ?? 0) + 1;
      });
      resolve(ws);
    });
    ws.once('error', reject);
    // A refusal before the upgrade completes ('unexpected-response') also lands in 'error'.
  });
}

async function openAll(order: OpenOrder): Promise<void> {
  let next = 0;
  let opened = 0;
  const errors: string[] = [];
  await Promise.all(
    Array.from({ length: order.concurrency }, async () => {
      while (next < order.urls.length) {
        const url = order.urls[next++]!;
        try {
          await open(url, order.localAddress);
          opened++;
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
    }),
  );
  send({ op: 'opened', opened, failed: errors.length, errors: errors.slice(0, 5) });
}

process.on('message', (m: { op: string }) => {
  if (m.op === 'open') void openAll(m as OpenOrder);
  else if (m.op === 'stats') send({ op: 'stats', open: sockets.size, dropped, messages, closeCodes });
  else if (m.op === 'close') {
    closing = true;
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
send({ op: 'ready' });
