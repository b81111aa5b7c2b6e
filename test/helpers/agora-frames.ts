// What a shipped Agora Meeting client receives from Convene: the frames of a member's socket (the
// RTM messages the client's handlers parse), recorded as they arrive, and raw Agora API calls with
// exactly the headers a client sends.
import { WebSocket } from 'ws';
import type { TestServer } from './server.ts';
import { MeetingClient, roomPrefix, type ClientOptions } from '../../client/agora.ts';

export interface Frame {
  type: string;
  cmd?: number;
  seq: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A member's socket, every frame recorded in arrival order (the snapshot apart). */
export async function listen(s: TestServer, token: string) {
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}/v1/realtime?token=${encodeURIComponent(token)}`);
  const frames: Frame[] = [];
  let snapshot: Frame | null = null;
  const first = new Promise<void>((resolve) =>
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as Frame;
      if (m.type === 'snapshot') {
        snapshot = m;
        resolve();
      } else frames.push(m);
    }),
  );
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  await first;
  return {
    ws,
    frames,
    snapshot: () => snapshot!,
    /** The frames received so far, handed over once. */
    take: () => frames.splice(0),
    /** Waits for a frame matching `pred`; returns the frames up to and including it (taken). */
    async until(pred: (f: Frame) => boolean, ms = 3000): Promise<Frame[]> {
      const deadline = Date.now() + ms;
      for (;;) {
        const i = frames.findIndex(pred);
        if (i >= 0) return frames.splice(0, i + 1);
        if (Date.now() > deadline) throw new Error(`no matching frame within ${ms} ms: ${JSON.stringify(frames.map((x) => [x.type, x.cmd]))}`);
        await sleep(2);
      }
    },
  };
}

export type Listener = Awaited<ReturnType<typeof listen>>;

/** Members entering one room of an app (the server's default app unless given), in order: the first is host. */
export async function members(s: TestServer, roomUuid: string, names: string[], appOpts: ClientOptions = s.opts): Promise<MeetingClient[]> {
  const out: MeetingClient[] = [];
  for (const name of names) {
    const c = new MeetingClient(appOpts);
    await c.enter({ roomName: roomUuid, roomUuid, userName: name, userUuid: `${roomUuid}-${name}` });
    out.push(c);
  }
  return out;
}

export interface RawAnswer {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: { code: number; msg: string; data: any };
}

/** An Agora room-API call with exactly `headers` (no Basic credentials unless given). */
export async function rawCall(s: TestServer, appId: string, method: 'GET' | 'POST', path: string, headers: Record<string, string>, json?: unknown): Promise<RawAnswer> {
  const res = await fetch(s.url + roomPrefix('client', appId) + path, {
    method,
    headers: json === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  return { body: (await res.json()) as RawAnswer['body'] };
}
