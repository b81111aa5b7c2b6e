// One realtime socket's frames as a test reads them: what arrived, in order, and whether the
// sequence has a gap; for tests that break things (Redis stopped, killed, failed over) under load.
import WebSocket from 'ws';

interface Node {
  url: string;
}

export class FrameLog {
  readonly frames: any[] = [];
  closeCode: number | null = null;
  ws!: WebSocket;

  open(node: Node, token: string, since?: number): Promise<void> {
    const q = new URLSearchParams({ token });
    if (since !== undefined) q.set('since', String(since));
    this.ws = new WebSocket(`${node.url.replace('http', 'ws')}/v1/realtime?${q}`);
    this.ws.on('message', (d) => this.frames.push(JSON.parse(d.toString())));
    this.ws.on('close', (code) => (this.closeCode = code));
    this.ws.on('error', () => {});
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  get lastSeq(): number {
    return this.frames.reduce((m, f) => Math.max(m, f.seq ?? 0), 0);
  }

  /** The chat messages received. */
  texts(): Set<string> {
    return new Set(this.frames.filter((f) => f.type === 'channel' && typeof f.data?.message === 'string').map((f) => f.data.message));
  }

  /** The seqs of the events received after the first frame (a snapshot, or the resume's first). */
  eventSeqs(): number[] {
    return this.frames.filter((f) => f.type !== 'snapshot').map((f) => f.seq);
  }

  /** Every event from the snapshot's seq on, each once, in order. */
  gapFree(): boolean {
    const start = this.frames[0]?.type === 'snapshot' ? this.frames[0].seq : (this.frames[0]?.seq ?? 1) - 1;
    return this.eventSeqs().every((s, i) => s === start + 1 + i);
  }

  /** Each event's frame (as JSON) by its seq. */
  bySeq(): Map<number, string> {
    return new Map(this.frames.filter((f) => f.type !== 'snapshot').map((f) => [f.seq as number, JSON.stringify(f)]));
  }

  /** The room's muteAllAudio values, in the order the channel messages (ch 3) said them. */
  muteAllValues(): number[] {
    return this.frames.filter((f) => f.type === 'channel' && f.cmd === 3 && typeof f.data?.muteAllAudio === 'number').map((f) => f.data.muteAllAudio);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(pred: () => boolean | Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}
