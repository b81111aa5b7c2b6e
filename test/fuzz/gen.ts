// What the fuzz sends, as fast-check arbitraries. An action is plain data: indices into the test's
// pools of rooms and members and choices of how to spoil the request. Indices are resolved against
// the live model only when the action runs (tokens and ids exist only then), so one seed always
// yields the same action sequence.
import fc from 'fast-check';

export const ROOMS = ['fz-room-a', 'fz-room-b', 'fz-room-c', 'fz-room-d', 'fz-room-e'];
/** Each room's password for the meetings the fuzz creates by a normal entry ('' = none). */
export const PASSWORDS = ['', 'pw-b', '', 's3cret', ''];
export const USERS = ['fz-user-0', 'fz-user-1', 'fz-user-2', 'fz-user-3', 'fz-user-4', 'fz-user-5', 'fz-user-6'];

export type Form = 'seed' | 'client' | 'scenario';
export type Json = unknown;

/** A uniform index below n (fast-check otherwise favours small numbers). */
const idx = (n: number) => fc.noBias(fc.nat(n - 1));
/** A uniform fraction in [0, 1): where a reset falls, and small choices that depend on it. */
const fraction = fc.noBias(fc.integer({ min: 0, max: 999 })).map((n) => n / 1000);
/** A junk value in about one case out of `n`, else null. */
const sometimes = <T>(arb: fc.Arbitrary<T>, n: number) => fc.oneof({ weight: n - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });

/** Weighted choice among constants. */
function pick<T>(...choices: [number, T][]): fc.Arbitrary<T> {
  return fc.oneof(...choices.map(([weight, v]) => ({ weight, arbitrary: fc.constant(v) })));
}

// ---------------------------------------------------------------------------------------------
// Junk values

/** Values of every JSON type, edge numbers, numeric strings, odd Unicode. */
export const junkValue: fc.Arbitrary<Json> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('', ' ', '0', '1', '2', '3', ' 1 ', '01', '1.0', '-1', '1e3', '0x1', 'true', 'false', 'null', 'NaN', '\u0000', '\ud800', '😀', 'é'),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(0, 1, 2, 3, -1, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, 0.5),
  fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
  fc.constantFrom('x'.repeat(129), 'x'.repeat(4001), 'y'.repeat(20_000)),
);

/** Bodies that are not what a route takes: broken JSON, other JSON types, bytes, deep nesting. */
export const rawJunk: fc.Arbitrary<{ text: string } | { bytes: number[] }> = fc.oneof(
  fc.constantFrom(
    '{',
    '{"a":',
    '[]',
    '[1,2]',
    'null',
    '"s"',
    '123',
    'true',
    '{"a":1,}',
    "{'a':1}",
    '\ufeff{}',
    '{"__proto__":{"polluted":1}}',
    '{"constructor":{"prototype":{"polluted":1}}}',
    'NaN',
    '{"a":1}{"b":2}',
    '\u0000',
    'a=1&b=2',
    '{"roomName":"x"',
    '[' .repeat(30_000) + ']'.repeat(30_000),
    '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000),
    '{"__proto__":'.repeat(3_000) + '{}' + '}'.repeat(3_000),
  ).map((text) => ({ text })),
  fc.string({ maxLength: 40 }).map((text) => ({ text })),
  fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 48 }).map((bytes) => ({ bytes })),
);

export type BodyMut =
  | { kind: 'valid' }
  | { kind: 'drop'; field: number }
  | { kind: 'extra'; key: string; value: Json }
  | { kind: 'wrong'; field: number; value: Json }
  | { kind: 'raw'; raw: { text: string } | { bytes: number[] } }
  | { kind: 'empty' }
  | { kind: 'huge' };

export const bodyMut: fc.Arbitrary<BodyMut> = fc.oneof(
  { weight: 70, arbitrary: fc.constant({ kind: 'valid' as const }) },
  { weight: 6, arbitrary: fc.nat(9).map((field) => ({ kind: 'drop' as const, field })) },
  {
    weight: 6,
    arbitrary: fc.record({ key: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'roomToken', 'state', '')), value: junkValue }).map((r) => ({ kind: 'extra' as const, ...r })),
  },
  { weight: 9, arbitrary: fc.record({ field: fc.nat(9), value: junkValue }).map((r) => ({ kind: 'wrong' as const, ...r })) },
  { weight: 5, arbitrary: rawJunk.map((raw) => ({ kind: 'raw' as const, raw })) },
  { weight: 3, arbitrary: fc.constant({ kind: 'empty' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'huge' as const }) },
);

