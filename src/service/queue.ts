// The rooms' command queues: one queue per meeting, commands decided in batches on one state and
// committed at once (load → decide → commit → publish), so that a storm of entries or departures in
// a large room costs one write and one fan-out per batch.
import type { Command } from '../domain/commands.ts';
import type { LoggedEvent, MeetingEvent } from '../domain/events.ts';
import { liveCount, type Room } from '../domain/room.ts';
import { decide, RuleError, type Decision } from '../domain/rules.ts';
import { auditWatch, type AuditDraft, type AuditEntry } from '../domain/audit.ts';
import type { RoomEventsHandler } from '../bus/bus.ts';
import type { RoomStore } from '../store/store.ts';
import type { RoomDelivery } from './delivery.ts';
import type { OutboxWriter } from '../webhooks/outbox.ts';
import type { Delivery } from './meeting.ts';

/** Contention retries before a command gives up (only reachable under pathological load). */
const MAX_ATTEMPTS = 50;
/** Commands decided and committed together at most. */
const MAX_BATCH = 500;
/** Quiet commands decided together at most: a command arriving meanwhile waits for no more than this. */
const QUIET_BATCH = 64;
/** Decisions between two yields to the event loop within one batch. */
const YIELD_EVERY = 50;
/** How long a room under a storm of commands may let the next batch gather (ms): 50, up to 500 in large rooms. */
const STORM_LINGER_MS = 50;
const STORM_LINGER_MAX_MS = 500;
/**
 * A storm's next batch waits this many times as long as a fan-out to the room takes: telling every
 * socket is then at most a fifth of the room's time (2 and 8 were slower in bench:joinstorm).
 */
const LINGER_PER_FANOUT = 4;
/** It gathers in steps of this long, while each step brings more commands. */
const STORM_STEP_MS = 10;

export interface Pending {
  /** The app of an entry (for the meetings-per-app cap); null for a command on a room. */
  appId: string | null;
  /** Built per attempt: an entry draws fresh ids each time it is decided. */
  command: () => Command;
  delivery: Delivery;
  /**
   * Changes state nobody is told of (a socket connecting sets the member's flag): it gives way to
   * the commands that arrive behind it, and goes in batches of at most QUIET_BATCH.
   */
  quiet?: boolean;
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
    } else if (last?.type === 'lobbyChanged' && e.type === 'lobbyChanged' && sameIds(last.to, e.to)) {
      // A storm of knocks: one lobby message to the moderators, the list as it ends, every knock in it.
      out[out.length - 1] = { ...e, knocked: [...last.knocked, ...e.knocked], left: [...last.left, ...e.left] };
    } else out.push(e);
  }
  return out;
}

