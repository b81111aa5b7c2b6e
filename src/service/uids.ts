// Member uids. An Agora RTM login is app-wide (`String(uid)`), so two members with one uid in two
// rooms of an app log each other out: uids are unique across the app, drawn from blocks the store
// reserves (RoomStore.reserveUids), so that a join storm costs one store write per block, not one
// per entry, and an entry rarely waits for the store at all (the next block is asked for early).
import type { RoomStore } from '../store/store.ts';

/** uids per block: 128 new members (each takes a camera uid and a screen uid). */
export const UID_BLOCK = 256;
/**
 * Added to what the store counts from 1: rooms started before uids were app-wide numbered theirs
 * from 1 (two per member), so a member entering such a room after an upgrade never meets its uid.
 */
export const UID_BASE = 100_000;
/** The clients hold uids in signed 32-bit integers (Android `int`, Agora's SDKs): never past this. */
const MAX_UID = 2 ** 31 - 1;

interface Block {
  /** The next uid to hand out; the block ends before `end`. */
  next: number;
  end: number;
}

interface AppUids {
  blocks: Block[];
  /** The block being reserved, if any: every caller that needs one waits for this one. */
  coming: Promise<void> | null;
}

export class UidAllocator {
  private readonly apps = new Map<string, AppUids>();

  constructor(
    private readonly store: Pick<RoomStore, 'reserveUids'>,
    private readonly blockSize = UID_BLOCK,
  ) {
    if (!Number.isInteger(blockSize) || blockSize < 2 || blockSize % 2 !== 0) throw new RangeError('the uid block size must be an even integer ≥ 2');
  }

  /** A new member's uids: `uid` (camera) and `uid + 1` (screen share), nobody's before in this app. */
  async pair(appId: string): Promise<number> {
    let a = this.apps.get(appId);
    if (!a) this.apps.set(appId, (a = { blocks: [], coming: null }));
    for (;;) {
      const b = a.blocks[0];
      if (b) {
        const uid = b.next;
        b.next += 2;
        if (b.next >= b.end) a.blocks.shift();
        // A quarter of a block left: the next one is asked for now (a failure shows at the next wait).
        if (a.coming === null && this.left(a) <= this.blockSize / 4) this.refill(appId, a).catch(() => {});
        if (uid + 1 > MAX_UID) throw new Error(`app ${appId} has used up its member uids (the clients' 32-bit range)`);
        return uid;
      }
      await this.refill(appId, a);
    }
  }

  private left(a: AppUids): number {
    let n = 0;
    for (const b of a.blocks) n += b.end - b.next;
    return n;
  }

  private refill(appId: string, a: AppUids): Promise<void> {
    a.coming ??= this.store.reserveUids(appId, this.blockSize).then(
      (first) => {
        a.coming = null;
        a.blocks.push({ next: UID_BASE + first, end: UID_BASE + first + this.blockSize });
      },
      (err: unknown) => {
        a.coming = null;
        throw err;
      },
    );
    return a.coming;
  }
}