export type ContentType = 'json' | 'none' | 'text' | 'form' | 'octet' | 'jsonCharset' | 'junk' | 'dup' | 'upper' | 'multipart';
export const contentType: fc.Arbitrary<ContentType> = pick<ContentType>(
  [80, 'json'],
  [4, 'none'],
  [2, 'text'],
  [2, 'form'],
  [2, 'octet'],
  [3, 'jsonCharset'],
  [2, 'junk'],
  [2, 'dup'],
  [2, 'upper'],
  [1, 'multipart'],
);

/** Path segments that are not ids: percent-encoding junk, dots, over-long. */
export const junkSegment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('%ZZ', '%', '%2', '%00', '%2F', '%C0%AF', '%E0%A4', '%FF%FE', '%25', '..', '.', '%2e%2e', '%F0%9F%98', '%20', 'a;b', 'a%3Bb', '%0d%0a', '~', '-', '_', "'", '(', '*', '!', '$'),
  fc.stringMatching(/^[A-Za-z0-9_-]{1,30}$/),
  fc.constantFrom('x'.repeat(513), 'x'.repeat(600), 'A'.repeat(128), 'A'.repeat(129), '%41'.repeat(200)),
);

export type QueryJunk = 'none' | 'dup' | 'pct' | 'bare' | 'amps' | 'long' | 'array' | 'proto';
export const queryJunk: fc.Arbitrary<QueryJunk> = pick<QueryJunk>(
  [82, 'none'],
  [5, 'dup'],
  [3, 'pct'],
  [2, 'bare'],
  [2, 'amps'],
  [2, 'long'],
  [2, 'array'],
  [2, 'proto'],
);

export type HeaderJunk =
  | 'none'
  | 'h2c'
  | 'h2cBare'
  | 'wsUpgrade'
  | 'expect'
  | 'longHeader'
  | 'dupAuth'
  | 'dupToken'
  | 'dupHost'
  | 'chunked'
  | 'xff'
  | 'keepAlive';
export const headerJunk: fc.Arbitrary<HeaderJunk> = pick<HeaderJunk>(
  [78, 'none'],
  [3, 'h2c'],
  [2, 'h2cBare'],
  [3, 'wsUpgrade'],
  [2, 'expect'],
  [2, 'longHeader'],
  [2, 'dupAuth'],
  [2, 'dupToken'],
  [1, 'dupHost'],
  [3, 'chunked'],
  [1, 'xff'],
  [1, 'keepAlive'],
);

export type MethodJunk = 'ok' | 'wrong' | 'HEAD' | 'OPTIONS' | 'odd';
export const methodJunk: fc.Arbitrary<MethodJunk> = pick<MethodJunk>([86, 'ok'], [6, 'wrong'], [2, 'HEAD'], [4, 'OPTIONS'], [2, 'odd']);

export type TargetForm = 'origin' | 'absolute';
export const targetForm: fc.Arbitrary<TargetForm> = pick<TargetForm>([93, 'origin'], [7, 'absolute']);

export type PathJunk = 'none' | 'trailingSlash' | 'doubleSlash' | 'dotSegment' | 'encodedId' | 'upperCase';
export const pathJunk: fc.Arbitrary<PathJunk> = pick<PathJunk>(
  [90, 'none'],
  [2, 'trailingSlash'],
  [2, 'doubleSlash'],
  [2, 'dotSegment'],
  [3, 'encodedId'],
  [1, 'upperCase'],
);

/** How the connection ends: normally, or reset at a stage of the exchange. */
export type Reset = null | 'requestLine' | 'headers' | 'body' | 'afterRequest' | 'midAnswer';
export const reset: fc.Arbitrary<Reset> = pick<Reset>(
  [91, null],
  [2, 'requestLine'],
  [2, 'headers'],
  [2, 'body'],
  [2, 'afterRequest'],
  [1, 'midAnswer'],
);

