// The timing side of bench/scale.ts, all in the main process (one clock: performance.now()): the
// sockets of the rooms that chat, and the chat rounds. Each chat message carries a unique text;
// each of its room's sockets records when the cmd 1 carrying that text arrived.
import WebSocket from 'ws';
import { percentile } from './proc.ts';
import { pool } from './clients.ts';
import type { Api } from './scale-http.ts';

export interface Latency {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

export function latency(samples: number[]): Latency {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s.at(-1) ?? NaN, samples: s.length };
}

/** A room whose members' sockets are all held (and timed) here. */
export interface TimedRoom {
  roomId: string;
  /** Every member's token; the chat senders take turns among them. */
  tokens: string[];
}

export class TimedSockets {
  private readonly sockets: WebSocket[] = [];
  /** Receipt times (performance.now()) per chat text. */
  private readonly arrivals = new Map<string, number[]>();
  /** Sockets closed by the server (or the network) while held. */
  dropped = 0;
  private closing = false;

  get size(): number {
    return this.sockets.length;
  }

  /** Open one socket per url (at most `concurrency` at once); returns the failures' messages. */
  async openAll(urls: string[], localAddress: () => string, perAddress: number, concurrency: number): Promise<string[]> {
    const errors: string[] = [];
    // Chunks of `perAddress` from one source address each, as the holders do.
    const chunks: { url: string; from: string }[] = [];
    let from = '';
    urls.forEach((url, i) => {
      if (i % perAddress === 0) from = localAddress();
      chunks.push({ url, from });
    });
    await pool(chunks, concurrency, async ({ url, from: addr }) => {
      try {
        this.sockets.push(await this.open(url, addr));
      } catch (err) {
        errors.push((err as Error).message);
      }
    });
    return errors;
  }

  private open(url: string, localAddress: string): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
      ws.on('message', (d) => {
        const at = performance.now();
        const m = JSON.parse(String(d)) as { cmd?: number; data?: { message?: string } };
        if (m.cmd !== 1 || typeof m.data?.message !== 'string') return;
        let list = this.arrivals.get(m.data.message);
        if (!list) this.arrivals.set(m.data.message, (list = []));
        list.push(at);
      });
      ws.once('open', () => {
        ws.once('close', () => void (this.closing || this.dropped++));
        resolve(ws);
      });
      ws.once('error', reject);
    });
  }

  /**
   * `messages` chat messages in each room, the rooms at once, one room's messages one after another
   * (the next once the previous POST is answered), each sent by the room's next member. Every
   * receipt is timed from just before its POST. Waits up to `waitMs` for the last deliveries.
   */
  /** `together` rooms chat at a time (all of them when absent); within a room, one message after another's answer. */
  async chat(api: Api, rooms: TimedRoom[], messages: number, tag: string, waitMs: number, together = rooms.length): Promise<{ latency: Latency; missing: number; failed: string[] }> {
    const sent = new Map<string, { t0: number; expect: number }>();
    const failed: string[] = [];
    await pool(
      rooms.map((room, r) => ({ room, r })),
      together,
      async ({ room, r }) => {
        for (let k = 0; k < messages; k++) {
          const text = `${tag}-${r}-${k}`;
          const t0 = performance.now();
          sent.set(text, { t0, expect: room.tokens.length });
          try {
            await api.chat(room.roomId, room.tokens[k % room.tokens.length]!, text);
          } catch (err) {
            // Counted as a failed request; nothing is to be delivered.
            sent.delete(text);
            failed.push((err as Error).message);
          }
        }
      },
    );
    const missingNow = () => {
      let missing = 0;
      for (const [text, s] of sent) missing += Math.max(0, s.expect - (this.arrivals.get(text)?.length ?? 0));
      return missing;
    };
    const deadline = performance.now() + waitMs;
    while (missingNow() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const samples: number[] = [];
    for (const [text, s] of sent) for (const at of this.arrivals.get(text) ?? []) samples.push(at - s.t0);
    return { latency: latency(samples), missing: missingNow(), failed };
  }

  close(): void {
    this.closing = true;
    for (const ws of this.sockets) ws.terminate();
    this.sockets.length = 0;
  }
}
