// Breakout rooms in the service: every step is a command on the main meeting (its round is the
// truth), then `sync` makes the breakouts follow it — made, members seated where they are placed
// and unseated where they are not, their end and their closing. Each step of a sync is a command
// that does nothing when already done, so a sync may run twice, on two nodes, or after a node died
// half-way: the next one (the timer, any node's sweep, the gateway seeing the round) finishes it.
// A member is seated in its new room before it leaves the old one: never lost, and its sockets
// (which follow the departure) find it there.
import { randomInt } from 'node:crypto';
import type { RoomCommand, ServerCaller } from '../domain/commands.ts';
import { breakoutUuid, type Assignment, type BreakoutOf, type BreakoutSeat, type BreakoutsAction } from '../domain/breakouts.ts';
import { findMember, type Room } from '../domain/room.ts';
import { RuleError, type Decision } from '../domain/rules.ts';
import { newId } from '../tokens/session.ts';
import type { Delivery } from './meeting.ts';

export interface BreakoutPorts {
  execute(roomId: string, cmd: RoomCommand, delivery?: Delivery): Promise<Decision>;
  room(roomId: string): Promise<Room | null>;
  newRoomId(appId: string, roomUuid: string): string;
  /** A board for a new breakout (Netless: made there; built-in: an id), and one that went unused. */
  newBoard(appId: string): Promise<string>;
  dropBoard(boardId: string): void;
  /** Running breakout rooms of every app (found by their roomUuid prefix, breakoutUuid). */
  breakoutRoomIds(): Promise<string[]>;
  now(): number;
  onError(err: unknown, what: string): void;
}

export interface OpenBreakouts {
  names: string[];
  assignment: Assignment;
  /** 'manual': userId → index in `names`. */
  manual?: Record<string, number>;
  durationMs: number | null;
}

/** A step that found its work done by someone else (the room ended, or is gone) is no failure of a sync. */
function tolerated(p: Promise<unknown>): Promise<void> {
  return p.then(
    () => undefined,
    (err) => {
      if (!(err instanceof RuleError)) throw err;
    },
  );
}

/** A breakout its main meeting does not list is ended by the sweep once this old (ms): an open takes far less. */
const ORPHAN_AFTER_MS = 60_000;

