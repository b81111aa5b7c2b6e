// How many meetings run and how many members are in them, for the metrics, without reading the
// store at each scrape: kept from the events every node publishes (a member count rides on each
// entry and departure, the end on the room's last change), and set right by a census of the store
// at start and then every minute, since the bus may lose a message (Redis pub/sub) and operator
// commands commit to the store without it.
import type { LoggedEvent } from '../domain/events.ts';
import type { EventBus } from '../bus/bus.ts';
import type { RoomStore } from '../store/store.ts';

/** What a census reads: every app's running meetings with their member counts. */
export type RoomCensus = Pick<RoomStore, 'listApps' | 'listRooms'>;

export interface AttendanceOptions {
  census: RoomCensus;
  bus: EventBus;
  /** Between two censuses (ms); 0: only the first, at start. */
  censusIntervalMs?: number;
  onError?: (err: unknown, what: string) => void;
}

interface Entry {
  present: number;
  ended: boolean;
  /** The last seq applied: a late or repeated message changes nothing. */
  seq: number;
  /** When events last changed it, in `changes`: a census does not overwrite what is newer than itself. */
  changed: number;
}

const CENSUS_EVERY_MS = 60_000;
/** Rooms read per call of a census. */
const PAGE = 1000;

export class Attendance {
  /** Running rooms, and rooms that ended since the last census (so that a census read before their end cannot revive them). */
  private readonly rooms = new Map<string, Entry>();
  private running = 0;
  /** Running rooms with someone present: "active", as Qiniu's ListActiveRoom says. */
  private active = 0;
  private present = 0;
  private changes = 0;
  private unsubscribe: (() => void) | null = null;
  private unresync: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private counting: Promise<void> | null = null;

  constructor(private readonly opts: AttendanceOptions) {}

  get roomsRunning(): number {
    return this.running;
  }

  get roomsActive(): number {
    return this.active;
  }

  get membersPresent(): number {
    return this.present;
  }

  start(): void {
    this.unsubscribe = this.opts.bus.subscribe((roomId, events) => this.observe(roomId, events));
    // The bus says when it may have lost messages (Redis back after an outage): count again then.
    this.unresync = this.opts.bus.onResync(() => void this.census());
    void this.census();
    const every = this.opts.censusIntervalMs ?? CENSUS_EVERY_MS;
    if (every > 0) {
      this.timer = setInterval(() => void this.census(), every);
      this.timer.unref();
    }
  }

  stop(): void {
    this.unsubscribe?.();
    this.unresync?.();
    this.unsubscribe = this.unresync = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private observe(roomId: string, events: LoggedEvent[]): void {
    for (const { seq, event } of events) {
      const entry = this.rooms.get(roomId);
      if (entry && seq <= entry.seq) continue;
      if (event.type === 'membersChanged') this.set(roomId, event.total, false, seq);
      else if (event.type === 'roomChanged' && event.ended) this.set(roomId, 0, true, seq);
      else if (entry) entry.seq = seq;
    }
  }

  private set(roomId: string, present: number, ended: boolean, seq: number): void {
    let entry = this.rooms.get(roomId);
    if (entry) {
      if (!entry.ended) this.uncount(entry);
    } else {
      entry = { present: 0, ended: false, seq: 0, changed: 0 };
      this.rooms.set(roomId, entry);
    }
    entry.present = present;
    entry.ended = ended;
    entry.seq = Math.max(entry.seq, seq);
    entry.changed = ++this.changes;
    if (!ended) {
      this.running++;
      if (present > 0) this.active++;
      this.present += present;
    }
  }

  private uncount(entry: Entry): void {
    this.running--;
    if (entry.present > 0) this.active--;
    this.present -= entry.present;
  }

  private forget(roomId: string, entry: Entry): void {
    this.rooms.delete(roomId);
    if (!entry.ended) this.uncount(entry);
  }

  /** Count the running meetings in the store; what events said while it counted is newer and kept. */
  census(): Promise<void> {
    this.counting ??= this.count()
      .catch((err) => this.opts.onError?.(err, 'metrics census'))
      .finally(() => (this.counting = null));
    return this.counting;
  }

  private async count(): Promise<void> {
    const since = this.changes;
    const listed = new Map<string, number>();
    for (const app of await this.opts.census.listApps(null)) {
      for (let offset = 0; ; offset += PAGE) {
        const { rooms } = await this.opts.census.listRooms({ appId: app.appId, activeOnly: false, prefix: '', offset, limit: PAGE });
        for (const r of rooms) listed.set(r.roomId, r.online);
        if (rooms.length < PAGE) break;
      }
    }
    for (const [roomId, entry] of this.rooms) {
      if (entry.changed <= since && !listed.has(roomId)) this.forget(roomId, entry);
    }
    for (const [roomId, online] of listed) {
      const entry = this.rooms.get(roomId);
      if (entry && entry.changed > since) continue;
      if (entry && !entry.ended && entry.present === online) continue;
      this.set(roomId, online, false, entry?.seq ?? 0);
    }
  }
}
