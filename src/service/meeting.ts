// The one write path: every change to a meeting, whoever asks for it, is a command executed here:
// load the room → decide (pure) → commit the new state and its events atomically → publish.
import { isQuiet, type EntryPolicy, type RoomCommand, type ServerCaller } from '../domain/commands.ts';
import { findMember, type Member, type Room } from '../domain/room.ts';
import { RuleError, type Decision } from '../domain/rules.ts';
import type { EventBus, RoomEventsHandler } from '../bus/bus.ts';
import type { App, EventRange, RoomListQuery, RoomStore, RoomSummary } from '../store/store.ts';
import { RoomDelivery } from './delivery.ts';
import { RoomQueues, type Pending } from './queue.ts';
import { UidAllocator } from './uids.ts';
import { OutboxWriter, type OutboxSource } from '../webhooks/outbox.ts';
import { formatSessionToken, newId, newSecret, parseSessionToken, sameSecret, type SessionClaim } from '../tokens/session.ts';
import type { CommandMetrics } from '../ops/metrics.ts';
import { BoardUnavailableError, type BoardRooms } from './boards.ts';
import { FanoutCost } from '../realtime/cost.ts';
import { readAudit, type AuditQuery } from './audit.ts';
import type { AuditEntry } from '../domain/audit.ts';
import { BreakoutService } from './breakouts.ts';

export interface MeetingOptions {
  store: RoomStore;
  bus: EventBus;
  now?: () => number;
  /** A room nobody is in ends after this long (ms). */
  emptyRoomTtlMs?: number;
  /** How often timers look for work (ms). */
  sweepIntervalMs?: number;
  /** Members in one meeting at once, whatever the app allows; 0: no cap. */
  maxRoomMembers?: number;
  /** Running meetings of one app; 0: no cap (checked when a meeting starts, so racing starts may pass it by a few). */
  maxRoomsPerApp?: number;
  onError?: (err: unknown, what: string) => void;
  /** Counts and times every command by type and outcome; none: nothing is measured. */
  metrics?: CommandMetrics;
  /** Where meetings' boards are made when they live outside Convene (Netless); none: the built-in board's id is drawn with the meeting. */
  boards?: BoardRooms;
  /** Sinks besides the webhooks whose rows each commit writes in its outbox (the RTM relay). */
  outboxSources?: OutboxSource[];
  /** What a fan-out costs on this node (the realtime gateway measures it): storms gather for a few times as long. */
  fanoutCost?: FanoutCost;
  /** How often this node looks for breakout rounds past their end or half done (ms); its own ends are timed exactly. */
  breakoutSweepMs?: number;
}

export interface EntryInput {
  roomUuid: string;
  roomName: string;
  password: string;
  userUuid: string;
  /** Absent: a returning member keeps its name (a new one is called by its userUuid). */
  userName?: string;
  avatar?: string;
  audio: boolean;
  video: boolean;
  /** A signed RoomToken vouches for this entry (no password asked). */
  vouched?: boolean;
  canKick?: boolean;
}

export interface Entered {
  roomId: string;
  userId: string;
  userToken: string;
  /** Convene's lobby: the entry knocked and waits to be admitted; the token opens its lobby socket. */
  waiting?: true;
}

/** How a caller wants a command's events delivered. */
export interface Delivery {
  /**
   * Hold the events until this settles (the edge passes "my answer has been written"): the room's
   * later events wait behind them, other rooms do not.
   */
  publishAfter?: PromiseLike<unknown>;
}

export interface Session {
  room: Room;
  member: Member;
}

/** Each room state's tokens already verified, and their members (MeetingService.sessionOf). */
const verifiedTokens = new WeakMap<Room, Map<string, Member>>();
const SESSION_INVALID = 'session invalid or replaced by a newer entry: enter the room again';

function claimOf(token: string): SessionClaim {
  const claim = parseSessionToken(token);
  if (!claim) throw new RuleError('notInRoom', 'invalid token: enter the room again');
  return claim;
}

/**
 * An entry queued by roomUuid goes on in its meeting's queue once the meeting exists (queue.ts);
 * one that meets the meeting ended there is submitted once more, and starts the next meeting.
 */
