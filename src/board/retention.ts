// Boards go with their meetings: the retention timer (service/retention.ts) purges ended meetings
// from the store, and this purges their boards with the same cutoff. The board log does not know
// when a meeting ended, so it offers the boards idle since the cutoff and asks the meeting.
import type { Room } from '../domain/room.ts';
import type { BoardLog } from './log.ts';

export function boardRetention(log: BoardLog, rooms: { room(roomId: string): Promise<Room | null> }, now: () => number = Date.now) {
  return {
    purgeEnded: (endedBefore: number, limit: number) =>
      log.purgeIdle(endedBefore, limit, async (roomId) => {
        const room = await rooms.room(roomId);
        if (!room || (room.ended && (room.endedAt ?? 0) <= endedBefore)) return null;
        // Ended, not yet past retention: due when its meeting is. Running: idle, looked at again later.
        return room.ended ? room.endedAt! : now();
      }),
  };
}
