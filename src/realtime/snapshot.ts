// A socket's snapshot: the room as of its seq, the first page of its members, the hosts and the
// member itself. The rest of a large room comes from the paged member list (E4), never the socket.
import type { LoggedEvent } from '../domain/events.ts';
import { findMember, rosterOf, type Member, type Room } from '../domain/room.ts';

/** Members in a snapshot's first page (E4's page size): about 130 KB with 1 KB avatars, 20 KB without. */
const SNAPSHOT_PAGE = 100;

/**
 * A snapshot's members: the first page of the room's members in join order, then the hosts and the
 * member itself when they are not in it; the rest comes from the paged member list (E4).
 */
export interface SnapshotMembers {
  /** The first page and the hosts after it: one array per room state, shared by every snapshot of it. */
  shared: readonly Member[];
  /** The member itself, when neither in the first page nor a host. */
  me: Member | null;
  /** How many of `shared` are the first page. */
  count: number;
  /** Members in the room. */
  total: number;
  /** The member list's cursor after the first page. */
  nextId: string;
}

/** How events and snapshots look on the wire (the Agora RTM dialect; the gateway does not know it). */
export interface RealtimeFormat {
  event(e: LoggedEvent): Buffer;
  /** A snapshot: the room as of `room.seq`, its first page of members, the hosts and `me`. */
  snapshot(room: Room, me: { userId: string; userToken: string }, members: SnapshotMembers): Buffer;
  /** What a socket waiting in the lobby is sent first (instead of a snapshot): that it waits. */
  waiting(member: Member): Buffer;
  /** The socket follows another room of its meeting now (a breakout, or the main meeting): its snapshot comes next. */
  moved(to: { roomId: string; mainRoomId: string; name: string }): Buffer;
}

/**
 * One page, not the room: a member entering a room of thousands gets what it can show at once, and
 * a storm of entries costs a page per socket rather than the whole room each.
 */
export function snapshotMembers(room: Room, userId: string): SnapshotMembers {
  let page = pages.get(room);
  if (!page) {
    const roster = rosterOf(room);
    const shared = roster.slice(0, SNAPSHOT_PAGE);
    for (let i = SNAPSHOT_PAGE; i < roster.length; i++) if (roster[i]!.role === 'host') shared.push(roster[i]!);
    const last = roster[Math.min(SNAPSHOT_PAGE, roster.length) - 1];
    page = { shared, count: Math.min(SNAPSHOT_PAGE, roster.length), total: roster.length, nextId: String(last ? last.order : 0) };
    pages.set(room, page);
  }
  const mine = findMember(room, userId);
  const listed = !mine?.present || mine.role === 'host' || (page.count > 0 && mine.order <= page.shared[page.count - 1]!.order);
  return { shared: page.shared, me: listed ? null : mine!, count: page.count, total: page.total, nextId: page.nextId };
}

/** The snapshot page of each room state (committed states are never changed). */
const pages = new WeakMap<Room, Omit<SnapshotMembers, 'me'>>();