/** Fields every HTTP action shares: how to spoil the request around its route. */
export interface Spoil {
  method: MethodJunk;
  target: TargetForm;
  path: PathJunk;
  query: QueryJunk;
  header: HeaderJunk;
  ct: ContentType;
  body: BodyMut;
  reset: Reset;
  /** Where in its stage a reset falls (0..1), and other small choices. */
  cut: number;
}

export const spoil: fc.Arbitrary<Spoil> = fc.record({
  method: methodJunk,
  target: targetForm,
  path: pathJunk,
  query: queryJunk,
  header: headerJunk,
  ct: contentType,
  body: bodyMut,
  reset,
  cut: fraction,
});

/** A spoil that changes nothing: for the valid calls that keep the rooms moving. */
export const clean: fc.Arbitrary<Spoil> = fc.record({
  method: fc.constant<MethodJunk>('ok'),
  target: fc.constant<TargetForm>('origin'),
  path: fc.constant<PathJunk>('none'),
  query: fc.constant<QueryJunk>('none'),
  header: fc.constant<HeaderJunk>('none'),
  ct: pick<ContentType>([90, 'json'], [10, 'none']),
  body: fc.constant<BodyMut>({ kind: 'valid' }),
  reset: fc.constant<Reset>(null),
  cut: fraction,
});

/** Mostly clean, sometimes spoiled: half the traffic is valid so that the rooms really change. */
const spoilOrClean = fc.oneof({ weight: 45, arbitrary: clean }, { weight: 55, arbitrary: spoil });

// ---------------------------------------------------------------------------------------------
// Agora client API

export type RoomEndpoint =
  | 'entry'
  | 'info'
  | 'change'
  | 'page'
  | 'changeUser'
  | 'invite'
  | 'apply'
  | 'screen'
  | 'board'
  | 'host'
  | 'exit'
  | 'chat'
  | 'boardToken'
  | 'refresh'
  | 'simple'
  | 'roomScreen'
  | 'recordStart'
  | 'recordStop'
  | 'records'
  | 'record'
  | 'roomExit'
  | 'covideo';

export type AppSel = 'default' | 'unknown' | 'junk' | 'created' | 'long';
export type RoomSel = 'own' | 'otherRoom' | 'ended' | 'junk';
export type BasicSel = 'good' | 'none' | 'forged' | 'wrongScheme' | 'badBase64' | 'noColon' | 'lowercase' | 'otherApp';
export type TokenSel = 'own' | 'none' | 'junk' | 'forged' | 'otherRoom' | 'revoked' | 'query' | 'long' | 'empty';
export type TargetSel = 'self' | 'member' | 'host' | 'junk' | 'departed' | 'otherRoom';

export interface AgoraAction {
  t: 'agora';
  ep: RoomEndpoint;
  form: Form;
  app: AppSel;
  roomSel: RoomSel;
  room: number;
  actor: number;
  actorIsHost: boolean;
  targetSel: TargetSel;
  target: number;
  junkId: string;
  basic: BasicSel;
  token: TokenSel;
  /** The endpoint's body before spoiling. */
  fields: Record<string, Json>;
  spoil: Spoil;
}

const flag = pick<Json>([40, 1], [40, 0], [5, '1'], [5, '0'], [5, true], [5, false]);
const flag012 = pick<Json>([30, 0], [30, 1], [25, 2], [5, '2'], [5, true], [5, '0']);
const module3 = pick<Json>([30, 1], [30, 2], [30, 3], [5, '1'], [5, 4]);
const action2 = pick<Json>([50, 1], [45, 2], [5, '1']);

function subset(fields: Record<string, fc.Arbitrary<Json>>): fc.Arbitrary<Record<string, Json>> {
  return fc.record(fields, { requiredKeys: [] });
}

