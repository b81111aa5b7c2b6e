// Entry on the strength of a Qiniu RoomToken (spec qiniu-rtc-v3 §3.3, §4): the business's own
// signed statement that this user may join this room. The signing key must own the app.
import { RuleError } from '../domain/rules.ts';
import type { App } from '../store/store.ts';
import { verifyRoomToken } from '../tokens/qiniu.ts';
import type { AppRegistry } from './apps.ts';
import type { Delivery, Entered, EntryInput, MeetingService } from './meeting.ts';

export type RoomTokenEntry =
  | { ok: true; entered: Entered; permission: 'user' | 'admin'; app: App }
  | { ok: false; reason: 'unknownApp' | 'badToken' | RefusedEntry; detail?: string };

/** What the rules may refuse an entry for, which a RoomToken does not get past. */
const REFUSED = ['roomFull', 'duplicateLogin', 'locked', 'banned', 'tooManyRooms'] as const;
type RefusedEntry = (typeof REFUSED)[number];

export async function enterWithRoomToken(
  apps: AppRegistry,
  meeting: MeetingService,
  want: { appId: string; roomName: string; userId: string },
  token: string,
  /** What an Agora entry says about the member besides its keys. */
  details: Partial<Pick<EntryInput, 'roomName' | 'userName' | 'avatar' | 'audio' | 'video'>> = {},
  delivery: Delivery = {},
): Promise<RoomTokenEntry> {
  const app = await apps.get(want.appId);
  if (!app) return { ok: false, reason: 'unknownApp' };
  const secretOf = async (ak: string) =>
    app.owner === null || app.owner === ak ? ((await apps.accessKey(ak))?.secretKey ?? null) : null;
  const verified = await verifyRoomToken(token, want, secretOf, Date.now());
  if (!verified.ok) return { ok: false, reason: 'badToken', detail: `room token refused: ${verified.reason}` };
  const permission = verified.access.permission;
  try {
    // No name in the token: a returning member keeps its own (a new one is called by its user id).
    const entered = await meeting.enter(
      app,
      {
        roomUuid: want.roomName,
        roomName: want.roomName,
        password: '',
        userUuid: want.userId,
        audio: false,
        video: false,
        ...details,
        vouched: true,
        canKick: permission === 'admin',
      },
      delivery,
    );
    return { ok: true, entered, permission, app };
  } catch (e) {
    // A RoomToken vouches for the password, never past a lock or a ban.
    if (e instanceof RuleError && (REFUSED as readonly string[]).includes(e.code)) return { ok: false, reason: e.code as RefusedEntry, detail: e.message };
    throw e;
  }
}

/** The claims of a RoomToken, read without verifying (to know what to verify it against). */
export function roomTokenClaims(token: string): { appId: string; roomName: string; userId: string } | null {
  const parts = token.split(':');
  if (parts.length !== 3) return null;
  try {
    const a = JSON.parse(Buffer.from(parts[2]!.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
    if (typeof a?.appId !== 'string' || typeof a?.roomName !== 'string' || typeof a?.userId !== 'string') return null;
    return { appId: a.appId, roomName: a.roomName, userId: a.userId };
  } catch {
    return null;
  }
}
