// The indexes that span rooms (running rooms per app, active, empty, listed, ended), read across
// the slices of a deployment (see slices.ts): each slice's piece is read and the pieces merged, so
// that on a Redis Cluster no command crosses a slot. With one slice (a single Redis) each is one call.
import { createHash } from 'node:crypto';
import type { RoomListQuery, RoomSummary } from '../store.ts';
import type { RedisClient } from './connection.ts';
import type { Slices } from './slices.ts';

/**
 * What the index of rooms by metadata files a room under: a digest of its metadata (a value of up
 * to 4 KB makes a short index entry), '' for none.
 */
export function metadataTag(metadata: string | undefined): string {
  return metadata === undefined || metadata === '' ? '' : createHash('sha256').update(metadata).digest('base64url');
}

type ScriptCall = (...args: string[]) => Promise<unknown>;

export interface IndexScripts {
  listRooms: ScriptCall;
  purgeEnded: ScriptCall;
  indexEnded: ScriptCall;
}

/** The meta field saying that rooms ended before the ended index was kept have been indexed. */
const ENDED_INDEXED = 'endedIndexed';

export class RoomIndexes {
  /** The ended index covers rooms ended before it existed (see indexEndedOnce). */
  private endedIndexed = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly slices: Slices,
    private readonly scripts: IndexScripts,
  ) {}

  /**
   * A page of an app's rooms in roomUuid order (byte by byte, as SQLite's ORDER BY): each slice's
   * first offset + limit, merged, then the page cut from the merge.
   */
  async list(q: RoomListQuery): Promise<{ rooms: RoomSummary[]; total: number }> {
    if (q.metadata !== undefined) return this.tagged(q, q.metadata);
    const name = `${q.activeOnly ? 'listed-active' : 'listed'}:${q.appId}`;
    return this.page(name, q.prefix, q);
  }

  /**
   * The app's running rooms with this metadata: their entries in the `tagged` index start with the
   * value's tag (see the commit script), so they are the index's page for that prefix.
   */
  private async tagged(q: RoomListQuery, metadata: string): Promise<{ rooms: RoomSummary[]; total: number }> {
    const tag = metadataTag(metadata);
    if (tag === '') return { rooms: [], total: 0 };
    const { rooms, total } = await this.page(`tagged:${q.appId}`, `${tag}\0`, q);
    return { rooms: rooms.map((r) => ({ ...r, roomUuid: r.roomUuid.slice(tag.length + 1) })), total };
  }

  private async page(name: string, prefix: string, q: RoomListQuery): Promise<{ rooms: RoomSummary[]; total: number }> {
    // SQLite treats a negative offset as 0 (and a negative limit as none, as Redis does).
    const offset = Math.max(0, q.offset);
    const one = this.slices.prefixes.length === 1;
    const [from, count] = one ? [offset, q.limit] : [0, q.limit < 0 ? -1 : offset + q.limit];
    const replies = await Promise.all(this.slices.prefixes.map((p) => this.scripts.listRooms(`${p}${name}`, p, prefix, String(from), String(count)) as Promise<(string | number)[]>));
    let total = 0;
    const rooms: RoomSummary[] = [];
    for (const reply of replies) {
      total += Number(reply[0]);
      for (let i = 1; i < reply.length; i += 4) {
        rooms.push({ roomId: String(reply[i]), roomUuid: String(reply[i + 1]), online: Number(reply[i + 2]), ended: false, startTime: Number(reply[i + 3]) });
      }
    }
    if (one) return { rooms, total };
    rooms.sort((a, b) => Buffer.compare(Buffer.from(`${a.roomUuid}\0${a.roomId}`), Buffer.from(`${b.roomUuid}\0${b.roomId}`)));
    return { rooms: rooms.slice(offset, q.limit < 0 ? undefined : offset + q.limit), total };
  }

  async active(): Promise<string[]> {
    return (await Promise.all(this.slices.prefixes.map((p) => this.redis.smembers(`${p}active`)))).flat();
  }

  async emptySince(before: number): Promise<string[]> {
    return (await Promise.all(this.slices.prefixes.map((p) => this.redis.zrangebyscore(`${p}empty`, '-inf', before)))).flat();
  }

  /** Deletes up to `limit` rooms ended at or before `endedBefore`, slice after slice. → their ids. */
  async purgeEnded(endedBefore: number, limit: number): Promise<string[]> {
    await this.indexEndedOnce();
    const purged: string[] = [];
    for (const p of this.slices.prefixes) {
      if (purged.length >= limit) break;
      purged.push(...((await this.scripts.purgeEnded(`${p}ended`, p, String(endedBefore), String(limit - purged.length))) as string[]));
    }
    return purged;
  }

  /**
   * Rooms that ended before the ended index existed are in no index: found once per database by a
   * SCAN (in steps, so Redis serves others in between), then marked done in meta. Nodes racing
   * through it add the same entries. Only a single Redis can hold such rooms: a deployment on a
   * Cluster was made with the index.
   */
  private async indexEndedOnce(): Promise<void> {
    if (this.endedIndexed || this.slices.prefixes.length > 1) return;
    const p = this.slices.global;
    const meta = `${p}meta`;
    if ((await this.redis.hget(meta, ENDED_INDEXED)) === null) {
      const start = `${p}room:`;
      const pattern = `${start.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
      let cursor = '0';
      do {
        const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        if (keys.length > 0) await this.scripts.indexEnded(`${p}ended`, start, String(Date.now()), ...keys);
        cursor = next;
      } while (cursor !== '0');
      await this.redis.hset(meta, ENDED_INDEXED, '1');
    }
    this.endedIndexed = true;
  }
}