/** A valid body for each endpoint (spoiled later by `spoil.body`). */
function fieldsFor(ep: RoomEndpoint): fc.Arbitrary<Record<string, Json>> {
  switch (ep) {
    case 'entry':
      return fc.record({
        userName: fc.oneof(fc.constantFrom('Ann', 'Bob', 'Chen', 'Dée', '名字', 'x'.repeat(64)), fc.string({ minLength: 1, maxLength: 20 })),
        enableVideo: fc.option(flag, { nil: undefined }),
        enableAudio: fc.option(flag, { nil: undefined }),
        avatar: fc.option(fc.constantFrom('', 'https://a.example/p.png', 'x'.repeat(1024)), { nil: undefined }),
      });
    case 'change':
      // Ending the meeting is rare: rooms that end every few calls never build up state.
      return subset({ muteAllChat: flag012, muteAllAudio: flag012, shareBoard: flag, state: pick<Json>([97, 1], [2, 0], [1, 2]) });
    case 'changeUser':
      return subset({ enableChat: flag, enableVideo: flag, enableAudio: flag, grantBoard: flag });
    case 'invite':
    case 'apply':
      return fc.record({ type: module3, action: action2 });
    case 'screen':
    case 'board':
    case 'roomScreen':
      return fc.record({ state: flag });
    case 'chat':
      return fc.record({
        message: fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.constantFrom('hi', '😀'.repeat(10), 'x'.repeat(4000))),
        type: pick<Json>([80, 1], [20, '1']),
      });
    case 'page':
      // E4 takes its arguments in the query.
      return subset({
        role: pick<Json>([40, 1], [40, 2], [10, 3], [10, 'x']),
        nextId: pick<Json>([30, ''], [30, '0'], [20, '2'], [10, '999999'], [10, 'abc']),
        count: pick<Json>([30, 1], [30, 2], [20, 100], [10, 0], [10, 101]),
      });
    default:
      return fc.constant({});
  }
}

const ENDPOINT_WEIGHTS: [number, RoomEndpoint][] = [
  [16, 'entry'],
  [8, 'info'],
  [6, 'change'],
  [7, 'page'],
  [8, 'changeUser'],
  [4, 'invite'],
  [4, 'apply'],
  [4, 'screen'],
  [4, 'board'],
  [5, 'host'],
  [7, 'exit'],
  [8, 'chat'],
  [3, 'boardToken'],
  [3, 'refresh'],
  [3, 'simple'],
  [2, 'roomScreen'],
  [1, 'recordStart'],
  [1, 'recordStop'],
  [1, 'records'],
  [1, 'record'],
  [1, 'roomExit'],
  [1, 'covideo'],
];

export const agoraAction: fc.Arbitrary<AgoraAction> = pick(...ENDPOINT_WEIGHTS).chain((ep) =>
  fc.record({
    t: fc.constant<'agora'>('agora'),
    ep: fc.constant(ep),
    form: fc.constantFrom<Form>('seed', 'client', 'scenario'),
    app: pick<AppSel>([92, 'default'], [3, 'unknown'], [2, 'junk'], [2, 'created'], [1, 'long']),
    roomSel: pick<RoomSel>([90, 'own'], [4, 'otherRoom'], [3, 'ended'], [3, 'junk']),
    room: idx(ROOMS.length),
    actor: idx(USERS.length),
    actorIsHost: fc.boolean(),
    targetSel: ep === 'exit' ? pick<TargetSel>([50, 'self'], [30, 'member'], [6, 'junk'], [7, 'departed'], [7, 'otherRoom']) : pick<TargetSel>([30, 'self'], [45, 'member'], [10, 'host'], [5, 'junk'], [5, 'departed'], [5, 'otherRoom']),
    target: idx(USERS.length),
    junkId: junkSegment,
    basic: pick<BasicSel>([90, 'good'], [2, 'none'], [2, 'forged'], [1, 'wrongScheme'], [1, 'badBase64'], [1, 'noColon'], [2, 'lowercase'], [1, 'otherApp']),
    token: pick<TokenSel>([86, 'own'], [2, 'none'], [2, 'junk'], [2, 'forged'], [2, 'otherRoom'], [2, 'revoked'], [2, 'query'], [1, 'long'], [1, 'empty']),
    fields: fieldsFor(ep),
    spoil: spoilOrClean,
  }),
);

// ---------------------------------------------------------------------------------------------
// App-level Agora endpoints, plain paths, protocol junk

