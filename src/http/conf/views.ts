// The meeting model in the Agora v1 wire format (spec §3, §5): field names, 0/1 integers, role 1/2,
// and the RTM message commands. The domain knows nothing of these encodings.
import type { LoggedEvent, MeetingEvent, MemberSnapshot, Module } from '../../domain/events.ts';
import { boardUsers, currentHost, findMember, onlineCount, screenSharers, type Member, type Role, type Room } from '../../domain/room.ts';
import { handsSeenBy, type HandView } from '../../domain/hands.ts';
import { lobbyMessage, lobbySnapshotPart, waitingFrame } from './lobby-wire.ts';
import { breakoutsView, type BreakoutsView } from '../../domain/breakouts.ts';
import type { MediaTokens } from '../../tokens/agora.ts';
import type { BoardTokens } from '../../tokens/board.ts';
import type { RealtimeFormat, SnapshotMembers } from '../../realtime/gateway.ts';

export interface AgoraMember {
  userId: string;
  userName: string;
  role: 1 | 2;
  enableChat: 0 | 1;
  enableVideo: 0 | 1;
  enableAudio: 0 | 1;
  grantBoard: 0 | 1;
  grantScreen: 0 | 1;
  uid: number;
  screenId: number;
  avatar?: string;
  state?: 0 | 1;
  /** Convene: the member's metadata, where set (not in channel messages). */
  metadata?: string;
}

const bit = (b: boolean): 0 | 1 => (b ? 1 : 0);
export const roleCode = (r: Role): 1 | 2 => (r === 'host' ? 1 : 2);

export const MODULE_CODES: Record<Module, 1 | 2 | 3 | 4> = { audio: 1, video: 2, board: 3, chat: 4 };
export const MODULES_BY_CODE: Record<number, Module> = { 1: 'audio', 2: 'video', 3: 'board', 4: 'chat' };

export function memberView(m: MemberSnapshot): AgoraMember {
  const v: AgoraMember = {
    userId: m.userId,
    userName: m.userName,
    role: roleCode(m.role),
    enableChat: bit(m.chat),
    enableVideo: bit(m.video),
    enableAudio: bit(m.audio),
    grantBoard: bit(m.boardGrant),
    grantScreen: bit(m.sharingScreen),
    uid: m.uid,
    screenId: m.screenId,
  };
  if (m.avatar) v.avatar = m.avatar;
  return v;
}

/**
 * A Member with its metadata (Convene), where one is set: in member pages, snapshots and a member's
 * own view. Channel messages leave it out (up to 4 KB each, in every cmd 2 of a storm): cmd 130
 * tells its changes.
 */
export function memberPageView(m: MemberSnapshot): AgoraMember {
  const v = memberView(m);
  if (m.metadata) v.metadata = m.metadata;
  return v;
}

/**
 * A Member inside a channel message always carries `state` (spec §5.1): the Web client applies a
 * cmd 4 member only when `state === 1`. Built by assignment: V8 (Node 20) takes a slow path for
 * `{...obj, more}` (about 9 µs here).
 */
function channelMemberView(m: MemberSnapshot): AgoraMember {
  const v = memberView(m);
  v.state = bit(m.present);
  return v;
}

/**
 * Nobody's board is `"0"`: the Web client shows its main view only when it reads `'0'`, iOS reads
 * the id's integerValue (0: no board). No member is userId "0" (uids start above it).
 */
export const NO_BOARD_CREATOR = '0';

function boardCreatorView(creatorId: string): string {
  return creatorId === '' ? NO_BOARD_CREATOR : creatorId;
}

export interface Board {
  boardId: string;
  boardToken: string;
}

/**
 * Who signs a member's boardToken: the built-in board's tokens (tokens/board.ts), or Netless room
 * tokens (board/netless/tokens.ts, which give every member a writer token whatever `draw` says).
 */
export type BoardSigner = Pick<BoardTokens, 'sign'>;

/**
 * The meeting's board for one member: may draw if host, creator or granted. `remember`: keep the
 * signed token for the next call (room info is read again and again; a socket's snapshot is not).
 */
export function boardFor(provider: 'builtin' | 'none' | 'netless', tokens: BoardSigner, room: Room, userId: string, remember = true): Board {
  if (provider === 'none') return { boardId: '', boardToken: '' };
  const m = findMember(room, userId);
  const draw = !!m && (m.role === 'host' || m.boardGrant || room.boardCreatorId === m.userId);
  return { boardId: room.boardId, boardToken: tokens.sign(room.boardId, userId, draw, remember) };
}

