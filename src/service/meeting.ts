// The one write path: every change to a meeting, whoever asks for it, is a command executed here:
// load the room → decide (pure) → commit the new state and its events atomically → publish.
import type { Command, EntryPolicy, RoomCommand } from '../domain/commands.ts';
import type { LoggedEvent, MeetingEvent } from '../domain/events.ts';
import { findMember, liveCount, type Member, type Room } from '../domain/room.ts';
import { decide, RuleError, type Decision } from '../domain/rules.ts';
import type { EventBus, RoomEventsHandler } from '../bus/bus.ts';
import type { App, EventRange, RoomListQuery, RoomStore, RoomSummary } from '../store/store.ts';
import { RoomDelivery } from './delivery.ts';
import { OutboxWriter } from '../webhooks/outbox.ts';
import { formatSessionToken, newId, newSecret, parseSessionToken, sameSecret } from '../tokens/session.ts';
import type { CommandMetrics } from '../ops/metrics.ts';

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

/** Contention retries before a command gives up (only reachable under pathological load). */
const MAX_ATTEMPTS = 50;
/** Commands decided and committed together at most. */
const MAX_BATCH = 500;
/** Decisions between two yields to the event loop within one batch. */
const YIELD_EVERY = 50;
/** How long a room under a storm of commands may let the next batch gather (ms): 50, up to 500 in large rooms. */
const STORM_LINGER_MS = 50;
const STORM_LINGER_MAX_MS = 500;
/** It gathers in steps of this long, while each step brings more commands. */
const STORM_STEP_MS = 10;

interface Pending {
  /** The app of an entry (for the meetings-per-app cap); null for a command on a room. */
  appId: string | null;
  /** Built per attempt: an entry draws fresh ids each time it is decided. */
  command: () => Command;
  delivery: Delivery;
  resolve: (d: Decision) => void;
  reject: (err: unknown) => void;
}

/**
 * One message for membership changes that follow one another (a batch of entries or departures):
 * cmd 2 lists many members, as the client format allows, so a storm costs one frame per socket per
 * batch, not per member.
 */
function coalesced(events: MeetingEvent[]): MeetingEvent[] {
  const out: MeetingEvent[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (last?.type === 'membersChanged' && e.type === 'membersChanged') {
      out[out.length - 1] = { type: 'membersChanged', changes: [...last.changes, ...e.changes], total: e.total };
    } else out.push(e);
  }
  return out;
}