export interface AppLevelAction {
  t: 'appLevel';
  prefix: '/v1' | '/scenario/meeting/v1';
  route: 'language' | 'version' | 'logParams' | 'stsCallback' | 'unknown' | 'realtimePlain';
  query: Record<string, Json>;
  spoil: Spoil;
}

export const appLevelAction: fc.Arbitrary<AppLevelAction> = fc.record({
  t: fc.constant<'appLevel'>('appLevel'),
  prefix: fc.constantFrom<AppLevelAction['prefix']>('/v1', '/scenario/meeting/v1'),
  route: pick<AppLevelAction['route']>([30, 'language'], [30, 'version'], [10, 'logParams'], [10, 'stsCallback'], [12, 'unknown'], [8, 'realtimePlain']),
  query: subset({ appCode: junkValue, osType: pick<Json>([40, 1], [40, 2], [20, 'x']), terminalType: pick<Json>([50, 1], [50, 2]), appVersion: fc.constantFrom('1.0.0', '', 'x'.repeat(300)) }),
  spoil: spoilOrClean,
});

export interface PlainAction {
  t: 'plain';
  route: 'healthz' | 'unknown' | 'star' | 'v4' | 'root' | 'healthzJunk';
  junk: string;
  spoil: Spoil;
}

export const plainAction: fc.Arbitrary<PlainAction> = fc.record({
  t: fc.constant<'plain'>('plain'),
  route: pick<PlainAction['route']>([35, 'healthz'], [25, 'unknown'], [8, 'star'], [12, 'v4'], [10, 'root'], [10, 'healthzJunk']),
  junk: junkSegment,
  spoil,
});

/** Requests Node's HTTP parser itself refuses: the answer may be any 4xx (or a close). */
export interface ProtocolAction {
  t: 'protocol';
  kind:
    | 'badRequestLine'
    | 'noHost'
    | 'dupContentLength'
    | 'clAndTe'
    | 'badChunk'
    | 'headerOverflow'
    | 'spaceInTarget'
    | 'bareLf'
    | 'nulInHeader'
    | 'http10'
    | 'unknownMethod'
    | 'hugeTarget'
    | 'pipelined';
  path: 'agora' | 'qiniu' | 'plain';
}

export const protocolAction: fc.Arbitrary<ProtocolAction> = fc.record({
  t: fc.constant<'protocol'>('protocol'),
  kind: fc.constantFrom<ProtocolAction['kind']>(
    'badRequestLine',
    'noHost',
    'dupContentLength',
    'clAndTe',
    'badChunk',
    'headerOverflow',
    'spaceInTarget',
    'bareLf',
    'nulInHeader',
    'http10',
    'unknownMethod',
    'hugeTarget',
    'pipelined',
  ),
  path: fc.constantFrom<ProtocolAction['path']>('agora', 'qiniu', 'plain'),
});

// ---------------------------------------------------------------------------------------------
// Qiniu server API

export type QiniuRoute =
  | 'createApp'
  | 'listApps'
  | 'getApp'
  | 'updateApp'
  | 'deleteApp'
  | 'listRooms'
  | 'closeRoom'
  | 'listUsers'
  | 'kick'
  | 'message'
  | 'unsupported'
  | 'unknown';

export type SignMode =
  | 'good'
  | 'lowercaseScheme'
  | 'withDate'
  | 'none'
  | 'qbox'
  | 'unknownAk'
  | 'badSig'
  | 'otherHost'
  | 'otherQuery'
  | 'otherBody'
  | 'staleDate'
  | 'dupDate'
  | 'emptyParts'
  | 'bodyNoCt'
  | 'octetBody';

export interface QiniuAction {
  t: 'qiniu';
  route: QiniuRoute;
  app: 'default' | 'created' | 'unknown' | 'junk' | 'long' | 'deleted';
  room: number;
  roomJunk: string | null;
  user: number;
  userJunk: string | null;
  fields: Record<string, Json>;
  query: Record<string, Json>;
  /** ListActiveRoom: a query parameter given twice (`?prefix=a&prefix=b`), correctly signed. */
  repeat: 'none' | 'prefix' | 'offset' | 'limit';
  sign: SignMode;
  host: 'qiniu' | 'local';
  spoil: Spoil;
}

