// The parent's side of bench/lib/scale-clients.ts: a few forked holders of idle sockets, each
// opening its share from loopback source addresses of its own (127.0.0.2, 127.0.0.3, ...), so that
// no process nears its 20,000 descriptors and no source address its ~28,000 ephemeral ports.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./scale-clients.ts', import.meta.url));

export interface HolderStats {
  open: number;
  dropped: number;
  messages: number;
  closeCodes: Record<string, number>;
}

interface Holder {
  proc: ChildProcess;
  /** The one reply awaited at a time (orders to one holder are never overlapped). */
  reply(op: string): Promise<Record<string, unknown>>;
}

async function startHolder(): Promise<Holder> {
  const proc = fork(SCRIPT, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<string, { resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  proc.on('message', (m: Record<string, unknown>) => {
    const w = waiting.get(String(m.op));
    waiting.delete(String(m.op));
    w?.resolve(m);
  });
  proc.on('exit', (code) => {
    for (const [op, w] of waiting) w.reject(new Error(`client holder ${proc.pid} exited (${code}) awaiting ${op}`));
    waiting.clear();
  });
  const reply = (op: string) => new Promise<Record<string, unknown>>((resolve, reject) => void waiting.set(op, { resolve, reject }));
  await reply('ready');
  return { proc, reply };
}

export class Fleet {
  private constructor(private readonly holders: Holder[]) {}

  static async start(n: number): Promise<Fleet> {
    return new Fleet(await Promise.all(Array.from({ length: n }, startHolder)));
  }

  get pids(): number[] {
    return this.holders.map((h) => h.proc.pid!);
  }

  /**
   * Open `urls`: split evenly over the holders, each share in chunks of at most `perAddress`
   * sockets, each chunk from the next source address given by `address()`.
   */
  async open(urls: string[], perAddress: number, address: () => string, concurrency: number): Promise<{ opened: number; failed: number; errors: string[] }> {
    const share = Math.ceil(urls.length / this.holders.length);
    const totals = { opened: 0, failed: 0, errors: [] as string[] };
    await Promise.all(
      this.holders.map(async (h, i) => {
        const mine = urls.slice(i * share, (i + 1) * share);
        for (let at = 0; at < mine.length; at += perAddress) {
          const reply = h.reply('opened');
          h.proc.send({ op: 'open', localAddress: address(), urls: mine.slice(at, at + perAddress), concurrency });
          const r = (await reply) as { opened: number; failed: number; errors: string[] };
          totals.opened += r.opened;
          totals.failed += r.failed;
          totals.errors.push(...r.errors);
        }
      }),
    );
    return totals;
  }

  async stats(): Promise<HolderStats> {
    const all = await Promise.all(
      this.holders.map((h) => {
        const r = h.reply('stats');
        h.proc.send({ op: 'stats' });
        return r as unknown as Promise<HolderStats>;
      }),
    );
    const sum: HolderStats = { open: 0, dropped: 0, messages: 0, closeCodes: {} };
    for (const s of all) {
      sum.open += s.open;
      sum.dropped += s.dropped;
      sum.messages += s.messages;
      for (const [code, n] of Object.entries(s.closeCodes)) sum.closeCodes[code] = (sum.closeCodes[code] ?? 0) + n;
    }
    return sum;
  }

  /** Close every socket and end the holders (killed if they do not exit within 3 s). */
  async stop(): Promise<void> {
    await Promise.all(
      this.holders.map(
        (h) =>
          new Promise<void>((resolve) => {
            if (h.proc.exitCode !== null || h.proc.signalCode !== null) return resolve();
            h.proc.once('exit', () => resolve());
            if (h.proc.connected) h.proc.send({ op: 'close' });
            setTimeout(() => h.proc.kill('SIGKILL'), 3000).unref();
          }),
      ),
    );
  }

  /** For the hard timeout: end the holders at once. */
  kill(): void {
    for (const h of this.holders) if (h.proc.exitCode === null) h.proc.kill('SIGKILL');
  }
}