function orTheNext(submit: () => Promise<Decision>): Promise<Decision> {
  return submit().catch((err) => (err instanceof RuleError && err.code === 'ended' ? submit() : Promise.reject(err)));
}

export class MeetingService {
  private readonly store: RoomStore;
  /** The webhook rows each commit writes with its events (none for apps without webhooks). */
  private readonly outbox: OutboxWriter;
  private readonly delivery: RoomDelivery;
  private readonly now: () => number;
  private readonly emptyRoomTtlMs: number;
  private readonly sweepIntervalMs: number;
  private readonly maxRoomMembers: number;
  private readonly maxRoomsPerApp: number;
  private readonly boards: BoardRooms | undefined;
  private readonly onError: (err: unknown, what: string) => void;
  private readonly metrics: CommandMetrics | undefined;
  /** New members' uids, unique across each app (see uids.ts). */
  private readonly uids: UidAllocator;
  /** One queue per meeting: its commands decided in batches and committed (queue.ts). */
  private readonly queues: RoomQueues;
  /** Told of the events this process commits, at once (the bus tells every node, maybe later). */
  private readonly observers = new Set<RoomEventsHandler>();
  private sweeper: NodeJS.Timeout | null = null;
  private breakoutSweeper: NodeJS.Timeout | null = null;
  private readonly breakoutSweepMs: number;
  /** Breakout rooms: their steps, and the sync that makes the breakouts follow their main meeting. */
  readonly breakouts: BreakoutService;

  constructor(opts: MeetingOptions) {
    this.store = opts.store;
    this.outbox = new OutboxWriter(opts.store, opts.outboxSources);
    this.delivery = new RoomDelivery(opts.bus);
    this.now = opts.now ?? Date.now;
    this.emptyRoomTtlMs = opts.emptyRoomTtlMs ?? 300_000;
    this.sweepIntervalMs = opts.sweepIntervalMs ?? Math.min(30_000, Math.max(250, this.emptyRoomTtlMs / 4));
    this.onError = opts.onError ?? (() => {});
    this.metrics = opts.metrics;
    this.maxRoomMembers = opts.maxRoomMembers ?? 0;
    this.maxRoomsPerApp = opts.maxRoomsPerApp ?? 0;
    this.boards = opts.boards;
    this.uids = new UidAllocator(opts.store);
    const fanoutCost = opts.fanoutCost ?? new FanoutCost();
    this.breakoutSweepMs = opts.breakoutSweepMs ?? 5_000;
    this.breakouts = new BreakoutService({
      execute: (roomId, cmd, delivery) => this.execute(roomId, cmd, delivery),
      room: (roomId) => this.store.loadRoom(roomId),
      newRoomId: (appId, roomUuid) => this.newRoomId(appId, roomUuid),
      newBoard: (appId) => (this.boards ? this.boards.open(appId) : Promise.resolve(newId())),
      dropBoard: (boardId) => this.boards?.close(boardId),
      breakoutRoomIds: () => this.breakoutRoomIds(),
      now: () => this.now(),
      onError: (err, what) => this.onError(err, what),
    });
    this.queues = new RoomQueues({
      store: this.store,
      outbox: this.outbox,
      delivery: this.delivery,
      now: this.now,
      observers: this.observers,
      fanoutMs: (sockets) => fanoutCost.estimateMs(sockets),
      beforeStart: (appId) => (this.maxRoomsPerApp > 0 ? this.checkRoomCount(appId) : Promise.resolve()),
      roundChanged: (roomId) => void this.breakouts.sync(roomId).catch((err) => this.onError(err, 'breakout sync')),
    });
  }

  /** The id a new meeting of (app, roomUuid) would get: the store's choice where it places meetings by id. */
  private newRoomId(appId: string, roomUuid: string): string {
    return this.store.newRoomId?.(appId, roomUuid) ?? newId();
  }

