// The realtime channel: `GET /v1/realtime?token=<userToken>[&since=<seq>]`, upgraded with ws on the
// HTTP port. Every committed event reaches the room's sockets in the Agora RTM message format with
// the room's seq added; a reconnecting client resumes from the stored log without gap or duplicate.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { LoggedEvent } from '../domain/events.ts';
import { recipientsOf } from '../domain/events.ts';
import { findMember } from '../domain/room.ts';
import { LobbySockets } from './lobby.ts';
import { isWaiting } from '../domain/lobby.ts';
import { formatSessionToken } from '../tokens/session.ts';
import { RuleError } from '../domain/rules.ts';
import type { EventBus } from '../bus/bus.ts';
import type { MeetingService, Session } from '../service/meeting.ts';
import type { Presence } from '../service/presence.ts';
import type { AppRegistry } from '../service/apps.ts';
import { RoomFeed } from '../service/feed.ts';
import { enterWithRoomToken, roomTokenClaims } from '../service/roomtoken.ts';
import { serveAsPlainHttp, trackAnswers, wantsWebSocket } from '../http/upgrade.ts';
import { originForm, pathOf } from '../http/scopes.ts';
import { StoreUnavailableError } from '../store/store.ts';
import { BoardUnavailableError } from '../service/boards.ts';
import type { ConnectionGuard } from '../http/connections.ts';
import { CatchUpPacer, type Turn } from './pacer.ts';
import { Close, deniedClose, entryRefusal } from './close.ts';
import { endInBatches } from './drain.ts';
import { snapshotMembers, type RealtimeFormat } from './snapshot.ts';
import type { FanoutCost } from './cost.ts';
import { closeReadably, discard, push, writable, type OutboxLimits, type Outgoing } from './outbox.ts';
import type { RealtimeMetrics } from '../ops/metrics.ts';
import { BOARD_MAX_PAYLOAD, type BoardSeat, type Whiteboard } from '../board/socket.ts';
import type { MediaRelay, MediaSeat } from '../media/relay.ts';
import { MEDIA_MAX_PAYLOAD } from '../media/signals.ts';
import { receiveOnMediaSocket } from './inbound.ts';
import { mayHaveMoved, RoomSwitch, type Placed } from './switch.ts';
import { ROOM_ID, socketQuery, type SocketQuery } from './query.ts';

export const REALTIME_PATH = '/v1/realtime';
export { Close } from './close.ts';
export type { RealtimeFormat, SnapshotMembers } from './snapshot.ts';


export interface GatewayOptions {
  meeting: MeetingService;
  apps: AppRegistry;
  bus: EventBus;
  presence: Presence;
  format: RealtimeFormat;
  /** Compare followed rooms with the store this often (ms), for buses that may lose messages; 0: never. */
  resyncIntervalMs?: number;
  /** Close a socket whose unsent data exceeds this many bytes. */
  maxBufferedBytes: number;
  /** Open sockets one member may hold on this node. */
  maxSocketsPerMember: number;
  /** Catch-ups (replays and snapshots) sent at once; others wait their turn. */
  maxConcurrentCatchUps: number;
  /** The per-address connection cap, applied to upgrades too; none: no cap. */
  connections?: ConnectionGuard;
  /** Counts a RoomToken entry against the entry rate limits: null when it may pass, else why not. */
  admitEntry?: (ip: string, appId: string) => Promise<string | null>;
  /** Ping every this many ms; a socket that has not answered the previous ping is dropped. */
  pingIntervalMs: number;
  onError?: (err: unknown, what: string) => void;
  /** Counts frames sent and slow readers cut off; none: nothing is counted. */
  metrics?: RealtimeMetrics;
  /** Checks the boardToken a `board=1` socket presents (tokens/board.ts). */
  boardTokens?: { verify(token: string): { boardId: string; userId: string } | null };
  /** The built-in whiteboard, for sockets opened with `board=1`; none: no board on the socket. */
  board?: Whiteboard;
  /** The page's WebRTC signalling, for sockets opened with `media=1`; none: no media on the socket. */
  media?: MediaRelay;
  /** Told how long each live fan-out took (storms gather for a few times as long: service/queue.ts). */
  fanoutCost?: FanoutCost;
}

