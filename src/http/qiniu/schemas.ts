// The Qiniu calls as schemas (docs/qiniu-api.md §3, §4). Request schemas are checked by
// validate.ts once the signature is verified, never by Fastify before it; they accept what the
// SDKs send, forms included (the Python SDK: `True`/`1` booleans, integer strings). `x-expect`
// says in words what a field takes: the 400 message quotes it. Response schemas only document:
// Qiniu answers are written as they are (errors.ts sendQiniu).
import { Type, type TSchema } from 'typebox';
import { MAX_BAN_SECONDS } from '../../domain/commands.ts';

/** A boolean, or a form's spelling of one. */
export const QBool = (description?: string) =>
  Type.Unsafe<boolean | string | number>({
    'x-expect': 'a boolean',
    anyOf: [
      { type: 'boolean' },
      { type: 'string', enum: ['True', 'true', '1', 'False', 'false', '0'] },
      { type: 'integer', enum: [0, 1] },
    ],
    ...(description ? { description } : {}),
  });

/** An integer in [min, max], or a string of digits (a form's; the range is checked when it is read). */
export const QInt = (min: number, max: number, description?: string) =>
  Type.Unsafe<number | string>({
    'x-expect': `an integer from ${min} to ${max}`,
    anyOf: [
      { type: 'integer', minimum: min, maximum: max },
      { type: 'string', pattern: '^-?\\d{1,15}$' },
    ],
    ...(description ? { description } : {}),
  });

export const QText = (max: number, options: { min?: number; description?: string } = {}) =>
  Type.String({
    'x-expect': options.min ? `a string of ${options.min} to ${max} characters` : `a string of at most ${max} characters`,
    maxLength: max,
    ...(options.min ? { minLength: options.min } : {}),
    ...(options.description ? { description: options.description } : {}),
  });

// ---- Requests

/** CreateApp and UpdateApp (§4.1): absent fields keep their value; unknown fields are ignored. */
export const AppFields = Type.Object(
  {
    hub: Type.Optional(QText(128, { description: 'checked against CONVENE_QINIU_HUBS when set (616)' })),
    title: Type.Optional(QText(256)),
    maxUsers: Type.Optional(QInt(0, 1_000_000, '0 = unlimited')),
    noAutoKickUser: Type.Optional(QBool('true: a second entry of a user in the room is refused')),
    noAutoCloseRoom: Type.Optional(QBool('stored and echoed only')),
    noAutoCreateRoom: Type.Optional(QBool('stored and echoed only')),
    lobby: Type.Optional(QBool("Convene: the app's new meetings start with the lobby on (entries wait to be admitted)")),
    mergePublishRtmp: Type.Optional(
      Type.Object(
        {
          enable: Type.Optional(QBool()),
          audioOnly: Type.Optional(QBool()),
          height: Type.Optional(QInt(0, 100_000)),
          width: Type.Optional(QInt(0, 100_000)),
          fps: Type.Optional(QInt(0, 100_000)),
          kbps: Type.Optional(QInt(0, 100_000)),
          url: Type.Optional(QText(2048)),
          streamTitle: Type.Optional(QText(2048)),
        },
        { 'x-expect': 'an object', description: 'stored and echoed only; updated field by field' },
      ),
    ),
    eventCbUrl: Type.Optional(QText(2048)),
    eventCbSecret: Type.Optional(QText(256, { description: 'stored, never returned' })),
    eventCbVersion: Type.Optional(QText(32)),
  },
  { description: 'JSON, or a form (application/x-www-form-urlencoded)' },
);

export const LockBody = Type.Object({
  locked: Type.Optional(QBool('true locks (no new entries; members inside stay), false unlocks; absent: true')),
});

export const MessageBody = Type.Object({
  text: QText(4000, { min: 1 }),
  msgId: Type.Optional(QText(128, { description: 'generated when absent or empty' })),
  targets: Type.Optional(
    Type.Union(
      [Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 10_000 }), Type.Null()],
      { 'x-expect': 'a list of at most 10000 non-empty strings', description: 'userUuids; empty or absent: everyone in the room' },
    ),
  ),
});

const AppId = Type.String({ description: 'the app' });
const RoomName = Type.String({ description: "the meeting's roomUuid" });
export const AppParams = Type.Object({ appId: AppId });
export const RoomParams = Type.Object({ appId: AppId, roomName: RoomName });
export const UserParams = Type.Object({ appId: AppId, roomName: RoomName, userId: Type.String({ description: "the member's userUuid" }) });

