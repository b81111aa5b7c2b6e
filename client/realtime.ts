// A typed client for Convene's realtime channel: connect with a userToken, receive the Agora RTM
// messages with their seq, resume after a disconnect from the last seq seen, and (optionally)
// keep a local copy of the meeting state that equals GET room info.
// It runs in browsers and in Node: it speaks the standard WebSocket interface (the browser's own;
// in Node the global one where there is one, else the `ws` package's, loaded only then).
import type { AgoraMember, AgoraRoom } from './agora.ts';

/** The part of the standard WebSocket this client uses (browsers, Node 22+, and `ws` all have it). */
export interface StandardWebSocket {
  readonly readyState: number;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (e: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: (e: unknown) => void): void;
  close(code?: number, reason?: string): void;
  send(data: string): void;
  /** `ws` only: drop the connection without a closing handshake. */
  terminate?(): void;
}

export type WebSocketConstructor = new (url: string) => StandardWebSocket;

const OPEN = 1;
const CLOSED = 3;

let fallback: Promise<WebSocketConstructor> | null = null;

/** The platform's WebSocket, or (Node without one) the `ws` package's, imported on first use. */
function platformWebSocket(): Promise<WebSocketConstructor> {
  const native = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (native) return Promise.resolve(native);
  // A name in a variable: bundlers building for browsers leave this import alone.
  const name = 'ws';
  fallback ??= import(/* @vite-ignore */ name).then((m: { default: WebSocketConstructor }) => m.default);
  return fallback;
}

export interface ChannelMessage {
  type: 'channel';
  /** 1–8 Agora's; 101 Convene's hand queue; 110 and 111 its lobby (the moderators', the waiting member's); 120–123 breakout rooms (121 has no seq: it is the socket's, not a room's); 130 metadata. */
  cmd: 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 101 | 110 | 111 | 120 | 121 | 122 | 123 | 130;
  version: 1;
  timestamp: number;
  seq: number;
  data: any;
}

export interface PeerMessage {
  type: 'peer';
  cmd: 1 | 2 | 3;
  version: 1;
  timestamp: number;
  seq: number;
  data: any;
}

export interface ServerMessage {
  type: 'server';
  version: 1;
  timestamp: number;
  seq: number;
  data: { msgId: string; text: string };
}

/**
 * The snapshot's member list: `count` members of the first page (join order), of `total` in the
 * room; the rest from the member list (E4, `MeetingClient.page`) from `nextId` on.
 */
export interface MembersPage {
  count: number;
  total: number;
  nextId: string;
}

export interface SnapshotMessage {
  type: 'snapshot';
  version: 1;
  timestamp: number;
  seq: number;
  /** `members`: the first page, then the hosts and `me` when not in it. */
  data: {
    room: AgoraRoom;
    members: AgoraMember[];
    me: { userId: string; userToken: string };
    membersPage: MembersPage;
    hands?: { public: number; list: RaisedHand[] };
    /** Convene, to a moderator of a room with a lobby: who waits. */
    lobby?: { on: number; list: LobbyKnock[] };
    /** A main meeting's round of breakouts (as cmd 120 carries it). */
    breakouts?: Record<string, unknown>;
    /** In a breakout: its main meeting, name and end (epoch ms, 0: none). */
    breakout?: { mainRoomId: string; name: string; endsAt: number };
  };
}

/** A member waiting in the lobby (cmd 110, a moderator's snapshot). */
export interface LobbyKnock {
  userId: string;
  userName: string;
  avatar: string;
  /** When it knocked, epoch ms. */
  at: number;
}

/** The waiting member's own state (cmd 111): its socket's first frame, then its answer. */
export interface LobbyAnswer {
  state: 'waiting' | 'admitted' | 'denied';
  /** A denial's reason. */
  reason?: string;
  /** Who answered; null: the server. */
  by?: { userId: string; userName: string } | null;
}

/** A raised hand (Convene's hand queue: channel cmd 101, and the snapshot's `hands`). */
export interface RaisedHand {
  userId: string;
  userName: string;
  /** When it was raised, epoch ms. */
  at: number;
}

/** A whiteboard stroke: points are fractions (0..1) of the board's width and height. */
export interface BoardStroke {
  id: string;
  color: string;
  width: number;
  points: [number, number][];
}

/** A board change, to everyone in the room, in the board's own order (`boardSeq`, not the room's `seq`). */
export interface BoardMessage {
  type: 'board';
  version: 1;
  boardSeq: number;
  data:
    | { op: 'draw'; by: string; stroke: BoardStroke }
    | { op: 'erase'; by: string; strokeId: string }
    | { op: 'clear'; by: string };
}