  /** Enter a room by its key: the first entry creates the meeting, later ones join it. */
  async enter(app: App, input: EntryInput, delivery: Delivery = {}): Promise<Entered> {
    const policy = this.policyOf(app);
    const decision = await this.measured(
      'enter',
      // The uids are drawn once per entry, used only if a new member comes of it (a returning one keeps its own).
      this.uids.pair(app.appId).then((uid) =>
        this.submitEntry(app.appId, input.roomUuid, {
          appId: app.appId,
          delivery,
          command: () => ({ type: 'enter', appId: app.appId, ...input, policy, fresh: { roomId: this.newRoomId(app.appId, input.roomUuid), boardId: newId(), uid, session: newSecret() } }),
        }),
      ),
    );
    const { userId, session, waiting } = decision.entered!;
    const roomId = decision.room.roomId;
    const entered: Entered = { roomId, userId, userToken: formatSessionToken({ roomId, userId, secret: session }) };
    if (waiting) entered.waiting = true;
    return entered;
  }

  /** The app's rules for an entry, and for an admission from the lobby (which is one). */
  policyOf(app: App): EntryPolicy {
    // The tighter of the app's limit and the server's cap (0 is no limit on either side).
    const caps = [app.maxUsers, this.maxRoomMembers].filter((n) => n > 0);
    const policy: EntryPolicy = { maxUsers: caps.length > 0 ? Math.min(...caps) : 0, noAutoKickUser: app.noAutoKickUser };
    if (app.lobby === true) policy.lobby = true;
    return policy;
  }

  /**
   * One queue per meeting: an entry into a running meeting waits in line with the meeting's other
   * commands. In a queue of its own it would race them for every commit and, in a storm (big batches
   * of entries against the sockets' commands), lose that race until it gave up.
   */
  private async submitEntry(appId: string, roomUuid: string, item: Omit<Pending, 'resolve' | 'reject'>): Promise<Decision> {
    if (this.boards) return this.submitEntryWithBoard(appId, roomUuid, item, this.boards);
    const running = await this.store.findRunningRoom(appId, roomUuid);
    if (running) {
      try {
        return await this.queues.submit(running.roomId, this.startingFrom(running), item);
      } catch (err) {
        // The meeting ended meanwhile: this entry starts the next one, as if it had come a moment later.
        if (!(err instanceof RuleError && err.code === 'ended')) throw err;
      }
    }
    // No running meeting (yet): entries for the key line up until one of them creates it, then go on
    // in its queue (queue.ts). One that meets it ended there starts the next, as above.
    return orTheNext(() => this.queues.submit(`${appId}\u0000${roomUuid}`, () => this.store.findRunningRoom(appId, roomUuid), item));
  }

  /**
   * An entry when boards live outside Convene (Netless): the entry that will start the meeting makes
   * its board first, so that no meeting is ever committed without one; entries into a running meeting
   * make none. A board made for a meeting another entry started meanwhile, or for an entry that was
   * refused, is closed again.
   */
  private async submitEntryWithBoard(appId: string, roomUuid: string, item: Omit<Pending, 'resolve' | 'reject'>, boards: BoardRooms): Promise<Decision> {
    const withBoard = (boardId: string): Omit<Pending, 'resolve' | 'reject'> => ({
      ...item,
      command: () => {
        const c = item.command();
        return c.type === 'enter' ? { ...c, fresh: { ...c.fresh, boardId } } : c;
      },
    });
    const running = await this.store.findRunningRoom(appId, roomUuid);
    if (running) {
      try {
        const joined = await this.queues.submit(running.roomId, this.startingFrom(running), withBoard(''));
        if (joined.room.boardId !== '') return joined;
        // The meeting was deleted under this entry, which started a new one without a board: that
        // one ends at once, and the member enters again (then making a board).
        await this.close(joined.room.roomId).catch((err) => this.onError(err, 'ending a meeting started without its board'));
        throw new BoardUnavailableError('the meeting ended as you entered: enter again');
      } catch (err) {
        // The meeting ended meanwhile: this entry starts the next one, as if it had come a moment later.
        if (!(err instanceof RuleError && err.code === 'ended')) throw err;
      }
    }
    const boardId = await boards.open(appId);
    let decision: Decision;
    try {
      // One that meets the meeting ended in its queue starts the next, with this board.
      decision = await orTheNext(() => this.queues.submit(`${appId}\u0000${roomUuid}`, () => this.store.findRunningRoom(appId, roomUuid), withBoard(boardId)));
    } catch (err) {
      boards.close(boardId);
      throw err;
    }
    if (decision.room.boardId !== boardId) boards.close(boardId);
    return decision;
  }

