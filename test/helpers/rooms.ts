// Rooms as the service makes them, for store tests that write through a store directly: each step
// one decision (an entry) with its events, the version and seq advanced as the service does.
import { newApp } from '../../src/service/apps.ts';
import { decide, RuleError } from '../../src/domain/rules.ts';
import type { Room } from '../../src/domain/room.ts';
import type { LoggedEvent } from '../../src/domain/events.ts';
import type { App } from '../../src/store/store.ts';

export function created(appId: string, roomUuid: string): { room: Room; events: LoggedEvent[] } {
  return advance(null, appId, roomUuid, 'ann');
}

export function joined(room: Room, userUuid: string): { room: Room; events: LoggedEvent[] } {
  return advance(room, room.appId, room.roomUuid, userUuid);
}

let n = 0;
export function advance(room: Room | null, appId: string, roomUuid: string, userUuid: string): { room: Room; events: LoggedEvent[] } {
  n++;
  const fresh = { roomId: `redisroom${n}xxxxxxxxxxxxx`.slice(0, 22), boardId: `b${n}`, uid: 2 * n + 1, session: `s${n}` };
  const common = { roomName: roomUuid, password: '', userName: userUuid, avatar: '', audio: true, video: false };
  const d = decide(room, { type: 'enter', appId, roomUuid, userUuid, ...common, policy: { maxUsers: 0, noAutoKickUser: false }, fresh }, 1000);
  if (d instanceof RuleError) throw d;
  const seq = room?.seq ?? 0;
  const events = d.events.map((event, i) => ({ seq: seq + 1 + i, at: 1000, event }));
  d.room.version = (room?.version ?? 0) + 1;
  d.room.seq = seq + events.length;
  return { room: d.room, events };
}

export function appFor(appId: string): App {
  return newApp({ appId, certificate: null, customerId: 'c', customerSecret: 's' }, 0);
}
