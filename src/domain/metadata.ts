// Metadata: a string a business attaches to a meeting and to each of its members (a topic, a seat,
// a JSON blob of its own), at most MAX_METADATA_BYTES of UTF-8. Hosts set the room's and anyone's; a
// member sets its own where the room allows it. Everyone present is told of each change. Pure, as
// rules.ts.
import type { ServerCaller } from './commands.ts';
import type { MeetingEvent } from './events.ts';
import { findMember, own, type Member, type Room } from './room.ts';
import { RuleError } from './rules.ts';

/** The most a metadata string may hold, in bytes of UTF-8 (every edge refuses more). */
export const MAX_METADATA_BYTES = 4096;

export interface MetadataCommand {
  type: 'metadata';
  /** The member asking; null: the server (its caller in `by`). */
  actor: string | null;
  by?: ServerCaller;
  /** The member whose metadata is set (a userId); null: the room's. */
  target: string | null;
  /** The new value ('' clears it); absent: unchanged (only `selfMetadata` is set). */
  metadata?: string;
  /** The room's: members may set their own metadata (true) or only hosts may (false). */
  selfMetadata?: boolean;
}

/** The length of `s` in bytes of UTF-8 (a lone surrogate counts as the 3 bytes of U+FFFD). */
export function utf8Bytes(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A pair: 4 bytes for its 2 units.
      n += 2;
      i++;
    } else n += 2;
  }
  return n;
}

export function checkMetadata(value: string): void {
  if (utf8Bytes(value) > MAX_METADATA_BYTES) {
    throw new RuleError('invalid', `metadata must be at most ${MAX_METADATA_BYTES} bytes of UTF-8`);
  }
}

/** The change a metadata command makes; its event goes to everyone in the room. */
export function decideMetadata(room: Room, actor: Member | null, cmd: MetadataCommand, events: MeetingEvent[]): void {
  const host = actor === null || actor.role === 'host';
  if (cmd.metadata !== undefined) checkMetadata(cmd.metadata);
  if (cmd.target === null) {
    if (!host) throw new RuleError('forbidden', "only the host may set the room's metadata");
    let changed = false;
    if (cmd.selfMetadata !== undefined && (room.selfMetadata === true) !== cmd.selfMetadata) {
      if (cmd.selfMetadata) room.selfMetadata = true;
      else delete room.selfMetadata;
      changed = true;
    }
    if (cmd.metadata !== undefined && (room.metadata ?? '') !== cmd.metadata) {
      if (cmd.metadata === '') delete room.metadata;
      else room.metadata = cmd.metadata;
      changed = true;
    }
    // One message for both changes of one command.
    if (changed) events.push({ type: 'metadataChanged', userId: null, metadata: room.metadata ?? '', selfMetadata: room.selfMetadata === true });
    return;
  }
  if (cmd.selfMetadata !== undefined) throw new RuleError('invalid', 'selfMetadata is a setting of the room');
  const found = findMember(room, cmd.target);
  if (!found?.present) throw new RuleError('notFound', 'user not found in this room');
  const self = actor !== null && actor.userId === found.userId;
  if (!host && !(self && room.selfMetadata === true)) {
    throw new RuleError('forbidden', self ? 'only the host may set metadata in this room' : "only the host may set another member's metadata");
  }
  if (cmd.metadata === undefined || (found.metadata ?? '') === cmd.metadata) return;
  const m = own(room, found);
  if (cmd.metadata === '') delete m.metadata;
  else m.metadata = cmd.metadata;
  events.push({ type: 'metadataChanged', userId: m.userId, metadata: cmd.metadata, selfMetadata: room.selfMetadata === true });
}
