// A realtime socket as the socket-level tests drive it with `ws`: every frame it receives kept in
// order, a wait for a condition on them, and what it was closed with.
import { WebSocket } from 'ws';

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Frame = any;

export interface TestSocket {
  ws: WebSocket;
  frames: Frame[];
  closeCode: number | null;
  send(m: unknown): void;
  /** Resolves once `pred` holds; fails after `ms` naming `what` and the frames' types so far. */
  until(pred: () => boolean, ms?: number, what?: string): Promise<void>;
  of(type: string): Frame[];
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `GET /v1/realtime?token=<token><query>` on `baseUrl`, resolved once open. */
export async function openSocket(baseUrl: string, token: string, query = ''): Promise<TestSocket> {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/v1/realtime?token=${encodeURIComponent(token)}${query}`);
  const s: TestSocket = {
    ws,
    frames: [],
    closeCode: null,
    send: (m) => ws.send(typeof m === 'string' || Buffer.isBuffer(m) ? m : JSON.stringify(m)),
    async until(pred, ms = 5_000, what = 'condition') {
      const deadline = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(s.frames.map((f) => f.type)).slice(0, 300)}`);
        await sleep(5);
      }
    },
    of: (type) => s.frames.filter((f) => f.type === type),
    close: () =>
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close();
      }),
  };
  ws.on('message', (d) => s.frames.push(JSON.parse(d.toString())));
  ws.on('close', (code) => (s.closeCode = code));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return s;
}