/** Junk is not an error here: the Node SDK sends `prefix=undefined` and `offset=undefined` literally. */
export const ListRoomsQuery = Type.Object({
  prefix: Type.Optional(Type.String({ description: 'roomUuid prefix, matched literally; absent or empty: all' })),
  offset: Type.Optional(Type.String({ description: 'a decimal integer (default 0); anything else means the default' })),
  limit: Type.Optional(Type.String({ description: 'a decimal integer, 1 to 1000 (default 100); anything else means the default' })),
  metadata: Type.Optional(
    Type.String({ maxLength: 4096, description: 'Convene: only the running meetings whose metadata is exactly this, whether or not anyone is in them (prefix does not apply)' }),
  ),
});

export const KickQuery = Type.Object({
  ban: Type.Optional(
    Type.String({
      pattern: '^\\d{1,9}$',
      'x-expect': `a number of seconds from 0 to ${MAX_BAN_SECONDS}`,
      description: `Convene: also keep the user out of this meeting for this many seconds (0 to ${MAX_BAN_SECONDS})`,
    }),
  ),
});

export const AuthQuery = Type.Object({
  user: Type.Optional(Type.String({ description: "the user's id (its userUuid)" })),
  token: Type.Optional(Type.String({ description: 'a RoomToken for (app, room, user)' })),
});

// ---- Answers

export const QiniuApp = Type.Object(
  {
    appId: Type.String(),
    hub: Type.String(),
    title: Type.String(),
    maxUsers: Type.Integer(),
    noAutoCloseRoom: Type.Boolean(),
    noAutoCreateRoom: Type.Boolean(),
    noAutoKickUser: Type.Boolean(),
    lobby: Type.Boolean({ description: "Convene: the app's new meetings start with the lobby on" }),
    mergePublishRtmp: Type.Object({
      enable: Type.Boolean(),
      audioOnly: Type.Boolean(),
      height: Type.Integer(),
      width: Type.Integer(),
      fps: Type.Integer(),
      kbps: Type.Integer(),
      url: Type.String(),
      streamTitle: Type.String(),
    }),
    createdAt: Type.String({ description: 'RFC 3339, UTC, whole seconds' }),
    updatedAt: Type.String({ description: 'RFC 3339, UTC, whole seconds' }),
    eventCbUrl: Type.Optional(Type.String({ description: 'once set' })),
    eventCbVersion: Type.Optional(Type.String({ description: 'once set' })),
    appCertificate: Type.Optional(Type.String({ description: 'the client-API credentials: not in the list' })),
    customerId: Type.Optional(Type.String({ description: 'the client-API credentials: not in the list' })),
    customerSecret: Type.Optional(Type.String({ description: 'the client-API credentials: not in the list' })),
  },
  { $id: 'QiniuApp', description: 'The App object (docs/qiniu-api.md §4.1)' },
);

export const QiniuError = Type.Object(
  {
    error: Type.String({ description: 'the error text, also the reason phrase of the status line' }),
    reason: Type.Optional(Type.String({ description: 'for people: why (e.g. which part of the signature check failed)' })),
  },
  { $id: 'QiniuError', description: 'An error: the HTTP status is the Qiniu code (docs/qiniu-api.md §3)' },
);

export const QINIU_SHARED_SCHEMAS: TSchema[] = [QiniuApp, QiniuError];

export const Empty = Type.Object({}, { additionalProperties: false, description: 'done: {}' });
export const AppAnswer = Type.Ref('QiniuApp');
export const AppList = Type.Array(Type.Ref('QiniuApp'), { description: 'the apps the key may use, without credentials' });
export const RoomList = Type.Object({
  end: Type.Boolean({ description: 'true when nothing follows' }),
  offset: Type.Integer({ description: "the next page's offset" }),
  rooms: Type.Array(Type.String(), { description: 'roomUuids of the active meetings' }),
});
export const UserList = Type.Object({ users: Type.Array(Type.Object({ userId: Type.String({ description: 'userUuid' }) })) });
export const Locked = Type.Object({ locked: Type.Boolean() });
export const AuthAnswer = Type.Object({
  accessToken: Type.String({ description: 'a session token: the realtime socket and the client API take it' }),
  appId: Type.String(),
  roomName: Type.String(),
  userId: Type.String(),
  permission: Type.String({ enum: ['user', 'admin'] }),
});