const appFields = subset({
  hub: fc.oneof(fc.constantFrom('hub', 'hailong', ''), junkValue),
  title: fc.oneof(fc.constantFrom('fuzz', 't'.repeat(256), 't'.repeat(257)), junkValue),
  maxUsers: fc.oneof(fc.constantFrom(0, 1, 2, 10, 1_000_000, 1_000_001, -1, '3'), junkValue),
  noAutoKickUser: fc.oneof(fc.boolean(), fc.constantFrom('True', 'false', '1', 'maybe')),
  noAutoCloseRoom: fc.boolean(),
  mergePublishRtmp: fc.oneof(
    subset({ enable: fc.boolean(), audioOnly: fc.boolean(), height: fc.integer({ min: -5, max: 200_000 }), url: fc.constantFrom('', 'rtmp://x/y'), streamTitle: fc.string({ maxLength: 10 }) }),
    junkValue,
  ),
  eventCbUrl: fc.constantFrom('http://127.0.0.1:9/cb', ''),
});

const QINIU_ROUTES: [number, QiniuRoute][] = [
  [8, 'createApp'],
  [6, 'listApps'],
  [8, 'getApp'],
  [10, 'updateApp'],
  [4, 'deleteApp'],
  [12, 'listRooms'],
  [2, 'closeRoom'],
  [12, 'listUsers'],
  [6, 'kick'],
  [14, 'message'],
  [3, 'unsupported'],
  [3, 'unknown'],
];

export const qiniuAction: fc.Arbitrary<QiniuAction> = pick(...QINIU_ROUTES).chain((route) =>
  fc.record({
    t: fc.constant<'qiniu'>('qiniu'),
    route: fc.constant(route),
    app: pick<QiniuAction['app']>([60, 'default'], [20, 'created'], [6, 'unknown'], [4, 'junk'], [3, 'long'], [7, 'deleted']),
    room: idx(ROOMS.length),
    roomJunk: sometimes(junkSegment, 8),
    user: idx(USERS.length),
    userJunk: sometimes(junkSegment, 8),
    fields:
      route === 'createApp' || route === 'updateApp'
        ? appFields
        : route === 'message'
          ? subset({
              text: fc.oneof(fc.constantFrom('hello', 'x'.repeat(4000), 'x'.repeat(4001), ''), junkValue),
              msgId: fc.oneof(fc.constantFrom('m1', 'x'.repeat(129)), junkValue),
              targets: fc.oneof(fc.constant('members'), fc.constant([]), fc.array(fc.constantFrom('fz-user-0', 'fz-user-1', 'nobody', ''), { maxLength: 3 }), junkValue),
            })
          : fc.constant({}),
    query: subset({
      prefix: fc.constantFrom('', 'fz', 'fz-room-a', 'undefined', 'zzz', '%ZZ'),
      offset: fc.constantFrom('0', '1', '2', 'abc', '-3', '99999999999', 'undefined'),
      limit: fc.constantFrom('1', '2', '10', '0', '1001', 'x', 'undefined'),
    }),
    repeat: pick<QiniuAction['repeat']>([70, 'none'], [20, 'prefix'], [5, 'offset'], [5, 'limit']),
    sign: pick<SignMode>(
      [55, 'good'],
      [3, 'lowercaseScheme'],
      [4, 'withDate'],
      [4, 'none'],
      [3, 'qbox'],
      [3, 'unknownAk'],
      [4, 'badSig'],
      [3, 'otherHost'],
      [3, 'otherQuery'],
      [3, 'otherBody'],
      [3, 'staleDate'],
      [2, 'dupDate'],
      [2, 'emptyParts'],
      [4, 'bodyNoCt'],
      [4, 'octetBody'],
    ),
    host: fc.constantFrom<QiniuAction['host']>('qiniu', 'local'),
    spoil: spoilOrClean,
  }),
);

// ---------------------------------------------------------------------------------------------
// RoomToken check (/v3/apps/<AppID>/rooms/<Room>/auth), and RoomTokens elsewhere

export type RoomTokenSel =
  | 'valid'
  | 'python'
  | 'admin'
  | 'expired'
  | 'otherRoom'
  | 'otherUser'
  | 'otherApp'
  | 'forged'
  | 'unknownAk'
  | 'twoParts'
  | 'notJson'
  | 'badPermission'
  | 'expireString'
  | 'missing';