interface Conn extends Outgoing, Placed {
  ws: WebSocket;
  /** Unique on this node: presence counts a member's sockets across nodes by it. */
  id: string;
  /** The room whose events this socket gets: the main meeting, or the breakout its member is in (switch.ts). */
  roomId: string;
  userId: string;
  session: string;
  /** Highest seq this socket has been brought up to. */
  lastSeq: number;
  /** Live events that arrived while the socket was catching up from the log or a snapshot. */
  pending: LoggedEvent[] | null;
  alive: boolean;
  closing: boolean;
  /** The room is followed for this socket and presence knows of it (both undone on drop). */
  followed: boolean;
  /**
   * What a socket that sends has (one field for both, null for the send-only sockets: a slot less
   * per idle member): `board=1` takes board ops in and gets the board out (board/socket.ts);
   * `media=1` relays WebRTC signals between members (media/relay.ts).
   */
  talk: { board: BoardSeat | null; media: MediaSeat | null } | null;
  /** Its member waits in the lobby: it gets the lobby state only, until admitted (then a snapshot). */
  waiting: boolean;
}

/** What a new socket was admitted as (Gateway.admit). */
interface Admitted {
  /** Its session in the room it joins: its meeting, or the breakout it resumes in. */
  session: Session;
  /** Its meeting's room id, and its member there. */
  home: string;
  mainMember: Session['member'];
  /** The member's userToken (a RoomToken socket's is the entry's). */
  userToken: string;
  /** Its member waits in the lobby. */
  waiting: boolean;
  /** Where it resumes from; null: a snapshot (also when the breakout it named is gone). */
  since: number | null;
}

/** Ticks a ping interval is spread over. */
const PING_SLICES = 25;
/** A resume missing at most this many events is served at once, without waiting for a catch-up turn. */
const QUICK_RESUME = 8;
/** Events read from the log at a time: a small read, about one slice. */
const LOG_PAGE = 100;
/** A socket's low watermark: it is handed frames while ws holds less than this unsent. */
const LOW_WATERMARK = 64 * 1024;
/** A catch-up whose socket does not drain under the low watermark for this long is cut off. */
const DRAIN_TIMEOUT_MS = 10_000;
/** Live events queued for a socket still catching up, beyond which it is cut off as too slow. */
const MAX_PENDING = 50_000;

export class Gateway {
  private readonly wss: WebSocketServer;
  /** Board sockets send strokes: a larger frame limit than the send-only sockets' 4 KiB. */
  private readonly boardWss: WebSocketServer;
  /** Media sockets send SDP offers and answers (~12 KB): larger still. */
  private readonly mediaWss: WebSocketServer;
  private readonly rooms = new Map<string, Set<Conn>>();
  private readonly feed: RoomFeed;
  /** The sockets of members waiting in a lobby (lobby.ts). */
  private readonly lobby: LobbySockets<Conn>;
  private readonly pinger: NodeJS.Timeout;
  /** This ping round's sockets, and how many of its ticks have passed (see ping). */
  private pingRound: Conn[] = [];
  private pingTick = 0;
  private readonly pacer: CatchUpPacer;
  /** Open sockets per member on this node, per room (keyed by the member's own strings: no key per socket). */
  private readonly memberSockets = new Map<string, Map<string, number>>();
  private readonly limits: OutboxLimits;
  private socketIds = 0;
  /** The one 'close' listener of every socket. */
  private readonly onClose: (this: Owned) => void;
  /** Live frames handed to sockets (fan-outs are timed per frame). */
  private framesOut = 0;
  /** drain() was called: new sockets are refused with 1012. */
  private draining = false;
  /** Sockets follow their member to another room of its meeting (breakout rooms). */
  private readonly switcher: RoomSwitch<Conn>;

