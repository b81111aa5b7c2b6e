// The Agora API's answers as schemas, for the OpenAPI document (docs/agora-api.md §3, §5). They
// describe, they never shape: the server serialises answers as they are (server.ts), so a field
// the views add is never dropped because a schema here forgot it (the OpenAPI test catches that).
import { Type, type TSchema } from 'typebox';

const Bit = Type.Integer({ enum: [0, 1] });
const MuteLevel = Type.Integer({ enum: [0, 1, 2] });
const Id = Type.String({ description: '22 random characters from [A-Za-z0-9_-]' });
const UserId = Type.String({
  description: "the member's uid in decimal (\"100001\"): numeric, as the clients read it, and unique in the app",
});

/** Shared component schemas (added to the server once; routes refer to them by `$id`). */
export const AgoraMember = Type.Object(
  {
    userId: UserId,
    userName: Type.String(),
    role: Type.Integer({ enum: [1, 2], description: '1 host, 2 participant' }),
    enableChat: Bit,
    enableVideo: Bit,
    enableAudio: Bit,
    grantBoard: Bit,
    grantScreen: Type.Integer({ enum: [0, 1], description: '1 while sharing the screen' }),
    uid: Type.Integer({ description: 'RTC uid, unique in the app; String(uid) is its RTM user id and its userId' }),
    screenId: Type.Integer({ description: 'RTC uid of its screen-share stream (uid + 1)' }),
    avatar: Type.Optional(Type.String({ description: 'present only when given at entry' })),
    metadata: Type.Optional(Type.String({ description: "Convene: the member's metadata, where set (member pages, snapshots, your own; never in channel messages)" })),
  },
  { $id: 'AgoraMember', description: 'A member of the room (docs/agora-api.md §5.2)' },
);

const MemberRef = Type.Ref('AgoraMember');

export const AgoraRoom = Type.Object(
  {
    roomId: Id,
    roomUuid: Type.String({ description: "the caller's room key given at entry" }),
    roomName: Type.String(),
    channelName: Type.String({ description: 'RTC and RTM channel (= roomId)' }),
    password: Type.String({ description: '"" if none' }),
    muteAllChat: MuteLevel,
    muteAllAudio: MuteLevel,
    state: Type.Integer({ enum: [0, 1], description: '1 running' }),
    startTime: Type.Integer({ description: 'epoch milliseconds' }),
    onlineUsers: Type.Integer({ minimum: 0 }),
    hosts: Type.Array(MemberRef),
    shareBoard: Bit,
    createBoardUserId: Type.String({ description: 'userId of the member who started the board; "0" while none is shared' }),
    shareBoardUsers: Type.Array(MemberRef),
    shareScreen: Bit,
    shareScreenUsers: Type.Array(MemberRef),
    locked: Type.Integer({ enum: [0, 1], description: 'Convene: 1 while the room is locked' }),
    metadata: Type.Optional(Type.String({ description: "Convene: the room's metadata, where set" })),
    selfMetadata: Type.Optional(Type.Integer({ enum: [1], description: 'Convene: 1 when members may set their own metadata (absent: hosts only)' })),
    boardId: Type.String(),
    boardToken: Type.String(),
  },
  { $id: 'AgoraRoom', description: 'The room (docs/agora-api.md §5.1)' },
);

const Token = Type.Union([Type.String(), Type.Null()], { description: 'null when the app has no usable certificate' });

export const AgoraMe = Type.Object(
  {
    ...AgoraMember.properties,
    userUuid: Type.String({ description: "the caller's user key given at entry" }),
    rtcToken: Token,
    rtmToken: Token,
    screenToken: Token,
    state: Type.Integer({ enum: [0, 1], description: '1: in the room' }),
  },
  { $id: 'AgoraMe', description: 'The caller (docs/agora-api.md §5.3)' },
);

export const AgoraFailure = Type.Object(
  {
    code: Type.Integer({
      description:
        'non-zero: 400 invalid argument, 401 session invalid, 403 not allowed, 404 not found, 500 internal, ' +
        '503 retry shortly, 1001 credentials, 1002 wrong password, 1003 room full, 1004 chat muted, ' +
        '1005 self-unmute forbidden, 1006 already shared, 1007 duplicate login, 1008 room locked, ' +
        '1009 banned, 1010 too many meetings, 1011 rate limited, 1012 waiting in the lobby (Convene: data has roomId and userToken)',
    }),
    msg: Type.String({ description: 'what is wrong and what to do' }),
    data: Type.Union([Type.Null(), Type.Object({ roomId: Type.String(), userId: Type.String(), userToken: Type.String(), waiting: Type.Literal(1) })], {
      description: 'null; with code 1012 (an entry waiting in the lobby) the roomId, its userId and the userToken of its lobby socket',
    }),
  },
  { $id: 'AgoraFailure', description: 'An error: HTTP 200 with a non-zero code (docs/agora-api.md §3)' },
);

export const AGORA_SHARED_SCHEMAS: TSchema[] = [AgoraMember, AgoraRoom, AgoraMe, AgoraFailure];

export const Tokens = Type.Object({ rtcToken: Token, rtmToken: Token, screenToken: Token });
export const BoardAnswer = Type.Object({ boardId: Type.String(), boardToken: Type.String() });
export const Entered = Type.Object({
  roomId: Id,
  userToken: Type.String({ description: 'the session token: send it as the "token" header from now on' }),
});
export const RoomAndMe = Type.Object({ room: Type.Ref('AgoraRoom'), user: Type.Ref('AgoraMe') });
export const MemberPage = Type.Object({
  count: Type.Integer({ minimum: 0 }),
  total: Type.Integer({ minimum: 0 }),
  nextId: Type.String({ description: 'the cursor of the next page' }),
  list: Type.Array(MemberRef),
});
export const SimpleRoom = Type.Object({
  roomId: Id,
  roomUuid: Type.String(),
  roomName: Type.String(),
  channelName: Type.String(),
  password: Type.String(),
});
const Texts = Type.Record(Type.String(), Type.String());
export const Languages = Type.Object({ 'en-us': Texts, 'zh-cn': Texts }, { description: 'the texts of the error codes' });
const VersionConfig = Type.Object(
  { multiLanguage: Languages },
  { description: 'what the iOS app reads at start: the texts of the error codes it shows (as GET multi/language)' },
);
export const AppVersion = Type.Object({
  appCode: Type.String(),
  osType: Type.Integer(),
  terminalType: Type.Integer(),
  appVersion: Type.String(),
  latestVersion: Type.String(),
  appPackage: Type.String(),
  upgradeDescription: Type.String(),
  forcedUpgrade: Type.Integer(),
  upgradeUrl: Type.String(),
  reviewing: Type.Integer(),
  remindTimes: Type.Integer(),
  config: VersionConfig,
});

/**
 * The responses of an Agora route: HTTP 200 always, `{code: 0, msg, data}` on success, the failure
 * envelope otherwise. Typed `unknown` so that it constrains no handler (it documents, see above).
 */
export function agoraAnswers(data: TSchema | null, what = 'the answer') {
  const failure = Type.Ref('AgoraFailure');
  const schema =
    data === null
      ? Type.Unsafe<unknown>({ ...failure, description: 'always an error (code 404 not supported, or 400)' })
      : Type.Unsafe<unknown>(
          Type.Union([Type.Object({ code: Type.Literal(0), msg: Type.String(), data }), failure], {
            description: `${what} in {code: 0, msg, data}, or an error with a non-zero code (always HTTP 200)`,
          }),
        );
  return { 200: schema };
}

/** Mutations answer `data: true`. */
export const Done = Type.Literal(true);