export const roomTokenSel: fc.Arbitrary<RoomTokenSel> = pick<RoomTokenSel>(
  [30, 'valid'],
  [6, 'python'],
  [6, 'admin'],
  [6, 'expired'],
  [6, 'otherRoom'],
  [6, 'otherUser'],
  [5, 'otherApp'],
  [6, 'forged'],
  [5, 'unknownAk'],
  [4, 'twoParts'],
  [4, 'notJson'],
  [4, 'badPermission'],
  [4, 'expireString'],
  [3, 'missing'],
);

export interface AuthAction {
  t: 'auth';
  app: 'default' | 'created' | 'unknown';
  room: number;
  user: number;
  /** Names outside the Qiniu patterns (§3): a token for them never admits. */
  badName: 'none' | 'room' | 'user';
  tok: RoomTokenSel;
  query: 'normal' | 'dupToken' | 'dupUser' | 'noUser' | 'extra';
  spoil: Spoil;
}

export const authAction: fc.Arbitrary<AuthAction> = fc.record({
  t: fc.constant<'auth'>('auth'),
  app: pick<AuthAction['app']>([80, 'default'], [12, 'created'], [8, 'unknown']),
  room: idx(ROOMS.length),
  user: idx(USERS.length),
  badName: pick<AuthAction['badName']>([90, 'none'], [5, 'room'], [5, 'user']),
  tok: roomTokenSel,
  query: pick<AuthAction['query']>([80, 'normal'], [8, 'dupToken'], [4, 'dupUser'], [4, 'noUser'], [4, 'extra']),
  spoil: spoilOrClean,
});

// ---------------------------------------------------------------------------------------------
// Realtime socket

export type WsJunk =
  | { k: 'text'; s: string }
  | { k: 'binary'; n: number }
  | { k: 'oversize' }
  | { k: 'opcode'; op: number }
  | { k: 'unmasked' }
  | { k: 'rsv'; rsv: number }
  | { k: 'fragPing' }
  | { k: 'bigPing' }
  | { k: 'badClose'; code: number }
  | { k: 'badUtf8' }
  | { k: 'cont' }
  | { k: 'garbage'; bytes: number[] }
  | { k: 'len64' };

export const wsJunk: fc.Arbitrary<WsJunk> = fc.oneof(
  { weight: 20, arbitrary: fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('{"cmd":1}', '{}', 'null', '{"type":"subscribe"}', 'x'.repeat(4096))).map((s) => ({ k: 'text' as const, s })) },
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 4096 }).map((n) => ({ k: 'binary' as const, n })) },
  { weight: 6, arbitrary: fc.constant({ k: 'oversize' as const }) },
  { weight: 8, arbitrary: fc.constantFrom(3, 4, 5, 6, 7, 11, 12, 13, 14, 15).map((op) => ({ k: 'opcode' as const, op })) },
  { weight: 5, arbitrary: fc.constant({ k: 'unmasked' as const }) },
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 7 }).map((rsv) => ({ k: 'rsv' as const, rsv })) },
  { weight: 4, arbitrary: fc.constant({ k: 'fragPing' as const }) },
  { weight: 4, arbitrary: fc.constant({ k: 'bigPing' as const }) },
  { weight: 4, arbitrary: fc.constantFrom(0, 999, 1004, 1005, 1006, 1016, 2999, 5000).map((code) => ({ k: 'badClose' as const, code })) },
  { weight: 4, arbitrary: fc.constant({ k: 'badUtf8' as const }) },
  { weight: 4, arbitrary: fc.constant({ k: 'cont' as const }) },
  { weight: 5, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 32 }).map((bytes) => ({ k: 'garbage' as const, bytes })) },
  { weight: 3, arbitrary: fc.constant({ k: 'len64' as const }) },
);