export class BreakoutService {
  /** Syncs running on this node, per main meeting; `again`: its round changed meanwhile, sync once more. */
  private readonly syncs = new Map<string, { done: Promise<void>; again: boolean }>();
  /** This node's timers for the ends it knows of (the sweep is the cluster's safety net). */
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly p: BreakoutPorts) {}

  /** Open a round; `actor` null: the server. */
  async open(mainRoomId: string, actor: string | null, o: OpenBreakouts, delivery?: Delivery, by?: ServerCaller): Promise<Decision> {
    const main = await this.p.room(mainRoomId);
    if (!main) throw new RuleError('notFound', 'room not found');
    // DECISION: the ids and the random seed are drawn here, so that deciding stays pure; a breakout's
    // roomUuid carries the round's random id (no client can take it first, or enter it by its key).
    const round = newId();
    const roomIds = o.names.map((_, i) => this.p.newRoomId(main.appId, breakoutUuid(round, i)));
    const fresh = { round, roomIds, seed: randomInt(2 ** 31) };
    const open: BreakoutsAction = { action: 'open', names: o.names, assignment: o.assignment, manual: o.manual, durationMs: o.durationMs, fresh };
    // What the rules would refuse at once is refused before any breakout is made (they decide again).
    const actorMember = actor === null ? null : findMember(main, actor);
    if (main.ended) throw new RuleError('ended', 'the meeting has ended');
    if (main.breakoutOf) throw new RuleError('forbidden', 'a breakout room has no breakouts of its own: open them from the main meeting');
    if (actor !== null && (!actorMember?.present || actorMember.role !== 'host')) throw new RuleError('forbidden', 'only the host may open breakout rooms');
    if (main.breakouts) throw new RuleError('busy', 'breakout rooms are already open: close them first');
    // DECISION: the breakouts are made before the round is recorded, so that every step after a
    // node dies can be found by the sweep (by their roomUuid prefix): made but never recorded, they
    // are ended; recorded, the round is finished. Refused after all, they are ended at once.
    const endsAt = o.durationMs === null ? null : this.p.now() + o.durationMs;
    await Promise.all(o.names.map((name, i) => this.make(main, roomIds[i]!, i, { mainRoomId, round, name, endsAt })));
    try {
      return await this.step(mainRoomId, actor, open, delivery, by);
    } catch (err) {
      await Promise.all(roomIds.map((roomId) => tolerated(this.p.execute(roomId, { type: 'endBreakout', round })))).catch((e) => this.p.onError(e, 'ending refused breakouts'));
      throw err;
    }
  }

  /** Make a breakout (nothing when it exists: a board made for it meanwhile is let go). */
  private async make(main: Room, roomId: string, i: number, of: BreakoutOf): Promise<void> {
    const boardId = await this.p.newBoard(main.appId);
    const d = await this.p.execute(roomId, { type: 'openBreakout', appId: main.appId, roomUuid: breakoutUuid(of.round, i), roomId, boardId, password: main.password, of });
    if (d.room?.boardId !== boardId) this.p.dropBoard(boardId);
  }

  /**
   * Where a main meeting's member is now, for its sockets: the breakout it is placed and seated in
   * (a sync is run first when it is placed but not seated yet), else the main meeting; no room when
   * the member is no longer in the meeting (`gone` says why).
   */
  async whereIs(mainRoomId: string, userId: string, session: string): Promise<{ room: Room | null; gone?: 'ended' | 'removed' | 'replaced' }> {
    for (let attempt = 0; ; attempt++) {
      const main = await this.p.room(mainRoomId);
      const m = main ? findMember(main, userId) : undefined;
      if (!main || main.ended) return { room: null, gone: 'ended' };
      if (!m?.present) return { room: null, gone: 'removed' };
      if (m.session !== session) return { room: null, gone: 'replaced' };
      const b = main.breakouts;
      const target = b && !b.closing ? b.placed[userId] : undefined;
      if (!target) return { room: main };
      const r = await this.p.room(target);
      const x = r ? findMember(r, userId) : undefined;
      if (r && !r.ended && x?.present && x.session === session) return { room: r };
      if (attempt > 0) return { room: main };
      await this.sync(mainRoomId);
    }
  }

  /** A step on the main meeting's round, then the breakouts made to follow it. */
  async step(mainRoomId: string, actor: string | null, what: BreakoutsAction, delivery?: Delivery, by?: ServerCaller): Promise<Decision> {
    const d = await this.p.execute(mainRoomId, { type: 'breakouts', actor, by, do: what }, delivery);
    if (what.action === 'message') await this.relayMessage(d);
    // The commit started a sync already (MeetingService's roundChanged): the answer waits for it.
    await (this.syncs.get(mainRoomId)?.done ?? this.sync(mainRoomId));
    return d;
  }

  /** A host's message, committed in the main meeting, in every breakout with the same msgId. */
  private async relayMessage(d: Decision): Promise<void> {
    const e = d.events.find((x) => x.type === 'breakoutsMessage');
    const b = d.room.breakouts;
    if (!e || e.type !== 'breakoutsMessage' || !b) return;
    const cmd = { type: 'breakoutMessage' as const, round: b.round, msgId: e.msgId, from: e.from, text: e.text };
    await Promise.all(b.rooms.map((r) => tolerated(this.p.execute(r.roomId, cmd))));
  }

  /**
   * Make the breakouts of `mainRoomId` follow its round. One at a time per meeting on this node; a
   * call while one runs makes it run once more (the round it read may be older than the caller's).
   */
  sync(mainRoomId: string): Promise<void> {
    const running = this.syncs.get(mainRoomId);
    if (running) {
      running.again = true;
      return running.done;
    }
    const entry = { done: Promise.resolve(), again: false };
    entry.done = (async () => {
      try {
        do {
          entry.again = false;
          await this.syncOnce(mainRoomId);
        } while (entry.again);
      } finally {
        this.syncs.delete(mainRoomId);
      }
    })();
    this.syncs.set(mainRoomId, entry);
    return entry.done;
  }

  private async syncOnce(mainRoomId: string): Promise<void> {
    const main = await this.p.room(mainRoomId);
    const b = main?.breakouts;
    if (!main || !b) return;
    if (main.ended || b.closing) {
      // Every breakout ends (its members' sockets go back to the main meeting), then the round.
      await Promise.all(b.rooms.map((r) => tolerated(this.p.execute(r.roomId, { type: 'endBreakout', round: b.round }))));
      if (!main.ended) await tolerated(this.p.execute(mainRoomId, { type: 'breakouts', actor: null, do: { action: 'finish', round: b.round } }));
      this.unschedule(mainRoomId);
      return;
    }
    const seats = new Map<string, BreakoutSeat[]>(b.rooms.map((r) => [r.roomId, []]));
    for (const [userId, roomId] of Object.entries(b.placed)) {
      const m = findMember(main, userId);
      if (!m?.present) continue;
      const { userUuid, userName, avatar, role, uid, screenId, session, realtime, audio, video } = m;
      seats.get(roomId)?.push({ userId, userUuid, userName, avatar, role, uid, screenId, session, realtime, audio, video });
    }
    // Made (once), seated, told their end; only then do members leave the rooms they are no longer in.
    await Promise.all(
      b.rooms.map(async (r, i) => {
        // Made when opened; made here only if the node that opened them died first.
        if (!(await this.p.room(r.roomId))) await this.make(main, r.roomId, i, { mainRoomId, round: b.round, name: r.name, endsAt: b.endsAt });
        await this.p.execute(r.roomId, { type: 'seatBreakout', round: b.round, rev: b.rev, seats: seats.get(r.roomId)! });
        await this.p.execute(r.roomId, { type: 'breakoutTimer', round: b.round, rev: b.rev, endsAt: b.endsAt });
      }),
    );
    await Promise.all(
      b.rooms.map((r) => {
        const keep = seats.get(r.roomId)!.map((s) => s.userId);
        return this.p.execute(r.roomId, { type: 'unseatBreakout', round: b.round, rev: b.rev, keep, to: b.placed, mainRoomId });
      }),
    );
    this.schedule(mainRoomId, b.endsAt);
  }

  /** This node closes the round at its end (the rules check the stored end: an extension wins). */
  private schedule(mainRoomId: string, endsAt: number | null): void {
    this.unschedule(mainRoomId);
    if (endsAt === null || this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(mainRoomId);
      this.expire(mainRoomId).catch((err) => this.p.onError(err, 'breakout timer'));
    }, Math.max(0, endsAt - this.p.now()));
    t.unref();
    this.timers.set(mainRoomId, t);
  }

  private unschedule(mainRoomId: string): void {
    const t = this.timers.get(mainRoomId);
    if (t) clearTimeout(t);
    this.timers.delete(mainRoomId);
  }

  private async expire(mainRoomId: string): Promise<void> {
    await tolerated(this.p.execute(mainRoomId, { type: 'breakouts', actor: null, do: { action: 'expire' } }));
    await this.sync(mainRoomId);
  }

  /**
   * The cluster's safety net, run by every node's sweep: rounds past their end are closed, half-done
   * steps finished, and breakouts whose round is gone (a node died between making them and the
   * round's record, or the main meeting was purged) ended.
   */
  async sweep(): Promise<void> {
    const mains = new Set<string>();
    for (const roomId of await this.p.breakoutRoomIds()) {
      const r = await this.p.room(roomId);
      const of = r?.breakoutOf;
      if (!r || !of || r.ended) continue;
      const main = await this.p.room(of.mainRoomId);
      if (main?.breakouts?.round === of.round) mains.add(of.mainRoomId);
      // Not (or no longer) its meeting's round: ended, once old enough not to be one being opened now.
      else if (r.startTime < this.p.now() - ORPHAN_AFTER_MS) await tolerated(this.p.execute(roomId, { type: 'endBreakout', round: of.round }));
    }
    for (const mainRoomId of mains) {
      try {
        await this.expire(mainRoomId);
      } catch (err) {
        this.p.onError(err, 'breakout sweep');
      }
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** Syncs under way on this node (for a graceful stop). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.syncs.values()].map((s) => s.done));
  }
}