export function roomView(room: Room, board: Board) {
  const host = currentHost(room);
  const v: RoomView = {
    roomId: room.roomId,
    roomUuid: room.roomUuid,
    roomName: room.roomName,
    channelName: room.channelName,
    password: room.password,
    muteAllChat: room.muteAllChat,
    muteAllAudio: room.muteAllAudio,
    state: room.ended ? 0 : 1,
    startTime: room.startTime,
    onlineUsers: onlineCount(room),
    hosts: host ? [memberView(host)] : [],
    shareBoard: bit(room.boardShared),
    createBoardUserId: boardCreatorView(room.boardCreatorId),
    shareBoardUsers: boardUsers(room).map(memberView),
    shareScreen: bit(room.screenSharerId !== ''),
    shareScreenUsers: screenSharers(room).map(memberView),
    locked: bit(room.locked === true),
    boardId: board.boardId,
    boardToken: board.boardToken,
  };
  // Convene: absent where never set, so the v1 shape is unchanged for rooms that use none.
  if (room.metadata !== undefined) v.metadata = room.metadata;
  if (room.selfMetadata) v.selfMetadata = 1;
  return v;
}

export interface RoomView {
  roomId: string;
  roomUuid: string;
  roomName: string;
  channelName: string;
  password: string;
  muteAllChat: number;
  muteAllAudio: number;
  state: 0 | 1;
  startTime: number;
  onlineUsers: number;
  hosts: AgoraMember[];
  shareBoard: 0 | 1;
  createBoardUserId: string;
  shareBoardUsers: AgoraMember[];
  shareScreen: 0 | 1;
  shareScreenUsers: AgoraMember[];
  locked: 0 | 1;
  boardId: string;
  boardToken: string;
  metadata?: string;
  selfMetadata?: 1;
}

export interface AgoraMe extends AgoraMember {
  userUuid: string;
  rtcToken: string | null;
  rtmToken: string | null;
  screenToken: string | null;
  state: 0 | 1;
}

export function meView(m: Member, tokens: MediaTokens): AgoraMe {
  const v = memberPageView(m) as AgoraMe;
  v.userUuid = m.userUuid;
  v.rtcToken = tokens.rtcToken;
  v.rtmToken = tokens.rtmToken;
  v.screenToken = tokens.screenToken;
  v.state = bit(m.present);
  return v;
}

/**
 * GET room info as JSON text. Room info is the hot read: the room part is serialised once per
 * committed room state (rooms and members are immutable once committed) and the member part once
 * per member state and token set; only the per-member board token is spliced in per request.
 */
const roomJson = new WeakMap<Room, string>();
const meJson = new WeakMap<Member, { tokens: MediaTokens; json: string }>();

export function roomInfoJson(room: Room, board: Board, m: Member, tokens: MediaTokens): string {
  let r = roomJson.get(room);
  if (r === undefined) {
    const view = roomView(room, { boardId: '', boardToken: '' }) as Partial<ReturnType<typeof roomView>>;
    delete view.boardId;
    delete view.boardToken;
    roomJson.set(room, (r = JSON.stringify(view).slice(0, -1)));
  }
  let me = meJson.get(m);
  if (me === undefined || me.tokens !== tokens) meJson.set(m, (me = { tokens, json: JSON.stringify(meView(m, tokens)) }));
  return `{"code":0,"msg":"Success","data":{"room":${r},"boardId":${JSON.stringify(board.boardId)},"boardToken":${JSON.stringify(board.boardToken)}},"user":${me.json}}}`;
}

export function simpleRoomView(room: Room) {
  return {
    roomId: room.roomId,
    roomUuid: room.roomUuid,
    roomName: room.roomName,
    channelName: room.channelName,
    password: room.password,
  };
}

/**
 * Commands from this number on are Convene's own, on its socket only (docs/realtime.md): the shipped
 * apps ignore them, and the RTM relay never sends them.
 */
export const CONVENE_CMDS = 100;
/** The hand queue's channel command. */
export const HANDS_CMD = 101;
/** The room's or a member's metadata changed. */
export const METADATA_CMD = 130;

/**
 * Breakout rooms on Convene's socket (docs/realtime.md), numbers the shipped apps ignore: the main
 * meeting's round (120), the room a socket now follows (121), a breakout's name and end (122), a
 * host's message to every breakout (123).
 */
export const BREAKOUTS_CMD = 120;
export const MOVED_CMD = 121;
export const BREAKOUT_CMD = 122;
export const BREAKOUTS_MESSAGE_CMD = 123;