export interface WsAction {
  t: 'ws';
  path: '/v1/realtime' | '/scenario/meeting/v1/realtime';
  room: number;
  user: number;
  tok: 'own' | 'junk' | 'none' | 'revoked' | 'roomToken' | 'forgedRoomToken' | 'dup' | 'departed';
  since: 'none' | '0' | 'last' | 'junk' | 'negative' | 'huge' | 'float';
  handshake: 'ok' | 'noKey' | 'badVersion' | 'post' | 'noConnectionUpgrade' | 'h2c';
  junk: WsJunk[];
  end: 'close' | 'reset' | 'resetBefore101' | 'resetOnFirstFrame' | 'leaveOpen';
}

export const wsAction: fc.Arbitrary<WsAction> = fc.record({
  t: fc.constant<'ws'>('ws'),
  path: fc.constantFrom<WsAction['path']>('/v1/realtime', '/scenario/meeting/v1/realtime'),
  room: idx(ROOMS.length),
  user: idx(USERS.length),
  tok: pick<WsAction['tok']>([55, 'own'], [6, 'junk'], [5, 'none'], [6, 'revoked'], [12, 'roomToken'], [6, 'forgedRoomToken'], [4, 'dup'], [6, 'departed']),
  since: pick<WsAction['since']>([30, 'none'], [30, '0'], [15, 'last'], [6, 'junk'], [6, 'negative'], [7, 'huge'], [6, 'float']),
  handshake: pick<WsAction['handshake']>([82, 'ok'], [4, 'noKey'], [4, 'badVersion'], [3, 'post'], [4, 'noConnectionUpgrade'], [3, 'h2c']),
  junk: fc.array(wsJunk, { maxLength: 3 }),
  end: pick<WsAction['end']>([45, 'close'], [25, 'reset'], [10, 'resetBefore101'], [10, 'resetOnFirstFrame'], [10, 'leaveOpen']),
});

/** An Upgrade request on any path, its connection reset while the server handles the upgrade. */
export interface UpgradeResetAction {
  t: 'upgradeReset';
  path: 'agora' | 'qiniu' | 'plain' | 'realtime';
  proto: 'h2c' | 'websocket';
  /** Reset in the write callback, one tick later, or on the answer's first bytes. */
  when: 'now' | 'nextTick' | 'firstByte';
}

export const upgradeResetAction: fc.Arbitrary<UpgradeResetAction> = fc.record({
  t: fc.constant<'upgradeReset'>('upgradeReset'),
  path: fc.constantFrom<UpgradeResetAction['path']>('agora', 'qiniu', 'plain', 'realtime'),
  proto: fc.constantFrom<UpgradeResetAction['proto']>('h2c', 'websocket'),
  when: fc.constantFrom<UpgradeResetAction['when']>('now', 'nextTick', 'firstByte'),
});

// ---------------------------------------------------------------------------------------------
// Valid calls fired together (races on one room), and the whole mix

export interface ParallelAction {
  t: 'parallel';
  actions: (AgoraAction | QiniuAction)[];
}

const validAgora = agoraAction.chain((a) =>
  clean.map((s): AgoraAction => ({ ...a, app: 'default', roomSel: 'own', basic: 'good', token: 'own', spoil: s })),
);

export const parallelAction: fc.Arbitrary<ParallelAction> = idx(ROOMS.length).chain((room) =>
  fc
    .array(fc.oneof({ weight: 8, arbitrary: validAgora }, { weight: 2, arbitrary: qiniuAction.map((q): QiniuAction => ({ ...q, app: 'default', sign: 'good' })) }), { minLength: 2, maxLength: 4 })
    // One room, so that the calls really race on the same meeting.
    .map((actions) => ({ t: 'parallel' as const, actions: actions.map((a) => ({ ...a, room })) })),
);

export type Action = AgoraAction | AppLevelAction | PlainAction | ProtocolAction | QiniuAction | AuthAction | WsAction | ParallelAction | UpgradeResetAction;

export const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 44, arbitrary: agoraAction },
  { weight: 4, arbitrary: appLevelAction },
  { weight: 4, arbitrary: plainAction },
  { weight: 3, arbitrary: protocolAction },
  { weight: 17, arbitrary: qiniuAction },
  { weight: 6, arbitrary: authAction },
  { weight: 9, arbitrary: wsAction },
  { weight: 3, arbitrary: parallelAction },
  { weight: 2, arbitrary: upgradeResetAction },
);