/** A batch's events wait for every answer that asked them to (each hold is capped by RoomDelivery). */
function publishAfterAll(batch: Pending[]): PromiseLike<unknown> | undefined {
  const waits = batch.map((p) => p.delivery.publishAfter).filter((w): w is PromiseLike<unknown> => w !== undefined);
  if (waits.length === 0) return undefined;
  return waits.length === 1 ? waits[0] : Promise.allSettled(waits);
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
  private readonly onError: (err: unknown, what: string) => void;
  private readonly metrics: CommandMetrics | undefined;
  /**
   * Commands waiting for their room (by room id, or app and roomUuid for entries), and the batch
   * being committed: in this process a room's commands run one batch at a time; other nodes are
   * caught by versions.
   */
  private readonly pending = new Map<string, { load: () => Promise<Room | null>; items: Pending[] }>();
  private readonly runners = new Map<string, Promise<void>>();
  /** Told of the events this process commits, at once (the bus tells every node, maybe later). */
  private readonly observers = new Set<RoomEventsHandler>();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(opts: MeetingOptions) {
    this.store = opts.store;
    this.outbox = new OutboxWriter(opts.store);
    this.delivery = new RoomDelivery(opts.bus);
    this.now = opts.now ?? Date.now;
    this.emptyRoomTtlMs = opts.emptyRoomTtlMs ?? 300_000;
    this.sweepIntervalMs = opts.sweepIntervalMs ?? Math.min(30_000, Math.max(250, this.emptyRoomTtlMs / 4));
    this.onError = opts.onError ?? (() => {});
    this.metrics = opts.metrics;
    this.maxRoomMembers = opts.maxRoomMembers ?? 0;
    this.maxRoomsPerApp = opts.maxRoomsPerApp ?? 0;
  }

  /** Enter a room by its key: the first entry creates the meeting, later ones join it. */
  async enter(app: App, input: EntryInput, delivery: Delivery = {}): Promise<Entered> {
    // The tighter of the app's limit and the server's cap (0 is no limit on either side).
    const caps = [app.maxUsers, this.maxRoomMembers].filter((n) => n > 0);
    const policy: EntryPolicy = { maxUsers: caps.length > 0 ? Math.min(...caps) : 0, noAutoKickUser: app.noAutoKickUser };
    const decision = await this.measured(
      'enter',
      this.submitEntry(app.appId, input.roomUuid, {
        appId: app.appId,
        delivery,
        command: () => ({ type: 'enter', appId: app.appId, ...input, policy, fresh: { roomId: newId(), boardId: newId(), userId: newId(), session: newSecret() } }),
      }),
    );
    const { userId, session } = decision.entered!;
    const roomId = decision.room.roomId;
    return { roomId, userId, userToken: formatSessionToken({ roomId, userId, secret: session }) };
  }

  /**
   * One queue per meeting: an entry into a running meeting waits in line with the meeting's other
   * commands. In a queue of its own it would race them for every commit and, in a storm (big batches
   * of entries against the sockets' commands), lose that race until it gave up.
   */
  private async submitEntry(appId: string, roomUuid: string, item: Omit<Pending, 'resolve' | 'reject'>): Promise<Decision> {
    const running = await this.store.findRunningRoom(appId, roomUuid);
    if (running) {
      try {
        return await this.submit(running.roomId, () => this.store.loadRoom(running.roomId), item);
      } catch (err) {
        // The meeting ended meanwhile: this entry starts the next one, as if it had come a moment later.
        if (!(err instanceof RuleError && err.code === 'ended')) throw err;
      }
    }
    // No running meeting (yet): entries for the key line up until one of them creates it.
    return this.submit(`${appId}\u0000${roomUuid}`, () => this.store.findRunningRoom(appId, roomUuid), item);
  }

  private async checkRoomCount(appId: string): Promise<void> {
    const { total } = await this.store.listRooms({ appId, activeOnly: false, prefix: '', offset: 0, limit: 1 });
    if (total >= this.maxRoomsPerApp) {
      throw new RuleError('tooManyRooms', `this app already runs ${total} meetings, the most allowed (CONVENE_MAX_ROOMS_PER_APP): end one first`);
    }
  }

  /** Run a command on an existing room. Throws RuleError when the rules say no. */
  execute(roomId: string, cmd: RoomCommand, delivery: Delivery = {}): Promise<Decision> {
    return this.measured(cmd.type, this.submit(roomId, () => this.store.loadRoom(roomId), { appId: null, delivery, command: () => cmd }));
  }

  /** From submission to answer, whatever the answer: the metrics see it settle. */
  private measured<T>(type: string, decided: Promise<T>): Promise<T> {
    this.metrics?.command(type, decided);
    return decided;
  }

  /**
   * Queue a command for its room. Commands that arrive while the room's previous batch is being
   * committed are decided together, one after another on the same state, and committed at once:
   * a storm of entries or departures in a large room costs one write and one fan-out per batch,
   * not one per member, and never starves the room's other commands.
   */
  private submit(key: string, load: () => Promise<Room | null>, item: Omit<Pending, 'resolve' | 'reject'>): Promise<Decision> {
    return new Promise<Decision>((resolve, reject) => {
      let q = this.pending.get(key);
      if (!q) {
        q = { load, items: [] };
        this.pending.set(key, q);
      }
      q.items.push({ ...item, resolve, reject });
      if (!this.runners.has(key)) this.runners.set(key, this.drain(key));
    });
  }

  private async drain(key: string): Promise<void> {
    try {
      for (;;) {
        const q = this.pending.get(key);
        if (!q || q.items.length === 0) break;
        const batch = q.items.splice(0, MAX_BATCH);
        let live = 0;
        try {
          live = await this.runBatch(q.load, batch);
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
        // Several commands waited for the last batch: a storm. Let the next batch gather, so that
        // it costs one commit and one fan-out to every member for many changes. The more sockets a
        // fan-out reaches, the longer it waits in any case (0.1 ms per socket, at most half a
        // second); beyond that it keeps gathering (up to 50 ms, or that bound) only while each step
        // brings more commands: clients that wait for their answers before sending more, in a room
        // whose members have no sockets here to tell, are not held up for nothing.
        if (batch.length > 1) {
          const start = Date.now();
          const bound = Math.min(STORM_LINGER_MAX_MS, live / 10);
          if (bound > 0 && q.items.length < MAX_BATCH) await new Promise((r) => setTimeout(r, bound));
          const until = start + Math.max(STORM_LINGER_MS, bound);
          let seen = -1;
          while (q.items.length !== seen && q.items.length < MAX_BATCH && Date.now() < until) {
            seen = q.items.length;
            await new Promise((r) => setTimeout(r, STORM_STEP_MS));
          }
        }
      }
    } finally {
      this.pending.delete(key);
      this.runners.delete(key);
    }
  }

  /**
   * Decide every command of a batch in order on one state, commit once; retried whole on a conflict.
   * Returns how many present members the room has with a realtime socket after it.
   */
  private async runBatch(load: () => Promise<Room | null>, batch: Pending[]): Promise<number> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const stored = await load();
      const entering = batch.find((p) => p.appId !== null);
      if (!stored && entering && this.maxRoomsPerApp > 0) await this.checkRoomCount(entering.appId!);
      const now = this.now();
      const outcomes: (Decision | RuleError)[] = [];
      const events: MeetingEvent[] = [];
      let current = stored;
      let changed = false;
      for (const [i, p] of batch.entries()) {
        // A long batch in a large room yields now and then: other rooms' commands and everyone's
        // reads go on meanwhile (this room's next commands wait in its queue).
        if (i > 0 && i % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
        const cmd = p.command();
        // After the first change, `current` is this batch's own draft: the next decision may reuse
        // its members array rather than copy it (a storm into a huge room copies it once).
        const d = current === null && cmd.type !== 'enter' ? new RuleError('notFound', 'room not found') : decide(current, cmd, now, current !== stored);
        outcomes.push(d);
        // A decision without events changed nothing (unless it says so): nothing to write for it.
        if (d instanceof RuleError || (d.events.length === 0 && !d.changed)) continue;
        current = d.room;
        events.push(...d.events);
        changed = true;
      }
      if (changed && current) {
        const expected = stored?.version ?? 0;
        const logged: LoggedEvent[] = coalesced(events).map((event, i) => ({ seq: current!.seq + 1 + i, at: now, event }));
        current.version = expected + 1;
        current.seq += logged.length;
        const outbox = await this.outbox.rowsFor(stored, current, logged);
        const result = await this.store.commit(current, expected, logged, outbox);
        if (!result.ok) {
          // The app's webhooks changed since its rows were made: made again, with the new ones.
          if (result.reason === 'webhooksChanged') this.outbox.forget(current.appId);
          continue;
        }
        if (outbox && outbox.rows.length > 0) this.outbox.written();
        if (logged.length > 0) {
          for (const observer of this.observers) observer(current.roomId, logged);
          this.delivery.publish(current.roomId, logged, publishAfterAll(batch));
        }
      }
      batch.forEach((p, i) => {
        const d = outcomes[i]!;
        if (d instanceof RuleError) p.reject(d);
        // The batch's rooms before the last were handed on to the next decision: each answer names
        // the room as committed.
        else p.resolve(current && d.room !== current ? { ...d, room: current } : d);
      });
      return current ? liveCount(current) : 0;
    }
    throw new Error(`${batch.length} command(s) on one room kept conflicting`);
  }

  /** Told when a commit here wrote webhook rows (the dispatcher delivers them at once). */
  onWebhookRows(handler: () => void): void {
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
    const claim = parseSessionToken(token);
    if (!claim) throw new RuleError('notInRoom', 'invalid token: enter the room again');
    if (roomId !== null && claim.roomId !== roomId) throw new RuleError('notInRoom', 'this token belongs to another room');
    const room = await this.store.loadRoom(claim.roomId);
    const member = room && (appId === null || room.appId === appId) ? findMember(room, claim.userId) : undefined;
    if (!room || !member || !sameSecret(member.session, claim.secret)) {
      throw new RuleError('notInRoom', 'session invalid or replaced by a newer entry: enter the room again');
    }
    if (!allowDeparted) {
      if (room.ended) throw new RuleError('ended', 'the meeting has ended');
      if (!member.present) throw new RuleError('notInRoom', 'you are no longer in this room');
    }
    return { room, member };
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

  /** A page of a room's event log after `afterSeq`. */
  eventsSince(roomId: string, afterSeq: number, limit: number): Promise<EventRange> {
    return this.store.eventsSince(roomId, afterSeq, limit);
  }

  /** End a meeting on the server's behalf (admin close). */
  close(roomId: string, delivery: Delivery = {}): Promise<Decision> {
    return this.execute(roomId, { type: 'close', emptySinceAtMost: null }, delivery);
  }

  /** Start the timers (empty rooms ending). */
  start(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => {
      this.sweepEmptyRooms().catch((e) => this.onError(e, 'empty-room sweep'));
    }, this.sweepIntervalMs);
    this.sweeper.unref();
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    await Promise.allSettled([...this.runners.values()]);
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