/** The main meeting's round as cmd 120 and its snapshot carry it; `open` 0 once closed. */
export function breakoutsData(view: BreakoutsView | null): Record<string, unknown> {
  if (!view) return { open: 0 };
  return { open: 1, round: view.round, assignment: view.assignment, endsAt: view.endsAt ?? 0, closing: bit(view.closing), rooms: view.rooms };
}

/** An event as the Agora clients' RTM handlers expect it (spec §5): channel or peer command. */
export interface AgoraMessage {
  type: 'channel' | 'peer' | 'server';
  cmd: number;
  data: unknown;
}

export function agoraMessage(e: MeetingEvent): AgoraMessage {
  switch (e.type) {
    case 'chatSent':
      return { type: 'channel', cmd: 1, data: { userId: e.from.userId, userName: e.from.userName, message: e.message, type: e.chatType } };
    case 'membersChanged':
      return { type: 'channel', cmd: 2, data: { total: e.total, list: e.changes.map((c) => channelMemberView(c.member)) } };
    case 'roomChanged':
      return { type: 'channel', cmd: 3, data: { muteAllChat: e.muteAllChat, muteAllAudio: e.muteAllAudio, state: e.ended ? 0 : 1, locked: bit(e.locked === true) } };
    case 'memberChanged':
      return { type: 'channel', cmd: 4, data: channelMemberView(e.member) };
    case 'boardChanged':
      return {
        type: 'channel',
        cmd: 5,
        data: { shareBoard: bit(e.shared), createBoardUserId: boardCreatorView(e.creatorId), shareBoardUsers: e.users.map(channelMemberView) },
      };
    case 'screenChanged':
      return { type: 'channel', cmd: 6, data: { shareScreen: bit(e.shared), shareScreenUsers: e.users.map(channelMemberView) } };
    case 'hostChanged':
      return { type: 'channel', cmd: 7, data: e.changes.map((c) => channelMemberView(c.member)) };
    case 'memberKicked':
      return {
        type: 'channel',
        cmd: 8,
        data: {
          hostUserId: e.by?.userId ?? '',
          hostUserName: e.by?.userName ?? '',
          userId: e.target.userId,
          userName: e.target.userName,
          // Convene: when the kicked member may enter again (epoch ms); 0 when not banned.
          bannedUntil: e.bannedUntil ?? 0,
        },
      };
    case 'invited':
      return {
        type: 'peer',
        cmd: 1,
        data: { userId: e.from.userId, userName: e.from.userName, type: MODULE_CODES[e.module], action: e.action === 'invite' ? 1 : 2 },
      };
    case 'applied':
      return {
        type: 'peer',
        cmd: 2,
        data: { userId: e.from.userId, userName: e.from.userName, type: MODULE_CODES[e.module], action: e.action === 'apply' ? 1 : 2 },
      };
    case 'noticed':
      return {
        type: 'peer',
        cmd: 3,
        data: {
          userId: e.from.userId,
          userName: e.from.userName,
          role: roleCode(e.fromRole),
          type: MODULE_CODES[e.module],
          state: bit(e.on),
          action: bit(e.on),
        },
      };
    case 'serverMessage':
      return { type: 'server', cmd: 0, data: { msgId: e.msgId, text: e.text } };
    case 'handsChanged':
      // Convene's socket only (a command number the shipped apps ignore; the RTM relay skips it).
      return { type: 'channel', cmd: HANDS_CMD, data: { public: bit(e.public), list: e.hands } };
    case 'metadataChanged':
      return e.userId === null
        ? { type: 'channel', cmd: METADATA_CMD, data: { scope: 'room', metadata: e.metadata, selfMetadata: bit(e.selfMetadata) } }
        : { type: 'channel', cmd: METADATA_CMD, data: { scope: 'member', userId: e.userId, metadata: e.metadata } };
    case 'lobbyChanged':
    case 'lobbyAdmitted':
    case 'lobbyDenied':
      // Convene's socket only, to the lobby's moderators and its waiting members (lobby-wire.ts).
      return lobbyMessage(e);
    case 'breakoutsChanged':
      return {
        type: 'channel',
        cmd: BREAKOUTS_CMD,
        data: { step: e.step, byUserId: e.by?.userId ?? '', ...breakoutsData(e.view), ...(e.moved ? { moved: e.moved } : {}) },
      };
    case 'breakoutChanged':
      return { type: 'channel', cmd: BREAKOUT_CMD, data: { mainRoomId: e.mainRoomId, name: e.name, endsAt: e.endsAt ?? 0 } };
    case 'breakoutsMessage':
      return { type: 'channel', cmd: BREAKOUTS_MESSAGE_CMD, data: { msgId: e.msgId, userId: e.from?.userId ?? '', userName: e.from?.userName ?? '', text: e.text } };
  }
}