const ERRORS: Record<number, string> = {
  400: 'invalid args: a malformed body or field, a body type the call does not take, a repeated query parameter',
  401: 'bad token: the signature check failed (`reason` says which part)',
  403: 'refused: an entry (room is full, user already in the room, room is locked, user is banned), or a node call signed with a key that is not an operator\'s',
  413: 'request entity too large: a body over 1 MiB',
  429: 'too many requests: over a rate limit (Retry-After says when to retry)',
  503: 'service unavailable: the store cannot be reached (cluster mode); retry',
};
const QINIU_CODES: Record<number, string> = { 612: 'app not found / user not found / node not found', 615: 'room not active', 616: 'hub not match' };

/**
 * The responses of a Qiniu call: its 200 answer and the errors it may give, each `{"error"}` with
 * the Qiniu code as HTTP status. 612, 615 and 616 are outside what OpenAPI's status keys allow:
 * they are listed under `default`.
 */
export function qiniuAnswers(ok: TSchema, statuses: number[]) {
  const error = Type.Ref('QiniuError');
  const responses: Record<string, TSchema> = { 200: ok };
  const extra: string[] = [];
  for (const status of statuses) {
    if (status >= 600) extra.push(`${status} ${QINIU_CODES[status]}`);
    else responses[status] = Type.Unsafe<unknown>({ ...error, description: ERRORS[status] });
  }
  responses.default = Type.Unsafe<unknown>({
    ...error,
    description: `Qiniu codes as HTTP statuses: ${[...extra, '500 internal error'].join('; ')}`,
  });
  return responses as Record<string, TSchema>;
}

/** The statuses every signed call may answer. */
export const SIGNED = [401, 429, 503];

// ---- The calls: what each route documents (and, for bodies and queries, what it checks).

/** CreateApp and UpdateApp also take forms (the Python SDK sends them). */
const JSON_OR_FORM = ['application/json', 'application/x-www-form-urlencoded'];

export const CALLS = {
  createApp: {
    summary: 'CreateApp: a new app, owned by the calling key',
    consumes: JSON_OR_FORM,
    body: AppFields,
    response: qiniuAnswers(AppAnswer, [400, 413, ...SIGNED, 616]),
  },
  listApps: { summary: 'list the apps the key may use', response: qiniuAnswers(AppList, [400, ...SIGNED]) },
  getApp: { summary: 'GetApp', params: AppParams, response: qiniuAnswers(AppAnswer, [400, ...SIGNED, 612]) },
  updateApp: {
    summary: 'UpdateApp: only the fields present change',
    consumes: JSON_OR_FORM,
    params: AppParams,
    body: AppFields,
    response: qiniuAnswers(AppAnswer, [400, 413, ...SIGNED, 612, 616]),
  },
  deleteApp: { summary: 'DeleteApp: its running meetings end first', params: AppParams, response: qiniuAnswers(Empty, [400, ...SIGNED, 612]) },
  listActiveRooms: {
    summary: 'ListActiveRoom: the active meetings, by roomUuid',
    params: AppParams,
    querystring: ListRoomsQuery,
    response: qiniuAnswers(RoomList, [400, ...SIGNED, 612]),
  },
  closeRoom: { summary: 'Close Room: end the meeting', params: RoomParams, response: qiniuAnswers(Empty, [400, ...SIGNED, 612, 615]) },
  listUsers: { summary: 'ListUser: the members in the running meeting', params: RoomParams, response: qiniuAnswers(UserList, [400, ...SIGNED, 612]) },
  kickUser: {
    summary: 'KickUser, with an optional ban (Convene)',
    params: UserParams,
    querystring: KickQuery,
    response: qiniuAnswers(Empty, [400, ...SIGNED, 612, 615]),
  },
  lockRoom: {
    summary: 'Lock Room (Convene): no new entries while locked',
    params: RoomParams,
    body: LockBody,
    response: qiniuAnswers(Locked, [400, 413, ...SIGNED, 612, 615]),
  },
  message: {
    summary: "Message: to the members' realtime sockets",
    params: RoomParams,
    body: MessageBody,
    response: qiniuAnswers(Empty, [400, 413, ...SIGNED, 612, 615]),
  },
  roomTokenCheck: {
    summary: 'RoomToken check: enter the user (not signed)',
    params: RoomParams,
    querystring: AuthQuery,
    response: {
      ...qiniuAnswers(AuthAnswer, [400, 401, 403, 429, 503, 612]),
      202: Type.Object(
        { ...AuthAnswer.properties, waiting: Type.Literal(true) },
        { description: "Convene: the user knocked at the room's lobby and waits to be admitted; its accessToken opens its lobby socket" },
      ),
    },
  },
};