function sameIds(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The next batch, taken out of `items`: the commands that publish, in order, when any wait (quiet
 * ones change only flags: deciding them later changes no outcome), else up to QUIET_BATCH quiet
 * ones. A mute-all sent while 1,000 sockets connect waits for one small batch of flags, not for all.
 */
function nextBatch(items: Pending[]): Pending[] {
  if (!items.some((p) => p.quiet)) return items.splice(0, MAX_BATCH);
  const loud = items.filter((p) => !p.quiet).slice(0, MAX_BATCH);
  const batch = loud.length > 0 ? loud : items.slice(0, QUIET_BATCH);
  const taken = new Set(batch);
  const rest = items.filter((p) => !taken.has(p));
  items.length = 0;
  items.push(...rest);
  return batch;
}

/** A batch's audit entries, numbered on from the stored room's; undefined when there are none. */
function numbered(drafts: AuditDraft[], from: number, at: number, seq: number): AuditEntry[] | undefined {
  if (drafts.length === 0) return undefined;
  return drafts.map((d, i) => ({ n: from + 1 + i, at, seq, ...d }));
}

/** A batch's events wait for every answer that asked them to (each hold is capped by RoomDelivery). */
function publishAfterAll(batch: Pending[]): PromiseLike<unknown> | undefined {
  const waits = batch.map((p) => p.delivery.publishAfter).filter((w): w is PromiseLike<unknown> => w !== undefined);
  if (waits.length === 0) return undefined;
  return waits.length === 1 ? waits[0] : Promise.allSettled(waits);
}

export interface QueueOptions {
  store: Pick<RoomStore, 'commit' | 'loadRoom'>;
  outbox: OutboxWriter;
  delivery: RoomDelivery;
  now: () => number;
  /** Told of the events committed here, at once. */
  observers: ReadonlySet<RoomEventsHandler>;
  /** How long telling this many sockets takes, ms (realtime/cost.ts). */
  fanoutMs: (sockets: number) => number;
  /** A commit changed a main meeting's round of breakout rooms (service/breakouts.ts syncs them). */
  roundChanged?: (roomId: string) => void;
  /** Before a batch starts a meeting (the meetings-per-app cap): throws to refuse it. */
  beforeStart?: (appId: string) => Promise<void>;
}

export class RoomQueues {
  /**
   * Commands waiting for their room (by room id, or app and roomUuid for entries), and the batch
   * being committed: in this process a room's commands run one batch at a time; other nodes are
   * caught by versions.
   */
  private readonly pending = new Map<string, { load: () => Promise<Room | null>; items: Pending[] }>();
  private readonly runners = new Map<string, Promise<void>>();

  constructor(private readonly o: QueueOptions) {}

  /**
   * Queue a command for its room. Commands that arrive while the room's previous batch is being
   * committed are decided together, one after another on the same state, and committed at once:
   * a storm of entries or departures in a large room costs one write and one fan-out per batch,
   * not one per member, and never starves the room's other commands.
   */
  submit(key: string, load: () => Promise<Room | null>, item: Omit<Pending, 'resolve' | 'reject'>): Promise<Decision> {
    return new Promise<Decision>((resolve, reject) => this.enqueue(key, load, [{ ...item, resolve, reject }]));
  }

  private enqueue(key: string, load: () => Promise<Room | null>, items: Pending[]): void {
    let q = this.pending.get(key);
    if (!q) {
      q = { load, items: [] };
      this.pending.set(key, q);
    }
    q.items.push(...items);
    if (!this.runners.has(key)) this.runners.set(key, this.drain(key));
  }

  private async drain(key: string): Promise<void> {
    try {
      for (;;) {
        const q = this.pending.get(key);
        if (!q || q.items.length === 0) break;
        const batch = nextBatch(q.items);
        let live: number | null = null;
        try {
          const ran = await this.runBatch(q.load, batch);
          live = ran.live;
          // Entries queued by app and roomUuid before their meeting existed: once a batch has
          // started (or found) it, the rest go to the meeting's own queue. One queue per room in this
          // process: entries decided apart from the room's other commands (its members' sockets
          // connecting) raced them for the same version until one side gave up (a join storm's 500).
          if (ran.roomId !== null && ran.roomId !== key && q.items.length > 0) {
            const roomId = ran.roomId;
            this.enqueue(roomId, () => this.o.store.loadRoom(roomId), q.items.splice(0));
          }
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
        // Several commands of the last batch published messages: a storm. Let the next batch
        // gather, so that it costs one commit and one fan-out to every member for many changes. It
        // waits in any case LINGER_PER_FANOUT times as long as a fan-out to the room's sockets takes
        // (as measured, at most half a second); beyond that it keeps gathering (up to 50 ms, or that bound) only
        // while each step brings more commands: clients that wait for their answers before sending
        // more, in a room whose members have no sockets here to tell, are not held up for nothing.
        // A batch that published one command's messages or none (members' sockets connecting set a
        // flag and say nothing) has no fan-out to share: the next command, however lone, goes at
        // once (before issue 17 a lone mute-all waited behind a storm of sockets connecting).
        if (live !== null) {
          const start = Date.now();
          const bound = Math.min(STORM_LINGER_MAX_MS, LINGER_PER_FANOUT * this.o.fanoutMs(live));
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
   * Returns how many present members the room has with a realtime socket after it (`live`; null unless
   * more than one of its commands published messages: a storm), and the running room it acted on.
   */
  private async runBatch(load: () => Promise<Room | null>, batch: Pending[]): Promise<{ live: number | null; roomId: string | null }> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const stored = await load();
      const entering = batch.find((p) => p.appId !== null);
      if (!stored && entering) await this.o.beforeStart?.(entering.appId!);
      const now = this.o.now();
      const outcomes: (Decision | RuleError)[] = [];
      const events: MeetingEvent[] = [];
      const audited: AuditDraft[] = [];
      let current = stored;
      let changed = false;
      let published = false;
      /** Decisions of this batch with a message to publish: a storm when more than one. */
      let publishers = 0;
      for (const [i, p] of batch.entries()) {
        // A long batch in a large room yields now and then: other rooms' commands and everyone's
        // reads go on meanwhile (this room's next commands wait in its queue).
        if (i > 0 && i % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
        const cmd = p.command();
        // What a moderator's command was done to, seen before deciding (a decision may change the members array).
        const watch = auditWatch(current, cmd);
        // After the first change, `current` is this batch's own draft: the next decision may reuse
        // its members array rather than copy it (a storm into a huge room copies it once).
        const d = current === null && cmd.type !== 'enter' && cmd.type !== 'openBreakout' ? new RuleError('notFound', 'room not found') : decide(current, cmd, now, current !== stored);
        outcomes.push(d);
        // A decision without events changed nothing (unless it says so): nothing to write for it.
        if (d instanceof RuleError || (d.events.length === 0 && !d.changed)) continue;
        if (watch) audited.push(...watch(d));
        current = d.room;
        events.push(...d.events);
        if (d.events.length > 0) publishers++;
        changed = true;
      }
      if (changed && current) {
        const expected = stored?.version ?? 0;
        const logged: LoggedEvent[] = coalesced(events).map((event, i) => ({ seq: current!.seq + 1 + i, at: now, event }));
        current.version = expected + 1;
        current.seq += logged.length;
        const audit = numbered(audited, stored?.audited ?? 0, now, current.seq);
        if (audit) current.audited = (stored?.audited ?? 0) + audit.length;
        const outbox = await this.o.outbox.rowsFor(stored, current, logged);
        const result = await this.o.store.commit(current, expected, logged, outbox, audit);
        if (!result.ok) {
          // The app's webhooks changed since its rows were made: made again, with the new ones.
          if (result.reason === 'webhooksChanged') this.o.outbox.forget(current.appId);
          continue;
        }
        if (outbox && outbox.rows.length > 0) this.o.outbox.written();
        // A main meeting's round of breakouts changed (or the meeting ended under it): its breakouts follow.
        if (current.breakouts !== undefined && (current.breakouts !== stored?.breakouts || current.ended)) this.o.roundChanged?.(current.roomId);
        if (logged.length > 0) {
          for (const observer of this.o.observers) observer(current.roomId, logged);
          this.o.delivery.publish(current.roomId, logged, publishAfterAll(batch));
          published = true;
        }
      }
      batch.forEach((p, i) => {
        const d = outcomes[i]!;
        if (d instanceof RuleError) p.reject(d);
        // The batch's rooms before the last were handed on to the next decision: each answer names
        // the room as committed.
        else p.resolve(current && d.room !== current ? { ...d, room: current } : d);
      });
      return { live: current && published && publishers > 1 ? liveCount(current) : null, roomId: current && !current.ended ? current.roomId : null };
    }
    throw new Error(`${batch.length} command(s) on one room kept conflicting`);
  }

  /** Resolves when every queue has drained. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.runners.values()]);
  }
}