  constructor(private readonly opts: GatewayOptions) {
    const gateway = this;
    this.onClose = function (this: Owned) {
      gateway.drop(this[CONN]!);
    };
    // A quarter of the slots at most for one member's sockets: a newcomer never waits behind one
    // member's storm of resumes.
    this.pacer = new CatchUpPacer(opts.maxConcurrentCatchUps, Math.max(1, Math.ceil(opts.maxConcurrentCatchUps / 4)));
    // ws holds at most the low watermark and a slice (or one frame) per socket.
    this.limits = { low: Math.min(LOW_WATERMARK, Math.floor(opts.maxBufferedBytes / 2)), max: opts.maxBufferedBytes };
    // permessage-deflate stays off on all three: live frames are framed once and written straight to
    // the sockets (outbox.ts), which holds only for connections without an extension.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 4096, perMessageDeflate: false, clientTracking: false });
    this.boardWss = new WebSocketServer({ noServer: true, maxPayload: BOARD_MAX_PAYLOAD, perMessageDeflate: false, clientTracking: false });
    this.mediaWss = new WebSocketServer({ noServer: true, maxPayload: MEDIA_MAX_PAYLOAD, perMessageDeflate: false, clientTracking: false });
    this.lobby = new LobbySockets<Conn>({
      room: (roomId) => opts.meeting.room(roomId),
      format: opts.format,
      send: (c, frame) => this.sendRaw(c, frame),
      end: (c, why) => this.end(c, why),
      admitted: (c) => this.bringUp(c, null, this.tokenOf(c)),
      check: (roomId, conns) => this.checkSessions(roomId, conns),
      onError: opts.onError,
    });
    this.feed = new RoomFeed(
      opts.bus,
      opts.meeting,
      { events: (roomId, events) => this.deliver(roomId, events), lost: (roomId) => this.lost(roomId) },
      { resyncIntervalMs: opts.resyncIntervalMs ?? 0, onError: opts.onError },
    );
    // The interval is spread over PING_SLICES ticks, a share of the sockets each: a ping is a write per
    // socket, and 20,000 at once held the event loop for about 0.4 s every interval.
    this.switcher = new RoomSwitch<Conn>({
      meeting: opts.meeting,
      presence: opts.presence,
      format: opts.format,
      feed: this.feed,
      rehome: (c, roomId) => this.rehome(c, roomId),
      send: (c, frame) => this.sendRaw(c, frame),
      sendLive: (c, e) => void this.sendLive(c, e, null),
      end: (c, why) => this.end(c, why),
      check: (c) => this.checkSessions(c.roomId, [c]),
    });
    this.pinger = setInterval(() => this.ping(), Math.max(1, Math.floor(opts.pingIntervalMs / PING_SLICES)));
    this.pinger.unref();
  }