/** The whole board, sent on connect. */
export interface BoardSnapshotMessage {
  type: 'boardSnapshot';
  boardSeq: number;
  data: { strokes: BoardStroke[]; page?: { index: number; total: number } };
}

/** A board frame of this socket's that was refused. */
export interface BoardErrorMessage {
  type: 'boardError';
  data: { ref?: string; code: number; msg: string };
}

export type BoardRealtimeMessage = BoardMessage | BoardSnapshotMessage | BoardErrorMessage;

/** An ICE server for RTCPeerConnection (TURN credentials minted for this member where configured). */
export interface MediaIceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** The first frame of a media socket: how many members a room may have for the mesh, and the ICE servers. */
export interface MediaConfigMessage {
  type: 'media';
  data: { meshMax: number; iceServers: MediaIceServer[] };
}

/** A signal another member of the room sent this member (an offer, an answer, a candidate…). */
export interface SignalMessage {
  type: 'signal';
  data: { from: string; signal: Record<string, unknown> };
}

/** A signal of this socket's that was refused (`to`: whom it was for, when known). */
export interface SignalErrorMessage {
  type: 'signalError';
  data: { ref?: string; to?: string; code: number; msg: string };
}

export type MediaRealtimeMessage = MediaConfigMessage | SignalMessage | SignalErrorMessage;

/** What a client sends on the socket: board operations (`ref` comes back in a boardError). */
export type BoardRequest =
  | { type: 'board'; op: 'draw'; ref?: string; stroke: BoardStroke }
  | { type: 'board'; op: 'erase'; ref?: string; strokeId: string }
  | { type: 'board'; op: 'clear'; ref?: string };

/** A signal for one other member of the room (`ref` comes back in a signalError). */
export interface SignalRequest {
  type: 'signal';
  to: string;
  ref?: string;
  signal: Record<string, unknown>;
}

/** The meeting's messages (with `seq`); board frames come to `onBoard` handlers instead. */
export type RealtimeMessage = ChannelMessage | PeerMessage | ServerMessage | SnapshotMessage;

export interface RealtimeOptions {
  /** http(s)://host:port of Convene. */
  baseUrl: string;
  token: string;
  /** Resume after this seq instead of starting with a snapshot. */
  since?: number;
  /** Reconnect and resume by itself after an unexpected close (default true). */
  reconnect?: boolean;
  /** Delay before the first reconnect, ms (default 200); doubles per failed try, up to 5 s. */
  reconnectDelayMs?: number;
  /** Give up after this many reconnects in a row that never opened (default 20). */
  maxRetries?: number;
  /** The WebSocket to use (default: the platform's, or the `ws` package in Node without one). */
  WebSocket?: WebSocketConstructor;
  /** Open the socket with `board=1`: it also carries the built-in whiteboard (onBoard, send). */
  board?: boolean;
  /** With `board`: this member's boardToken (GET /{roomId}/board), which authorizes the board. */
  boardToken?: string;
  /** Open the socket with `media=1`: it also relays WebRTC signals to other members (onMedia, send). */
  media?: boolean;
}

/**
 * Close codes after which reconnecting is pointless: the session is over, the entry was refused
 * (a RoomToken: full 4413, locked 4423, banned 4424, the app's meeting cap 4430), or (4429) the
 * member already holds as many sockets as the server allows, which a retry would not change.
 */
export const FINAL_CLOSE_CODES = new Set([4400, 4401, 4403, 4409, 4410, 4411, 4413, 4423, 4424, 4425, 4429, 4430]);

/** Convene's breakout messages (docs/realtime.md): the round, the room a socket is in now, a breakout's end, a host's message. */
export const BREAKOUTS_CMD = 120;
export const MOVED_CMD = 121;
export const BREAKOUT_CMD = 122;
export const BREAKOUTS_MESSAGE_CMD = 123;

export class RealtimeClient {
  /** The highest seq received (0 before anything), of the room the socket is in. */
  lastSeq: number;
  /** The room the socket is in when it is not its token's (a breakout), as the last cmd 121 said. */
  roomId: string | null = null;
  readonly state = new MeetingState();
  private ws: StandardWebSocket | null = null;
  private readonly handlers = new Set<(m: RealtimeMessage) => void>();
  private readonly boardHandlers = new Set<(m: BoardRealtimeMessage) => void>();
  private readonly mediaHandlers = new Set<(m: MediaRealtimeMessage) => void>();
  private readonly closeHandlers = new Set<(code: number, reason: string) => void>();
  private stopped = false;
  private opened: Promise<void> | null = null;
  private failures = 0;
  closeCode: number | null = null;
  closeReason = '';