  private async checkRoomCount(appId: string): Promise<void> {
    const { total } = await this.store.listRooms({ appId, activeOnly: false, prefix: '', offset: 0, limit: 1 });
    if (total >= this.maxRoomsPerApp) {
      throw new RuleError('tooManyRooms', `this app already runs ${total} meetings, the most allowed (CONVENE_MAX_ROOMS_PER_APP): end one first`);
    }
  }

  /**
   * Run a command on an existing room. Throws RuleError when the rules say no. `read`: the room as
   * this request read it moments ago (its caller's session), the command's first base if nothing
   * newer is known by then (see startingFrom).
   */
  execute(roomId: string, cmd: RoomCommand, delivery: Delivery = {}, read?: Room): Promise<Decision> {
    // A quiet command (a socket connecting sets a flag) yields to the commands waiting behind it (queue.ts).
    const quiet = isQuiet(cmd);
    const load = read && read.roomId === roomId ? this.startingFrom(read) : () => this.store.loadRoom(roomId);
    return this.measured(cmd.type, this.queues.submit(roomId, load, { appId: null, delivery, command: () => cmd, quiet }));
  }

  /**
   * A batch's loader whose first read is `read`, the room this request read moments ago, while the
   * store knows nothing newer of it: the command costs no second read (a round trip on Redis). The
   * commit checks the version all the same: another node's write meanwhile is a conflict, and the
   * batch then reads again, as does every later batch of the queue.
   */
  private startingFrom(read: Room): () => Promise<Room | null> {
    let first: Room | null = read;
    return () => {
      const r = first;
      first = null;
      return r && this.store.isCurrent?.(r) ? Promise.resolve(r) : this.store.loadRoom(read.roomId);
    };
  }

  /** From submission to answer, whatever the answer: the metrics see it settle. */
  private measured<T>(type: string, decided: Promise<T>): Promise<T> {
    this.metrics?.command(type, decided);
    return decided;
  }

  /** Told when a commit here wrote outbox rows (webhooks, relay, bans: the dispatcher delivers them at once). */
  onOutboxRows(handler: () => void): void {
    this.outbox.written = handler;
  }

  /**
   * Watch the events committed by this process (not other nodes'): what must happen once per event
   * in a cluster is done by the node that committed it. Returns the unsubscribe function.
   */
  observe(handler: RoomEventsHandler): () => void {
    this.observers.add(handler);
    return () => this.observers.delete(handler);
  }

  /**
   * The member behind a userToken, for a call on `roomId` of `appId` (null: whichever it names). Removed members and ended
   * meetings are refused unless `allowDeparted` (the idempotent self-exit).
   */
  async authenticate(appId: string | null, roomId: string | null, token: string, allowDeparted = false): Promise<Session> {
    const session = await this.sessionOf(roomId, token);
    const { room, member } = session;
    if (appId !== null && room.appId !== appId) throw new RuleError('notInRoom', SESSION_INVALID);
    if (!allowDeparted) {
      if (room.ended) throw new RuleError('ended', 'the meeting has ended');
      if (!member.present) throw new RuleError('notInRoom', 'you are no longer in this room');
    }
    return { room, member };
  }

  /**
   * The room and member a token names, its secret compared. Remembered with the room state it was
   * found in (immutable, and dropped with it): the same token on the same state needs no second
   * look (room info is read over and over by every member: issue 17).
   */
  private async sessionOf(roomId: string | null, token: string): Promise<Session> {
    // A call that names its room looks there first, before parsing the token: a token this room's
    // state has verified was verified against this very room (room info, polled, stops there).
    let claim = roomId === null ? claimOf(token) : null;
    const room = await this.store.loadRoom(roomId ?? claim!.roomId);
    const known = room ? verifiedTokens.get(room)?.get(token) : undefined;
    if (known) return { room: room!, member: known };
    claim ??= claimOf(token);
    if (roomId !== null && claim.roomId !== roomId) return this.breakoutSessionOf(roomId, claim);
    if (!room) throw new RuleError('notInRoom', SESSION_INVALID);
    const member = findMember(room, claim.userId);
    if (!member || !sameSecret(member.session, claim.secret)) throw new RuleError('notInRoom', SESSION_INVALID);
    let tokens = verifiedTokens.get(room);
    if (!tokens) verifiedTokens.set(room, (tokens = new Map()));
    tokens.set(token, member);
    return { room, member };
  }