/** The hand queue in a snapshot (as the member may see it), when there is one to tell. */
function handsPart(room: Room, userId: string): { hands?: { public: number; list: HandView[] } } {
  if (room.hands === undefined && room.handsPublic !== true) return {};
  const seen = handsSeenBy(room, userId);
  return { hands: { public: bit(seen.public), list: seen.list } };
}

/** A main meeting's round, or a breakout's name and end, in a snapshot, when there is one. */
function breakoutsPart(room: Room): { breakouts?: Record<string, unknown>; breakout?: Record<string, unknown> } {
  if (room.breakouts) return { breakouts: breakoutsData(breakoutsView(room.breakouts)) };
  if (room.breakoutOf) return { breakout: { mainRoomId: room.breakoutOf.mainRoomId, name: room.breakoutOf.name, endsAt: room.breakoutOf.endsAt ?? 0 } };
  return {};
}

/** The JSON of a snapshot page's members (without the brackets), per page (one per room state). */
const pageJson = new WeakMap<readonly Member[], string>();

/** Above this many members a socket's cmd 2 lists no one (the snapshot's first page is as long). */
export const LIST_LIMIT = 100;

/**
 * cmd 2 on Convene's socket in a room of more than LIST_LIMIT members: the total, and how many
 * changes it left out (`omitted`). Listing every change to every socket would make a storm of N
 * entries cost N² on the wire; a client that shows more than a page pages the member list (E4), and
 * hosts come and go through cmd 7 in any room. The relay to Agora RTM (one message per room, not
 * per socket) keeps the full list.
 */
function largeRoomMembersChanged(e: Extract<MeetingEvent, { type: 'membersChanged' }>): AgoraMessage {
  return { type: 'channel', cmd: 2, data: { total: e.total, list: [], omitted: e.changes.length } };
}

/**
 * The realtime channel's wire form: the Agora RTM envelope plus Convene's `type` and `seq`, and the
 * snapshot a socket starts from. The gateway is given this and knows nothing of the Agora dialect.
 */
export function agoraRealtimeFormat(board: (room: Room, userId: string) => Board): RealtimeFormat {
  return {
    event(e: LoggedEvent): Buffer {
      const m = e.event.type === 'membersChanged' && e.event.total > LIST_LIMIT ? largeRoomMembersChanged(e.event) : agoraMessage(e.event);
      const msg =
        m.type === 'server'
          ? { type: m.type, version: 1, timestamp: e.at, seq: e.seq, data: m.data }
          : { type: m.type, cmd: m.cmd, version: 1, timestamp: e.at, seq: e.seq, data: m.data };
      return Buffer.from(JSON.stringify(msg));
    },
    /** The room, `me`, the first page of its members with the hosts and `me` after it, and the counts. */
    snapshot(room: Room, me: { userId: string; userToken: string }, page: SnapshotMembers): Buffer {
      const membersPage = { count: page.count, total: page.total, nextId: page.nextId };
      const data = { room: roomView(room, board(room, me.userId)), me, membersPage, ...handsPart(room, me.userId), ...lobbySnapshotPart(room, me.userId), ...breakoutsPart(room) };
      const head = JSON.stringify({ type: 'snapshot', version: 1, timestamp: Date.now(), seq: room.seq, data });
      // The page's JSON is made once per room state: a storm of entries sends the same page to each.
      let members = pageJson.get(page.shared);
      if (members === undefined) pageJson.set(page.shared, (members = page.shared.map((m) => JSON.stringify(memberPageView(m))).join(',')));
      if (page.me) members = members ? `${members},${JSON.stringify(memberPageView(page.me))}` : JSON.stringify(memberPageView(page.me));
      // `head` ends with the closing braces of `data` and of the message.
      return Buffer.from(`${head.slice(0, -2)},"members":[${members}]}}`);
    },
    waiting: waitingFrame,
    moved(to: { roomId: string; mainRoomId: string; name: string }): Buffer {
      const data = { roomId: to.roomId, mainRoomId: to.mainRoomId, main: bit(to.roomId === to.mainRoomId), name: to.name };
      return Buffer.from(JSON.stringify({ type: 'channel', cmd: MOVED_CMD, version: 1, timestamp: Date.now(), data }));
    },
  };
}