  constructor(private readonly opts: RealtimeOptions) {
    this.lastSeq = opts.since ?? 0;
  }

  /** Resolves once the socket is open. */
  async connect(): Promise<void> {
    this.stopped = false;
    const WebSocketImpl = this.opts.WebSocket ?? (await platformWebSocket());
    const base = this.opts.baseUrl.replace(/^http/, 'ws');
    const q = new URLSearchParams({ token: this.opts.token });
    if (this.opts.board) {
      q.set('board', '1');
      if (this.opts.boardToken) q.set('boardToken', this.opts.boardToken);
    }
    if (this.opts.media) q.set('media', '1');
    // In a breakout: the resume is that room's (its seq); the server starts over in the main meeting if it ended.
    if (this.roomId) q.set('room', this.roomId);
    // Without a seq yet the server starts with a snapshot; with one it sends what was missed.
    if (this.lastSeq > 0 || this.opts.since !== undefined) q.set('since', String(this.lastSeq));
    const ws = new WebSocketImpl(`${base}/v1/realtime?${q}`);
    this.ws = ws;
    this.closeCode = null;
    // Frames still arriving on a socket already replaced are ignored: the new one resumes them.
    ws.addEventListener('message', (e) => {
      if (this.ws === ws && typeof e.data === 'string') this.receive(JSON.parse(e.data) as RealtimeMessage | BoardRealtimeMessage | MediaRealtimeMessage);
    });
    let settled = false;
    this.opened = new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => {
        settled = true;
        this.failures = 0;
        resolve();
      });
      ws.addEventListener('error', (err) => {
        if (settled) return;
        settled = true;
        reject(err instanceof Error ? err : new Error('the realtime socket could not be opened'));
      });
    });
    ws.addEventListener('close', (e) => {
      if (this.ws !== ws) return;
      this.closeCode = e.code;
      this.closeReason = String(e.reason);
      for (const h of this.closeHandlers) h(e.code, this.closeReason);
      if (this.stopped || this.opts.reconnect === false || FINAL_CLOSE_CODES.has(e.code)) return;
      if (this.failures >= (this.opts.maxRetries ?? 20)) return;
      const delay = Math.min(5_000, (this.opts.reconnectDelayMs ?? 200) * 2 ** this.failures++);
      const timer = setTimeout(() => {
        if (!this.stopped) this.connect().catch(() => {});
      }, delay);
      // In Node, a pending resume does not keep the process alive.
      (timer as { unref?: () => void }).unref?.();
    });
    return this.opened;
  }

  on(handler: (m: RealtimeMessage) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  onClose(handler: (code: number, reason: string) => void): () => void {
    this.closeHandlers.add(handler);
    return () => this.closeHandlers.delete(handler);
  }

  /**
   * Drop the connection as a network failure would (no closing handshake, where the WebSocket can:
   * `ws` in Node; a browser's always closes cleanly); it resumes if enabled.
   */
  drop(): void {
    const ws = this.ws;
    if (!ws) return;
    if (ws.terminate) ws.terminate();
    else ws.close(4000, 'dropped by the client');
  }

  /**
   * Send one frame (JSON) on the open socket, e.g. a board operation. Returns false when the socket
   * is not open (reconnecting): nothing is queued, the caller decides whether to retry.
   */
  send(message: BoardRequest | SignalRequest | Record<string, unknown>): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return false;
    ws.send(JSON.stringify(message));
    return true;
  }

  /** Whether the socket is open now (false while it reconnects). */
  get connected(): boolean {
    return this.ws?.readyState === OPEN;
  }

  /** Close for good. */
  close(): Promise<void> {
    this.stopped = true;
    const ws = this.ws;
    if (!ws || ws.readyState === CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      ws.addEventListener('close', () => resolve());
      ws.close(1000);
    });
  }

  /** Wait until a message satisfying `pred` arrives (or has the given seq), with a timeout. */
  waitFor<T extends RealtimeMessage>(pred: (m: RealtimeMessage) => m is T, timeoutMs?: number): Promise<T>;
  waitFor(pred: (m: RealtimeMessage) => boolean, timeoutMs?: number): Promise<RealtimeMessage>;
  waitFor(pred: (m: RealtimeMessage) => boolean, timeoutMs = 5_000): Promise<RealtimeMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no matching realtime message within ${timeoutMs} ms (last seq ${this.lastSeq})`));
      }, timeoutMs);
      const off = this.on((m) => {
        if (!pred(m)) return;
        clearTimeout(timer);
        off();
        resolve(m);
      });
    });
  }

  /** Board frames (board, boardSnapshot, boardError): their own order, not part of the meeting state. */
  onBoard(handler: (m: BoardRealtimeMessage) => void): () => void {
    this.boardHandlers.add(handler);
    return () => this.boardHandlers.delete(handler);
  }

  /** Media frames (media, signal, signalError): not part of the meeting state, never resumed. */
  onMedia(handler: (m: MediaRealtimeMessage) => void): () => void {
    this.mediaHandlers.add(handler);
    return () => this.mediaHandlers.delete(handler);
  }

  private receive(m: RealtimeMessage | BoardRealtimeMessage | MediaRealtimeMessage): void {
    if (m.type === 'board' || m.type === 'boardSnapshot' || m.type === 'boardError') {
      for (const h of this.boardHandlers) h(m);
      return;
    }
    if (m.type === 'media' || m.type === 'signal' || m.type === 'signalError') {
      for (const h of this.mediaHandlers) h(m);
      return;
    }
    if (m.version !== 1) return;
    if (m.type === 'channel' && m.cmd === MOVED_CMD) {
      // Another room of the meeting from now on: its snapshot comes next, and its own seq.
      this.roomId = (m.data as { roomId: string }).roomId;
      this.lastSeq = 0;
    }
    // That message, and the lobby's answers to a waiting member (seq 0: it has no room stream yet),
    // are the socket's own, outside any room's seq.
    if (m.type === 'channel' && (m.cmd === MOVED_CMD || (m.cmd === 111 && m.seq === 0))) {
      this.state.apply(m);
      for (const h of this.handlers) h(m);
      return;
    }
    if (m.type !== 'snapshot' && m.seq <= this.lastSeq) return;
    this.lastSeq = Math.max(this.lastSeq, m.seq);
    this.state.apply(m);
    for (const h of this.handlers) h(m);
  }
}

/**
 * The meeting as a client sees it, rebuilt from a snapshot and the messages after it, applying
 * the same rules the Agora clients apply on receipt (e.g. mute-all mutes every non-host).
 */
export class MeetingState {
  room: Omit<AgoraRoom, 'hosts' | 'shareBoardUsers' | 'shareScreenUsers' | 'onlineUsers'> | null = null;
  readonly members = new Map<string, AgoraMember>();
  onlineUsers = 0;
  readonly chat: { userId: string; userName: string; message: string; seq: number }[] = [];
  readonly inbox: (PeerMessage | ServerMessage)[] = [];
  kicked = false;
  /**
   * Whether `members` holds everyone: in a room of more than a page (100) the snapshot brings the
   * first page, the hosts and oneself, and cmd 2 lists no one (`omitted` says how many changed);
   * a client that shows everyone pages the member list (E4).
   */
  membersComplete = true;
  /** The hand queue as this member may see it: all of it (a host, or public), else its own hand. */
  hands: { public: boolean; list: RaisedHand[] } = { public: false, list: [] };
  /** Convene's lobby, for a moderator: whether it is on and who waits. */
  lobby: { on: boolean; list: LobbyKnock[] } = { on: false, list: [] };
  /** This member's own lobby state (cmd 111) while it waits, and its answer; null: never waited on this socket. */
  lobbyAnswer: LobbyAnswer | null = null;
  /** The main meeting's round (cmd 120, the snapshot's `breakouts`); null: none open, or in a breakout. */
  breakouts: Record<string, unknown> | null = null;
  /** The breakout this member is in (cmd 122, the snapshot's `breakout`); null: the main meeting. */
  breakout: { mainRoomId: string; name: string; endsAt: number } | null = null;
  /** The rooms this socket was in, in order (cmd 121). */
  readonly rooms: string[] = [];

  apply(m: RealtimeMessage): void {
    if (m.type === 'snapshot') {
      const { hosts, shareBoardUsers: _b, shareScreenUsers: _s, onlineUsers, ...room } = m.data.room;
      this.room = room;
      this.onlineUsers = onlineUsers;
      this.members.clear();
      for (const mem of m.data.members) this.members.set(mem.userId, strip(mem));
      for (const mem of hosts) if (!this.members.has(mem.userId)) this.members.set(mem.userId, strip(mem));
      // A server before paged snapshots sends every member and no membersPage.
      this.membersComplete = !m.data.membersPage || m.data.membersPage.count >= m.data.membersPage.total;
      this.hands = { public: m.data.hands?.public === 1, list: m.data.hands?.list ?? [] };
      this.lobby = { on: m.data.lobby?.on === 1, list: m.data.lobby?.list ?? [] };
      this.breakouts = m.data.breakouts?.open === 1 ? m.data.breakouts : null;
      this.breakout = m.data.breakout ?? null;
      return;
    }
    if (m.type !== 'channel') {
      this.inbox.push(m);
      return;
    }
    const d = m.data;
    const room = this.room;
    switch (m.cmd) {
      case 1:
        this.chat.push({ userId: d.userId, userName: d.userName, message: d.message, seq: m.seq });
        break;
      case 2:
        for (const mem of d.list as AgoraMember[]) {
          if (mem.state === 1) this.members.set(mem.userId, this.known(mem));
          else this.members.delete(mem.userId);
        }
        this.onlineUsers = d.total;
        if (d.omitted) this.membersComplete = false;
        break;
      case 3:
        if (room) Object.assign(room, { muteAllChat: d.muteAllChat, muteAllAudio: d.muteAllAudio, state: d.state });
        if (d.muteAllAudio !== 0) for (const mem of this.members.values()) if (mem.role !== 1) mem.enableAudio = 0;
        if (d.state === 0) {
          this.members.clear();
          this.onlineUsers = 0;
        }
        break;
      case 4:
        if (this.members.has(d.userId)) this.members.set(d.userId, this.known(d));
        break;
      case 5:
        if (room) Object.assign(room, { shareBoard: d.shareBoard, createBoardUserId: d.createBoardUserId });
        break;
      case 6:
        if (room) room.shareScreen = d.shareScreen;
        break;
      case 7:
        // A departed host (state 0) is gone: in a large room no cmd 2 lists it.
        for (const mem of d as AgoraMember[]) {
          if (mem.state === 1) this.members.set(mem.userId, strip(mem));
          else this.members.delete(mem.userId);
        }
        break;
      case 8:
        break;
      case 101:
        this.hands = { public: d.public === 1, list: d.list as RaisedHand[] };
        break;
      case 110:
        this.lobby = { on: d.on === 1, list: d.list as LobbyKnock[] };
        break;
      case 111:
        this.lobbyAnswer = d as LobbyAnswer;
        break;
      case BREAKOUTS_CMD:
        this.breakouts = d.open === 1 ? d : null;
        break;
      case MOVED_CMD:
        this.rooms.push(d.roomId);
        break;
      case BREAKOUT_CMD:
        this.breakout = { mainRoomId: d.mainRoomId, name: d.name, endsAt: d.endsAt };
        break;
      case 130:
        this.applyMetadata(d);
        break;
    }
  }

  /** A member from a channel message, which never carries metadata: the metadata known stays. */
  private known(m: AgoraMember): AgoraMember {
    const v = strip(m);
    const metadata = this.members.get(m.userId)?.metadata;
    if (metadata !== undefined) v.metadata = metadata;
    return v;
  }

  /** cmd 130: the room's metadata (scope room) or a member's changed; "" is none. */
  private applyMetadata(d: { scope: string; userId?: string; metadata: string; selfMetadata?: number }): void {
    const target = d.scope === 'room' ? this.room : d.userId !== undefined ? this.members.get(d.userId) : undefined;
    if (!target) return;
    if (d.metadata === '') delete target.metadata;
    else target.metadata = d.metadata;
    if (d.scope === 'room' && this.room) {
      if (d.selfMetadata === 1) this.room.selfMetadata = 1;
      else delete this.room.selfMetadata;
    }
  }

  /** The parts of GET room info this state can be compared with. */
  view() {
    const members = [...this.members.values()];
    const room = this.room;
    return {
      muteAllChat: room?.muteAllChat,
      muteAllAudio: room?.muteAllAudio,
      state: room?.state,
      onlineUsers: this.onlineUsers,
      hosts: members.filter((m) => m.role === 1).map((m) => m.userId),
      shareBoard: room?.shareBoard,
      createBoardUserId: room?.createBoardUserId,
      shareScreen: room?.shareScreen,
      members: members.sort((a, b) => (a.userId < b.userId ? -1 : 1)),
    };
  }
}

function strip(m: AgoraMember): AgoraMember {
  const { state: _state, ...rest } = m;
  return rest;
}