  /**
   * DECISION: a main meeting's token works in its breakouts (no second token): a breakout seats the
   * main meeting's member with its ids and session secret, so the same secret is checked there.
   */
  private async breakoutSessionOf(roomId: string, claim: { roomId: string; userId: string; secret: string }): Promise<Session> {
    const room = await this.store.loadRoom(roomId);
    if (!room?.breakoutOf || room.breakoutOf.mainRoomId !== claim.roomId) throw new RuleError('notInRoom', 'this token belongs to another room');
    const member = findMember(room, claim.userId);
    if (!member || !sameSecret(member.session, claim.secret)) throw new RuleError('notInRoom', 'you are not in this breakout room');
    return { room, member };
  }

  /** Running breakout rooms of every app (their roomUuid prefix): few, and only where rounds run. */
  private async breakoutRoomIds(): Promise<string[]> {
    const ids: string[] = [];
    for (const app of await this.store.listApps(null)) {
      const { rooms } = await this.store.listRooms({ appId: app.appId, activeOnly: false, prefix: 'breakout:', offset: 0, limit: 1000 });
      for (const r of rooms) if (!r.ended) ids.push(r.roomId);
    }
    return ids;
  }

  async room(roomId: string): Promise<Room | null> {
    return this.store.loadRoom(roomId);
  }

  async runningRoom(appId: string, roomUuid: string): Promise<Room | null> {
    return this.store.findRunningRoom(appId, roomUuid);
  }

  /** Running rooms of an app, by key (see RoomStore.listRooms). */
  listRooms(q: RoomListQuery): Promise<{ rooms: RoomSummary[]; total: number }> {
    return this.store.listRooms(q);
  }

  /** Rooms with someone present. */
  activeRoomIds(): Promise<string[]> {
    return this.store.activeRoomIds();
  }

  /**
   * The first seq of a room this process committed but still holds back (until its answer is
   * written), or null: whoever reads the log must not deliver it, or anything after it, sooner.
   */
  heldFrom(roomId: string): number | null {
    return this.delivery.heldFrom(roomId);
  }

  /** A page of a meeting's audit log, filtered (service/audit.ts); running or ended, until it is purged. */
  auditLog(roomId: string, q: AuditQuery): Promise<{ entries: AuditEntry[]; total: number }> {
    return readAudit(this.store, roomId, q);
  }

  /** A page of a room's event log after `afterSeq`. */
  eventsSince(roomId: string, afterSeq: number, limit: number): Promise<EventRange> {
    return this.store.eventsSince(roomId, afterSeq, limit);
  }

  /** End a meeting on the server's behalf (admin close); `by`: who asked, for the audit log. */
  close(roomId: string, delivery: Delivery = {}, by?: ServerCaller): Promise<Decision> {
    return this.execute(roomId, { type: 'close', emptySinceAtMost: null, by }, delivery);
  }

  /** Start the timers (empty rooms ending). */
  start(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => {
      this.sweepEmptyRooms().catch((e) => this.onError(e, 'empty-room sweep'));
    }, this.sweepIntervalMs);
    this.sweeper.unref();
    this.breakoutSweeper = setInterval(() => {
      this.breakouts.sweep().catch((e) => this.onError(e, 'breakout sweep'));
    }, this.breakoutSweepMs);
    this.breakoutSweeper.unref();
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    if (this.breakoutSweeper) clearInterval(this.breakoutSweeper);
    this.breakoutSweeper = null;
    this.breakouts.stop();
    await this.breakouts.idle();
    await this.queues.idle();
  }

  /** End every meeting that has been empty for the TTL. */
  async sweepEmptyRooms(): Promise<number> {
    const cutoff = this.now() - this.emptyRoomTtlMs;
    let ended = 0;
    for (const roomId of await this.store.emptyRoomsSince(cutoff)) {
      try {
        // The rules check the stored emptySince: a room someone entered since (on any node) stays.
        const d = await this.execute(roomId, { type: 'close', emptySinceAtMost: cutoff });
        if (d.events.length > 0) ended++;
      } catch (err) {
        // Another node's sweep (or an admin) ended it first: that is the one end it gets.
        if (!(err instanceof RuleError)) throw err;
      }
    }
    return ended;
  }

}
