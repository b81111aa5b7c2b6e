// A member's realtime socket as a client library keeps it behind a load balancer: on a close it
// resumes (since = the last seq it saw) on the next node in turn. It records every gap it saw and
// the events it received by seq, so that tests can compare what every socket of a room saw. Also:
// rooms of such members entered through several nodes, and who of them has left.
import WebSocket from 'ws';
import { MeetingClient } from '../../client/agora.ts';
import type { ServerProcess } from './process.ts';
import { raw } from './qiniu.ts';

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

/** A room of members entered for a test, each with a socket made (not opened yet). */
export interface EnteredRoom {
  roomUuid: string;
  roomId: string;
  /** The first member to enter: the host. */
  first: MeetingClient;
  /** Who entered (userUuid). */
  entered: string[];
  sockets: Resuming[];
}

/**
 * `perRoom` members in each of `rooms` rooms (`name-<r>`), entering one after another through the
 * nodes in turn (the rooms at once); member m's socket is to be opened on node `socketNode(m)`.
 */
export function enterRooms(
  nodes: ServerProcess[],
  creds: { appId: string; customerId: string; customerSecret: string },
  o: { rooms: number; perRoom: number; name: string; socketNode: (m: number) => number },
): Promise<EnteredRoom[]> {
  return Promise.all(
    Array.from({ length: o.rooms }, async (_, r) => {
      const roomUuid = `${o.name}-${r}`;
      const room: EnteredRoom = { roomUuid, roomId: '', first: null!, entered: [], sockets: [] };
      for (let m = 0; m < o.perRoom; m++) {
        const c = new MeetingClient({ baseUrl: nodes[m % nodes.length]!.url, ...creds });
        const userUuid = `${o.name}${r}-${m}`;
        room.roomId = (await c.enter({ roomName: roomUuid, roomUuid, userName: userUuid, userUuid })).roomId;
        room.entered.push(userUuid);
        room.sockets.push(new Resuming(nodes, c.userToken, o.socketNode(m)));
        if (m === 0) room.first = c;
      }
      return room;
    }),
  );
}

/** Who of `entered` is no longer in room `roomUuid`, as the server API (Qiniu ListUser) on `node` says. */
export async function leftTheRoom(node: ServerProcess, appId: string, keys: { ak: string; sk: string }, roomUuid: string, entered: Iterable<string>): Promise<string[]> {
  const users = await raw(node.port, { method: 'GET', path: `/v3/apps/${appId}/rooms/${roomUuid}/users`, keys });
  const present = new Set((users.json.users as { userId: string }[]).map((u) => u.userId));
  return [...entered].filter((u) => !present.has(u));
}