  /** Take over WebSocket upgrades of the realtime path on `server`; any other request is plain HTTP. */
  attach(server: HttpServer): void {
    trackAnswers(server);
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // A client may reset the connection at any moment of the handshake: that must not end the process.
      socket.on('error', ignoreError);
      const path = pathOf(req.url ?? '');
      if ((path !== REALTIME_PATH && path !== `/scenario/meeting${REALTIME_PATH}`) || !wantsWebSocket(req)) {
        return serveAsPlainHttp(server, req, socket, head);
      }
      const admitted = this.opts.connections?.admitRealtime(req, socket) ?? true;
      const draining = this.draining;
      const wss = this.opts.media && wanted(req.url ?? '', 'media') ? this.mediaWss : this.opts.board && wanted(req.url ?? '', 'board') ? this.boardWss : this.wss;
      wss.handleUpgrade(req, socket, head, (ws) => {
        // The WebSocket listens for its socket's errors from here on; one listener less per member.
        socket.removeListener('error', ignoreError);
        dropClearedTimer(socket);
        if (!admitted) return refuse(ws, socket, Close.tooManyConnections);
        if (draining) return refuse(ws, socket, Close.restart);
        this.accept(ws, req, socket).catch((err) => {
          if (err instanceof StoreUnavailableError) return refuse(ws, socket, err instanceof BoardUnavailableError ? Close.noBoard : Close.unavailable);
          this.opts.onError?.(err, 'realtime accept');
          refuse(ws, socket, { code: 1011, reason: 'internal error' });
        });
      });
    });
  }

  /** Number of open sockets (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const set of this.rooms.values()) n += set.size;
    return n;
  }

  /** Catch-ups running and waiting for their turn (for tests and metrics). */
  get catchUps(): { running: number; waiting: number } {
    return this.pacer.load;
  }

  /**
   * This node is stopping: new sockets are told to reconnect elsewhere, and the open ones are ended
   * (1012) in jittered batches over `periodMs`, so that their members resume on the other nodes
   * without leaving the meeting (their presence grace is far longer).
   */
  async drain(periodMs: number): Promise<void> {
    this.draining = true;
    const open = [...this.rooms.values()].flatMap((set) => [...set]);
    await endInBatches(open, periodMs, (c) => this.end(c, Close.restart));
  }

  async close(): Promise<void> {
    clearInterval(this.pinger);
    this.feed.close();
    for (const set of this.rooms.values()) for (const c of set) this.end(c, Close.shutdown);
    this.rooms.clear();
    this.opts.board?.close();
    this.opts.media?.close();
    for (const wss of [this.wss, this.boardWss, this.mediaWss]) await new Promise<void>((resolve) => wss.close(() => resolve()));
  }

  private async accept(ws: WebSocket, req: IncomingMessage, socket: Duplex): Promise<void> {
    ws.on('error', cutOffAfterProtocolError);
    const q = socketQuery(new URL(originForm(req.url ?? '/'), 'http://localhost'), { board: !!this.opts.board, media: !!this.opts.media });
    if ('refuse' in q) return refuse(ws, socket, q.refuse);
    const admitted = await this.admit(ws, req, socket, q);
    if (!admitted) return;
    const { session, home } = admitted;
    const conn: Conn = {
      ws,
      socket,
      queue: null,
      queued: 0,
      flushing: false,
      id: String(++this.socketIds),
      roomId: session.room.roomId,
      home,
      userId: session.member.userId,
      session: session.member.session,
      lastSeq: 0,
      pending: [],
      alive: true,
      closing: false,
      followed: false,
      talk: null,
      waiting: admitted.waiting,
    };
    this.takeInbound(conn, q.board, q.media);
    // Registered and followed before reading state, so that nothing committed from now on can be missed.
    let set = this.rooms.get(conn.roomId);
    if (!set) this.rooms.set(conn.roomId, (set = new Set()));
    set.add(conn);
    this.countSocket(conn, 1);
    // Listeners shared by every socket: a closure here would keep this whole call's context per member.
    (ws as Owned)[CONN] = conn;
    ws.on('pong', markAlive);
    ws.on('close', this.onClose);
    try {
      await this.feed.follow(conn.roomId);
    } catch (err) {
      this.drop(conn);
      throw err;
    }
    conn.followed = true;
    try {
      if (conn.talk?.board) await this.opts.board!.join(conn.talk.board);
    } catch (err) {
      this.drop(conn);
      throw err;
    }
    // Closed while the feed was being set up: drop() ran before there was anything to undo.
    if (!this.rooms.get(conn.roomId)?.has(conn)) return void this.feed.unfollow(conn.roomId);
    this.opts.presence.connected(home, admitted.mainMember, conn.id);
    if (conn.waiting) return this.lobby.open(conn);
    if (conn.roomId !== home) this.opts.presence.connected(conn.roomId, session.member, conn.id);
    // Asked to resume in a room it is no longer in: told where it is now (its seq is that room's).
    if (q.room && q.room !== conn.roomId) this.sendRaw(conn, this.opts.format.moved({ roomId: conn.roomId, mainRoomId: home, name: session.room.roomName }));
    await this.bringUp(conn, admitted.since, admitted.userToken);
  }

  /**
   * Who a new socket is: its session (a RoomToken enters the room first), the room it joins (its
   * meeting, or the breakout it resumes in) and where it resumes from. Null once it is refused: an
   * unknown or ended session, a lobby socket asking for more than the lobby, a board socket without
   * its boardToken, a member holding the most sockets allowed, or a peer gone meanwhile.
   */
  private async admit(ws: WebSocket, req: IncomingMessage, socket: Duplex, q: SocketQuery): Promise<Admitted | null> {
    const no = (why: { code: number; reason: string }) => {
      refuse(ws, socket, why);
      return null;
    };
    let since = q.since;
    let userToken = q.token;
    // A Qiniu RoomToken (AK:sign:payload) enters the room it names, then binds like a userToken.
    const claims = q.token.split(':').length === 3 ? roomTokenClaims(q.token) : null;
    if (claims) {
      // An entry like any other: counted against the entry rate limits of its address and app.
      const over = await this.opts.admitEntry?.(this.opts.connections?.clientOf(req) ?? req.socket.remoteAddress ?? '', claims.appId);
      if (over) return no({ code: 1013, reason: `try again later: ${over}`.slice(0, 120) });
      const r = await enterWithRoomToken(this.opts.apps, this.opts.meeting, claims, q.token);
      if (!r.ok) return no(entryRefusal(r.reason, r.detail));
      userToken = r.entered.userToken;
    }
    let session: Session;
    try {
      // A member waiting in the lobby has a session too: its socket gets the lobby state only.
      session = await this.opts.meeting.authenticate(null, null, userToken, true);
    } catch (err) {
      if (!(err instanceof RuleError)) throw err;
      return no(err.code === 'ended' ? Close.ended : Close.invalidToken);
    }
    if (session.room.ended) return no(Close.ended);
    const waiting = !session.member.present;
    if (waiting && !isWaiting(session.member)) return no(session.member.lobby?.denied !== undefined ? deniedClose(session.member.lobby.denied) : Close.invalidToken);
    if (waiting && (q.board || q.media)) return no(Close.lobbyOnly);
    const home = session.room.roomId;
    const mainMember = session.member;
    // `room`: a socket resuming in a breakout of its meeting, `since` being that room's seq. A room it
    // is no longer in (the breakout ended, the member moved) starts over in the main meeting.
    if (q.room && !ROOM_ID.test(q.room)) return no(Close.badRequest);
    if (q.room && q.room !== home && !waiting) {
      try {
        session = await this.opts.meeting.authenticate(null, q.room, userToken);
      } catch (err) {
        if (!(err instanceof RuleError)) throw err;
        since = null;
      }
    }
    // The board is authorized by the member's boardToken (its identity and its board), the drawing
    // by the board rules at each operation. A RoomToken socket is vouched for by the business's
    // RoomToken, and learns its boardToken only from the snapshot: it needs none.
    if (q.board && !claims) {
      const board = q.boardTokens.length === 1 ? this.opts.boardTokens?.verify(q.boardTokens[0]!) : null;
      if (!board || board.boardId !== session.room.boardId || board.userId !== session.member.userId) return no(Close.badBoardToken);
    }
    // The cap counts the member's sockets on every node (as the presence directory records them),
    // and on this node at once (a socket opened here a moment ago may not be recorded yet).
    const { roomId } = session.room;
    const { userId } = session.member;
    const max = this.opts.maxSocketsPerMember;
    if (this.socketsOf(roomId, userId) >= max || (await this.opts.presence.socketCount(roomId, userId)) >= max) return no(Close.tooManySockets);
    // Closed by its peer while it was being checked: its 'close' has passed, nothing to register.
    if (ws.readyState !== ws.OPEN) return null;
    if (this.socketsOf(roomId, userId) >= max) return no(Close.tooManySockets);
    return { session, home, mainMember, userToken, waiting, since };
  }

  /**
   * Bring a socket up to date and let live events through: the missed events from the log or a
   * snapshot (in its catch-up turn), or at once for a resume missing only a few.
   */
  private async bringUp(conn: Conn, since: number | null, userToken: string): Promise<void> {
    // A resume that misses nothing, or a few events, is no catch-up: it takes no turn, so that live
    // events reach it in their commit's turn, as they reach every other socket.
    if (since !== null && !conn.talk?.board && (await this.resumeAtOnce(conn, since))) {
      if (!conn.closing) await this.checkSessions(conn.roomId, [conn]);
      return;
    }
    // The catch-up waits for its turn; live events queue meanwhile, and are sent after it, paced too.
    const turn = await this.pacer.take(memberKeyOf(conn));
    const slice = { frames: 0, bytes: 0 };
    try {
      if (!conn.closing) await this.catchUp(conn, since, turn, slice, userToken);
      // The board after the meeting, in the same turn; meeting events meanwhile follow both.
      const boardSeat = conn.talk?.board;
      if (boardSeat && !conn.closing) await this.opts.board!.catchUp(boardSeat, (frame) => this.sendCatchUp(conn, frame, turn, slice));
      while (conn.pending && conn.pending.length > 0 && !conn.closing) {
        const batch = conn.pending.splice(0);
        for (const e of batch) if (!(await this.sendPaced(conn, e, turn, slice))) break;
      }
    } finally {
      endSlice(conn, slice);
      turn.end();
    }
    // In the same turn as the last check of the queue: from here on, live events go straight out.
    conn.pending = null;
    if (!conn.closing) await this.checkSessions(conn.roomId, [conn]);
  }

  /**
   * Bring a resuming socket up to date in this turn when it has missed at most QUICK_RESUME events
   * (the log still holding them), then let live events straight through. False: a real catch-up.
   */
  private async resumeAtOnce(conn: Conn, since: number): Promise<boolean> {
    const latest = (await this.opts.meeting.room(conn.roomId))?.seq;
    if (latest === undefined || since > latest || latest - since > QUICK_RESUME) return false;
    // At least every event up to `latest`; later ones are also among those queued in `pending`.
    const missed = latest > since ? (await this.opts.meeting.eventsSince(conn.roomId, since, QUICK_RESUME)).events : [];
    if (latest > since && missed[0]?.seq !== since + 1) return false;
    if (conn.closing) return true;
    const pending = conn.pending ?? [];
    conn.pending = null;
    conn.lastSeq = since;
    for (const e of missed) this.sendLive(conn, e, null);
    for (const e of pending) this.sendLive(conn, e, null);
    return true;
  }

  /** Bring a new socket up to date: the missed events from the log, or a snapshot. */
  private async catchUp(conn: Conn, since: number | null, turn: Turn, slice: Slice, userToken: string): Promise<void> {
    const meeting = this.opts.meeting;
    if (since !== null) {
      const latest = (await meeting.room(conn.roomId))?.seq;
      if (latest !== undefined && since <= latest) {
        let after = since;
        for (;;) {
          const range = await meeting.eventsSince(conn.roomId, after, LOG_PAGE);
          // The log no longer reaches back to `since`: only a snapshot can bring the client up to date.
          if (after === since && since < latest && (range.oldestSeq === 0 || range.oldestSeq > since + 1)) break;
          for (const e of range.events) if (!(await this.sendPaced(conn, e, turn, slice))) return;
          if (conn.closing || range.events.length < LOG_PAGE) return;
          after = range.events[range.events.length - 1]!.seq;
        }
      }
    }
    const room = await meeting.room(conn.roomId);
    if (!room || conn.closing) return;
    await this.sendCatchUp(conn, this.opts.format.snapshot(room, { userId: conn.userId, userToken }, snapshotMembers(room, conn.userId)), turn, slice);
    conn.lastSeq = Math.max(conn.lastSeq, room.seq);
  }

  private deliver(roomId: string, events: LoggedEvent[]): void {
    const set = this.rooms.get(roomId);
    if (!set || set.size === 0) return;
    // Members whose sockets may have to close after this batch (left, removed, replaced); null: all.
    let recheck: Set<string> | null | undefined;
    const started = performance.now();
    const sentBefore = this.framesOut;
    for (const e of events) {
      const to = recipientsOf(e.event);
      // Encoded once per event, whatever the number of sockets.
      let frame: Buffer | null = null;
      for (const c of set) {
        if (c.pending) {
          if (c.pending.push(e) > MAX_PENDING) this.end(c, Close.slow);
          continue;
        }
        if (c.waiting) {
          this.lobby.live(c, e, to);
          continue;
        }
        frame = this.sendLive(c, e, frame, to);
      }
      const affected = affectedMembers(e);
      if (affected === null) recheck = null;
      else if (affected.length > 0 && recheck !== null) for (const id of affected) (recheck ??= new Set()).add(id);
    }
    this.opts.fanoutCost?.record(this.framesOut - sentBefore, performance.now() - started);
    if (recheck === undefined) return;
    const conns = [...set].filter((c) => recheck === null || recheck!.has(c.userId));
    if (conns.length > 0) this.checkSessions(roomId, conns).catch((err) => this.opts.onError?.(err, 'realtime session check'));
  }

  /**
   * A live event to one socket, if meant for it and newer than what it has; `frame` is the event's
   * encoding when already made (encoded once per event, whatever the number of sockets). Returns it.
   */
  private sendLive(c: Conn, e: LoggedEvent, frame: Buffer | null, to = recipientsOf(e.event)): Buffer | null {
    if (e.seq <= c.lastSeq) return frame;
    c.lastSeq = e.seq;
    if (to !== null && !to.includes(c.userId)) return frame;
    frame ??= this.opts.format.event(e);
    this.sendRaw(c, frame);
    return frame;
  }

  /** A catch-up's event: sent if it is meant for this socket and newer than what it has. */
  private async sendPaced(conn: Conn, e: LoggedEvent, turn: Turn, slice: Slice): Promise<boolean> {
    if (e.seq <= conn.lastSeq) return !conn.closing;
    conn.lastSeq = e.seq;
    const to = recipientsOf(e.event);
    if ((to !== null && !to.includes(conn.userId)) || conn.closing) return !conn.closing;
    return this.sendCatchUp(conn, this.opts.format.event(e), turn, slice);
  }

  /**
   * A catch-up's frame. After each slice (its share of the pacer's budget per turn) the event loop is given back;
   * when the socket holds more than the low watermark unsent, the catch-up gives its turn up until it
   * drains, and a socket that does not drain within DRAIN_TIMEOUT_MS is cut off. False: stop.
   */
  private async sendCatchUp(conn: Conn, frame: Buffer, turn: Turn, slice: Slice): Promise<boolean> {
    if (conn.closing) return false;
    // A slice's frames leave in one write rather than a system call each.
    if (slice.frames === 0) conn.socket.cork();
    conn.ws.send(frame, { binary: false });
    this.opts.metrics?.frameSent('catchup');
    slice.frames++;
    slice.bytes += frame.length;
    if (slice.frames < this.pacer.sliceFrames && slice.bytes < this.pacer.sliceBytes) return true;
    endSlice(conn, slice);
    await turn.breathe();
    if (conn.closing) return false;
    if (conn.ws.bufferedAmount > this.limits.low && !(await turn.away(writable(conn, this.limits.low, DRAIN_TIMEOUT_MS)))) {
      this.end(conn, Close.slow);
      return false;
    }
    return !conn.closing;
  }

  /** The feed could not recover this room's events: its sockets start over with a snapshot. */
  private lost(roomId: string): void {
    for (const c of [...(this.rooms.get(roomId) ?? [])]) this.end(c, Close.lost);
  }

  private sendRaw(conn: Conn, frame: Buffer): void {
    if (conn.closing) return;
    // A reader that falls behind is cut off rather than buffered without bound; it can resume.
    this.framesOut++;
    if (!push(conn, frame, this.limits)) this.end(conn, Close.slow);
    else this.opts.metrics?.frameSent('live');
  }

  /** Close the sockets of members who left, were removed or replaced, or whose meeting ended. */
  private async checkSessions(roomId: string, conns: Conn[]): Promise<void> {
    const room = await this.opts.meeting.room(roomId);
    for (const c of conns) {
      if (c.closing || c.pending || c.moving) continue;
      // Breakouts (field checks only when there are none): a socket whose member moved, or is placed
      // in another room of its meeting, follows it there rather than being closed.
      if ((c.roomId !== c.home || room?.breakouts) && mayHaveMoved(c, room)) {
        this.switcher.relocate(c).catch((err) => this.opts.onError?.(err, 'breakout switch'));
        continue;
      }
      // A lookup, not a map of the room: each socket that opens checks itself, in rooms of thousands.
      const m = room ? findMember(room, c.userId) : undefined;
      if (!room || room.ended) this.end(c, Close.ended);
      else if (!m?.present && m?.lobby !== undefined) this.lobby.outside(c, m);
      else if (!m?.present) this.end(c, Close.removed);
      else if (m.session !== c.session) this.end(c, Close.replaced);
    }
  }

  /** The userToken of a socket's session (the one it opened with, or the one a RoomToken entry made). */
  private tokenOf(c: Conn): string {
    return formatSessionToken({ roomId: c.roomId, userId: c.userId, secret: c.session });
  }

  private end(conn: Conn, why: { code: number; reason: string }): void {
    if (conn.closing) return;
    conn.closing = true;
    if (why === Close.slow) this.opts.metrics?.slowConsumerClosed();
    // What waited is dropped: the close frame goes out next, ahead of any backlog.
    discard(conn);
    closeReadably(conn, why.code, why.reason);
    this.drop(conn);
  }

  private drop(conn: Conn): void {
    // Nothing more is sent to it: a catch-up still waiting for its turn stops when the turn comes.
    conn.closing = true;
    const set = this.rooms.get(conn.roomId);
    if (!set?.delete(conn)) return;
    if (set.size === 0) this.rooms.delete(conn.roomId);
    this.countSocket(conn, -1);
    if (conn.talk?.board) this.opts.board!.leave(conn.talk.board);
    if (conn.talk?.media) this.opts.media!.leave(conn.talk.media);
    if (!conn.followed) return;
    this.feed.unfollow(conn.roomId);
    this.opts.presence.disconnected(conn.home, conn.userId, conn.id);
    if (conn.roomId !== conn.home) this.opts.presence.disconnected(conn.roomId, conn.userId, conn.id);
  }

  /**
   * A socket that sends (the board's ops, media signals) gets a seat of each and one listener;
   * the others send nothing and listen to nothing. A media socket is told the mesh size and its ICE
   * servers at once (its first frame).
   */
  private takeInbound(conn: Conn, board: boolean, media: boolean): void {
    const whiteboard = board ? this.opts.board : undefined;
    const relay = media ? this.opts.media : undefined;
    if (!whiteboard && !relay) return;
    const send = (frame: Buffer) => this.sendRaw(conn, frame);
    const member = { roomId: conn.roomId, userId: conn.userId, session: conn.session, memberKey: memberKeyOf(conn), send };
    const talk = (conn.talk = { board: whiteboard ? whiteboard.seat(member) : null, media: null as MediaSeat | null });
    if (relay) {
      const seat = (talk.media = relay.open(member));
      const boardOf = whiteboard && talk.board ? { whiteboard, seat: talk.board } : null;
      conn.ws.on('message', (data, isBinary) => receiveOnMediaSocket(relay, seat, boardOf, data, isBinary));
    } else if (whiteboard && talk.board) {
      const seat = talk.board;
      conn.ws.on('message', (data, isBinary) => whiteboard.receive(seat, data, isBinary));
    }
  }

  /** Move a socket to `roomId` (RoomSwitch): its roomId, the room sets and the member's socket count. */
  private rehome(c: Conn, roomId: string): void {
    const old = this.rooms.get(c.roomId);
    old?.delete(c);
    if (old?.size === 0) this.rooms.delete(c.roomId);
    this.countSocket(c, -1);
    c.roomId = roomId;
    let set = this.rooms.get(roomId);
    if (!set) this.rooms.set(roomId, (set = new Set()));
    set.add(c);
    this.countSocket(c, 1);
  }

  private socketsOf(roomId: string, userId: string): number {
    return this.memberSockets.get(roomId)?.get(userId) ?? 0;
  }

  private countSocket(conn: Conn, by: 1 | -1): void {
    let room = this.memberSockets.get(conn.roomId);
    if (!room) this.memberSockets.set(conn.roomId, (room = new Map()));
    const n = (room.get(conn.userId) ?? 0) + by;
    if (n > 0) room.set(conn.userId, n);
    else if (room.delete(conn.userId) && room.size === 0) this.memberSockets.delete(conn.roomId);
  }

  /**
   * One tick of the ping round: each socket is pinged once per interval; one that has not answered
   * its previous ping (an interval ago) is dropped. The round's sockets are listed at its start;
   * one opened since waits for the next round.
   */
  private ping(): void {
    if (this.pingRound.length === 0 || this.pingTick >= PING_SLICES) {
      this.pingRound = [];
      for (const set of this.rooms.values()) for (const c of set) this.pingRound.push(c);
      this.pingTick = 0;
    }
    const share = Math.ceil(this.pingRound.length / PING_SLICES);
    const end = Math.min(this.pingRound.length, (this.pingTick + 1) * share);
    for (let i = this.pingTick * share; i < end; i++) {
      const c = this.pingRound[i]!;
      if (c.closing) continue;
      if (!c.alive) {
        discard(c);
        c.ws.terminate();
        this.drop(c);
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
    this.pingTick++;
  }
}


/** Close a socket that was not accepted; a peer that never answers the close is cut 2 s after it is written. */
function refuse(ws: WebSocket, socket: Duplex, why: { code: number; reason: string }): void {
  closeReadably({ ws, socket }, why.code, why.reason);
}

/** What a catch-up has sent since it last gave the event loop back (the socket is corked meanwhile). */
interface Slice {
  frames: number;
  bytes: number;
}

function endSlice(conn: Conn, slice: Slice): void {
  if (slice.frames === 0) return;
  slice.frames = 0;
  slice.bytes = 0;
  conn.socket.uncork();
}

// Shared listeners: a closure per socket would cost memory for each of thousands of members.
function ignoreError(): void {}

/**
 * ws turns the HTTP connection timeout off for an upgraded socket (setTimeout(0)), but Node keeps
 * the cleared Timeout and its bound callback on the socket for the socket's life: about 170 bytes
 * per idle member. The field is Node's internal `Symbol(timeout)`; where it is not found (another
 * Node), nothing is done.
 */
function dropClearedTimer(socket: Duplex): void {
  const key = (timeoutKey ??= Object.getOwnPropertySymbols(socket).find((k) => k.description === 'timeout') ?? null);
  const s = socket as unknown as Record<symbol, { _idleTimeout?: number } | null>;
  // Only a cleared one (its idle timeout set to -1 by clearTimeout): a live timer is Node's business.
  if (key && s[key]?._idleTimeout === -1) s[key] = null;
}
let timeoutKey: symbol | null | undefined;

/** One key per member of a room (the pacer's owner, the board's seat): made when needed, not kept per socket. */
function memberKeyOf(conn: Conn): string {
  return `${conn.roomId}\n${conn.userId}`;
}

/** A socket's connection record, on the socket itself (for the shared listeners). */
const CONN = Symbol('conn');
type Owned = WebSocket & { [CONN]?: Conn };

function markAlive(this: Owned): void {
  this[CONN]!.alive = true;
}

/**
 * A protocol error (a malformed frame): ws has sent its close frame and reads no more, so a peer
 * that never answers it is cut off rather than kept for ws's 30 s closing timeout.
 */
function cutOffAfterProtocolError(this: WebSocket): void {
  setTimeout(() => this.terminate(), 2_000).unref();
}

/** Members whose session an event may have ended or replaced; null: everyone's (meeting ended). */
function affectedMembers(e: LoggedEvent): string[] | null {
  const ev = e.event;
  switch (ev.type) {
    case 'breakoutsChanged':
      // A round opened, moved or closing: main-meeting sockets of placed members follow them.
      return null;
    case 'membersChanged':
      return ev.changes.filter((c) => !c.present).map((c) => c.member.userId);
    case 'memberChanged':
      return [ev.member.userId];
    case 'memberKicked':
      return [ev.target.userId];
    case 'roomChanged':
      return ev.ended ? null : [];
    // Convene's lobby: those who left it, or knocked again with a new session.
    case 'lobbyChanged':
      return ev.left.length + ev.knocked.length === 0 ? [] : [...ev.left, ...ev.knocked].map((k) => k.userId);
    default:
      return [];
  }
}

/** Whether an upgrade asks for the board or media (`board=1`, `media=1`): it then gets a larger frame limit. */
function wanted(url: string, what: 'board' | 'media'): boolean {
  const q = url.indexOf('?');
  return q >= 0 && new URLSearchParams(url.slice(q + 1)).getAll(what).includes('1');
}
