// The Agora Meeting v1 client API (spec §4): each route turns a request into one domain command
// and answers `{code, msg, data}`. Who is calling is settled in one hook before validation.
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { rosterOf, type Member, type Room } from '../../domain/room.ts';
import { MAX_BAN_SECONDS, type RoomCommand } from '../../domain/commands.ts';
import type { App } from '../../store/store.ts';
import type { Entered as EnteredMember, Session } from '../../service/meeting.ts';
import { enterWithRoomToken } from '../../service/roomtoken.ts';
import { BoardUnavailableError } from '../../service/boards.ts';
import { Flag, Int } from '../schema.ts';
import { afterAnswer } from '../answered.ts';
import { overLimit, type Rate } from '../rates.ts';
import { ok, type HttpDeps } from '../server.ts';
import { AgoraError, Code, LANGUAGES } from './codes.ts';
import { callerOf, type Auth, type Caller } from './caller.ts';
import { subjectOf } from '../../tokens/agora.ts';
import { MODULES_BY_CODE, boardFor, memberPageView, simpleRoomView, type Board } from './views.ts';
import { forgetAnswer, roomInfoBody } from './room-info.ts';
import { handRoutes } from './hands.ts';
import { metadataRoutes } from './metadata.ts';
import type { ExtensionHelpers } from './extension.ts';
import { lobbyRoutes } from './lobby.ts';
import { breakoutRoutes } from './breakouts.ts';
import { RoomParams, UserParams } from './params.ts';
import { AppVersion, BoardAnswer, Done, Entered, Languages, MemberPage, RoomAndMe, SimpleRoom, Tokens, agoraAnswers } from './answers.ts';

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
  }
  interface FastifyContextConfig {
    auth?: Auth;
  }
}

const OptionalText = (max: number) => Type.Optional(Type.Union([Type.String({ maxLength: max }), Type.Null()]));

const EntryBody = Type.Object({
  roomName: Type.String({ minLength: 1, maxLength: 64 }),
  roomUuid: Type.String({ minLength: 1, maxLength: 128 }),
  userName: Type.String({ minLength: 1, maxLength: 64 }),
  userUuid: Type.String({ minLength: 1, maxLength: 128 }),
  password: OptionalText(64),
  enableVideo: Type.Optional(Flag()),
  enableAudio: Type.Optional(Flag()),
  avatar: OptionalText(1024),
  /** A Qiniu RoomToken for (appId, roomUuid, userUuid): replaces the Basic credentials and password. */
  roomToken: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
});
const ChangeRoomBody = Type.Object({
  muteAllChat: Type.Optional(Flag([0, 1, 2])),
  muteAllAudio: Type.Optional(Flag([0, 1, 2])),
  // 1 = running (no-op); 0 ends the meeting, and so does 2 (an iOS header comment, spec §3.4).
  state: Type.Optional(Flag([0, 1, 2])),
  shareBoard: Type.Optional(Flag()),
  /** Convene: 1 locks the room (no new entries; members inside stay), 0 unlocks it. */
  locked: Type.Optional(Flag()),
});
/** Convene: a kick may keep the member out for `ban` seconds (at most 30 days). */
const ExitBody = Type.Object({ ban: Type.Optional(Int(0, MAX_BAN_SECONDS)) });
const ChangeUserBody = Type.Object({
  enableChat: Type.Optional(Flag()),
  enableVideo: Type.Optional(Flag()),
  enableAudio: Type.Optional(Flag()),
  grantBoard: Type.Optional(Flag()),
});
const RequestBody = Type.Object({ type: Flag([1, 2, 3]), action: Flag([1, 2]) });
const StateBody = Type.Object({ state: Flag() });
const ChatBody = Type.Object({
  message: Type.String({ minLength: 1, maxLength: 4000 }),
  type: Type.Optional(Flag([1])),
});
const PageQuery = Type.Object({
  role: Type.Optional(Flag([1, 2])),
  nextId: Type.Optional(Type.String({ maxLength: 32 })),
  count: Type.Optional(Int(1, 2_147_483_647)),
});

/** Echoed back; anything is accepted (osType and terminalType read as integers, else 0). */
const VersionQuery = Type.Object({
  appCode: Type.Optional(Type.String()),
  osType: Type.Optional(Type.String({ description: 'an integer; anything else reads as 0' })),
  terminalType: Type.Optional(Type.String({ description: 'an integer; anything else reads as 0' })),
  appVersion: Type.Optional(Type.String()),
});

/** Each endpoint's schemas (docs/agora-api.md §6): the request parts are validated, the answers documented. */
const E = {
  entry: { summary: 'E1 enter: create or join a meeting by roomUuid', body: EntryBody, response: agoraAnswers(Entered) },
  roomInfo: { summary: 'E2 the room and me', params: RoomParams, response: agoraAnswers(RoomAndMe) },
  changeRoom: {
    summary: 'E3 change the room (host): mute all, chat off, lock, board, end the meeting',
    params: RoomParams,
    body: ChangeRoomBody,
    response: agoraAnswers(Done),
  },
  page: { summary: 'E4 members by role, paged', params: RoomParams, querystring: PageQuery, response: agoraAnswers(MemberPage) },
  changeUser: {
    summary: "E5 change a member's audio, video, chat or board",
    params: UserParams,
    body: ChangeUserBody,
    response: agoraAnswers(Done),
  },
  invite: {
    summary: 'E6 the host invites a member to open a module, or rejects its application',
    params: UserParams,
    body: RequestBody,
    response: agoraAnswers(Done),
  },
  apply: {
    summary: "E7 a participant applies to open a module, or rejects the host's invitation",
    params: UserParams,
    body: RequestBody,
    response: agoraAnswers(Done),
  },
  screen: { summary: "E8 start or stop a member's screen share", params: UserParams, body: StateBody, response: agoraAnswers(Done) },
  myScreen: { summary: 'E16 start or stop my screen share', params: RoomParams, body: StateBody, response: agoraAnswers(Done) },
  board: { summary: 'E9 share the whiteboard, grant or revoke it', params: UserParams, body: StateBody, response: agoraAnswers(Done) },
  host: { summary: 'E10 pass the host role', params: UserParams, response: agoraAnswers(Done) },
  exit: { summary: 'E11 leave (own userId) or kick (host)', params: UserParams, body: ExitBody, response: agoraAnswers(Done) },
  chat: { summary: 'E12 chat to the room', params: RoomParams, body: ChatBody, response: agoraAnswers(Done) },
  boardInfo: { summary: "E13 the meeting's board and a token for me", params: RoomParams, response: agoraAnswers(BoardAnswer) },
  refresh: { summary: 'E14 fresh RTC, RTM and screen tokens', params: RoomParams, response: agoraAnswers(Tokens) },
  simple: { summary: 'E15 invite-link info (app credentials only)', params: RoomParams, response: agoraAnswers(SimpleRoom) },
  languages: { summary: 'the texts of the error codes, in English and Chinese', response: agoraAnswers(Languages) },
  version: { summary: 'app version check: always "no upgrade"', querystring: VersionQuery, response: agoraAnswers(AppVersion) },
};

/** An edu-era leftover (§4.4): documented without a params schema, so nothing is checked before its 404. */
const unsupportedSchema = (summary: string) => ({ summary: `${summary} (not supported: code 404)`, response: agoraAnswers(null) });

export const PAGE_MAX = 100;

export const confRoomRoutes: FastifyPluginAsync<{ deps: HttpDeps }> = async (plain, { deps }) => {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const { meeting } = deps;
  app.decorateRequest('caller', null);
  app.addHook('preValidation', (req, _reply, done) => {
    identify(req, deps, req.routeOptions.config.auth ?? 'member').then((caller) => {
      req.caller = caller;
      done();
    }, done);
  });

  const session = (req: FastifyRequest): Session => req.caller!.session!;
  // The command's messages are pushed only once its answer is written (spec §5.1). The session's
  // room was read for this request: the command's first base (no second read).
  const execute = (req: FastifyRequest, reply: FastifyReply, cmd: RoomCommand) =>
    meeting.execute(session(req).room.roomId, cmd, afterAnswer(reply), session(req).room);
  const run = async (req: FastifyRequest, reply: FastifyReply, cmd: RoomCommand) => {
    await execute(req, reply, cmd);
    return ok(true);
  };
  /** Refuse the call with 1011 when it is over a rate limit (see http/rates.ts). */
  const limited = async (reply: FastifyReply, rate: Rate, key: string) => {
    const r = await overLimit(deps, reply, rate, key);
    if (r) throw new AgoraError(Code.rateLimited, r.message);
  };
  const perMember = (req: FastifyRequest) => `${session(req).room.roomId}/${session(req).member.userId}`;
  const extensions: ExtensionHelpers = {
    session,
    execute,
    limited: (req, reply) => limited(reply, 'requests', perMember(req)),
    policy: (req) => meeting.policyOf(req.caller!.app),
  };
  handRoutes(app, extensions);
  metadataRoutes(app, extensions);
  lobbyRoutes(app, extensions);
  breakoutRoutes(app, { session, meeting, delivery: afterAnswer });

  // E1: create or join by roomUuid.
  app.post('/entry', { schema: E.entry, config: { auth: 'entry' } }, async (req, reply) => {
    const b = req.body;
    await limited(reply, 'entriesPerIp', req.ip);
    await limited(reply, 'entriesPerApp', req.caller!.app.appId);
    if (b.roomToken !== undefined) {
      const want = { appId: req.caller!.app.appId, roomName: b.roomUuid, userId: b.userUuid };
      const details = { roomName: b.roomName, userName: b.userName, avatar: b.avatar ?? '', audio: b.enableAudio === 1, video: b.enableVideo === 1 };
      const r = await enterWithRoomToken(deps.apps, meeting, want, b.roomToken, details, afterAnswer(reply)).catch(boardUnavailable(reply));
      if (!r.ok) {
        if (r.reason === 'roomFull') throw new AgoraError(Code.roomFull, 'the room is full');
        if (r.reason === 'duplicateLogin') throw new AgoraError(Code.duplicateLogin, 'this user is already in the room and the app forbids a second login');
        if (r.reason === 'locked' || r.reason === 'banned' || r.reason === 'tooManyRooms') throw new AgoraError(Code[r.reason], r.detail ?? r.reason);
        throw new AgoraError(Code.credentials, 'invalid room token for this app, room and user');
      }
      return entryAnswer(req, r.entered);
    }
    const entered = await meeting.enter(
      req.caller!.app,
      {
        roomUuid: b.roomUuid,
        roomName: b.roomName,
        password: b.password ?? '',
        userUuid: b.userUuid,
        userName: b.userName,
        avatar: b.avatar ?? '',
        audio: b.enableAudio === 1,
        video: b.enableVideo === 1,
      },
      afterAnswer(reply),
    ).catch(boardUnavailable(reply));
    return entryAnswer(req, entered);
  });

  // E2: the room and the caller.
  app.get('/:roomId', { schema: E.roomInfo }, async (req, reply) => {
    const { room, member } = session(req);
    reply.type('application/json; charset=utf-8');
    return roomInfoBody(deps, req.caller!.app, room, member);
  });

  // E3: host changes the room; state 0 ends the meeting.
  app.post('/:roomId', { schema: E.changeRoom }, async (req, reply) => {
    const b = req.body;
    return run(req, reply, {
      type: 'changeRoom',
      actor: session(req).member.userId,
      muteAllChat: b.muteAllChat as 0 | 1 | 2 | undefined,
      muteAllAudio: b.muteAllAudio as 0 | 1 | 2 | undefined,
      end: b.state === 0 || b.state === 2 ? true : undefined,
      shareBoard: b.shareBoard === undefined ? undefined : b.shareBoard === 1,
      locked: b.locked === undefined ? undefined : b.locked === 1,
    });
  });

  // E4: online members by role, in join order, with a cursor that always moves forward.
  app.get('/:roomId/user/page', { schema: E.page }, async (req) => {
    const { role, nextId, count } = req.query;
    const after = cursor(nextId);
    const limit = Math.min(count ?? PAGE_MAX, PAGE_MAX);
    // The roster is sorted once per room state: a room of thousands paged by all its members costs
    // a page each, not the room each.
    const roster = rosterOf(session(req).room);
    const wanted = (m: Member) => role === undefined || (role === 1) === (m.role === 'host');
    const page: Member[] = [];
    for (let i = firstAfter(roster, after); i < roster.length && page.length < limit; i++) if (wanted(roster[i]!)) page.push(roster[i]!);
    const last = page.at(-1);
    return ok({
      count: page.length,
      total: role === undefined ? roster.length : countOf(roster, wanted),
      nextId: String(last ? last.order : after),
      list: page.map(memberPageView),
    });
  });

  // E5: change a member's audio/video/chat/board.
  app.post('/:roomId/user/:userId', { schema: E.changeUser }, async (req, reply) => {
    const b = req.body;
    const flag = (v: number | undefined) => (v === undefined ? undefined : v === 1);
    return run(req, reply, {
      type: 'changeMember',
      actor: session(req).member.userId,
      target: req.params.userId,
      audio: flag(b.enableAudio),
      video: flag(b.enableVideo),
      chat: flag(b.enableChat),
      boardGrant: flag(b.grantBoard),
    });
  });

  // E6: host invites a participant to open a module, or rejects its application.
  app.post('/:roomId/user/:userId/host/invite', { schema: E.invite }, async (req, reply) => {
    await limited(reply, 'requests', perMember(req));
    return run(req, reply, {
      type: 'invite',
      actor: session(req).member.userId,
      target: req.params.userId,
      module: MODULES_BY_CODE[req.body.type] as 'audio' | 'video' | 'board',
      action: req.body.action === 1 ? 'invite' : 'rejectApply',
    });
  });

  // E7: participant applies to the host, or rejects the host's invitation.
  app.post('/:roomId/user/:userId/audience/apply', { schema: E.apply }, async (req, reply) => {
    await limited(reply, 'requests', perMember(req));
    return run(req, reply, {
      type: 'apply',
      actor: session(req).member.userId,
      target: req.params.userId,
      module: MODULES_BY_CODE[req.body.type] as 'audio' | 'video' | 'board',
      action: req.body.action === 1 ? 'apply' : 'rejectInvite',
    });
  });

  // E8 and E16: screen share.
  app.post('/:roomId/user/:userId/screen', { schema: E.screen }, async (req, reply) =>
    run(req, reply, { type: 'shareScreen', actor: session(req).member.userId, target: req.params.userId, on: req.body.state === 1 }),
  );
  app.post('/:roomId/screen', { schema: E.myScreen }, async (req, reply) => {
    const me = session(req).member.userId;
    return run(req, reply, { type: 'shareScreen', actor: me, target: me, on: req.body.state === 1 });
  });

  // E9: whiteboard share and grants.
  app.post('/:roomId/user/:userId/board', { schema: E.board }, async (req, reply) =>
    run(req, reply, { type: 'shareBoard', actor: session(req).member.userId, target: req.params.userId, on: req.body.state === 1 }),
  );

  // E10: pass the host role.
  app.post('/:roomId/user/:userId/host', { schema: E.host }, async (req, reply) =>
    run(req, reply, { type: 'transferHost', actor: session(req).member.userId, target: req.params.userId }),
  );

  // E11: leave (own userId, idempotent) or kick (host, another userId).
  app.post('/:roomId/user/:userId/exit', { schema: E.exit, config: { auth: 'exit' } }, async (req, reply) => {
    const { room, member } = session(req);
    // DECISION: in a breakout, leaving is going back to the main meeting, and a kick is from the meeting.
    if (room.breakoutOf && !room.ended) return exitBreakout(req, reply, room.breakoutOf.mainRoomId, req.params.userId, req.body.ban ?? 0);
    if (req.params.userId === member.userId) return run(req, reply, { type: 'leave', actor: member.userId });
    if (room.ended) throw new AgoraError(Code.session, 'the meeting has ended');
    if (!member.present) throw new AgoraError(Code.session, 'you are no longer in this room');
    const banMs = (req.body.ban ?? 0) * 1000;
    return run(req, reply, { type: 'kick', actor: member.userId, target: req.params.userId, banMs });
  });

  /** E11 in a breakout: oneself back to the main meeting; another out of the meeting (host). */
  const exitBreakout = async (req: FastifyRequest, reply: FastifyReply, mainRoomId: string, target: string, banSeconds: number) => {
    const { member } = session(req);
    if (target === member.userId) {
      await meeting.breakouts.step(mainRoomId, member.userId, { action: 'move', target, to: '' }, afterAnswer(reply));
    } else {
      await meeting.execute(mainRoomId, { type: 'kick', actor: member.userId, target, banMs: banSeconds * 1000 }, afterAnswer(reply));
    }
    return ok(true);
  };

  // E12: chat to the room.
  app.post('/:roomId/chat', { schema: E.chat }, async (req, reply) => {
    await limited(reply, 'chat', perMember(req));
    return run(req, reply, { type: 'chat', actor: session(req).member.userId, message: req.body.message, chatType: req.body.type ?? 1 });
  });

  // E13: the meeting's board and a token for the caller.
  app.get('/:roomId/board', { schema: E.boardInfo }, async (req) => {
    const { room, member } = session(req);
    return ok(board(deps, room, member));
  });

  // E14: fresh media tokens.
  app.post('/:roomId/token/refresh', { schema: E.refresh }, async (req) => {
    const { room, member } = session(req);
    forgetAnswer(member);
    return ok(deps.agoraTokens.refresh(req.caller!.app, subjectOf(room, member)));
  });

  // E15: what an invite link needs to prefill the join form; the unguessable roomId is the capability.
  app.get('/:roomId/simple', { schema: E.simple, config: { auth: 'app' } }, async (req) => {
    const room = await meeting.room(req.params.roomId);
    if (!room || room.appId !== req.caller!.app.appId || room.ended) throw new AgoraError(Code.notFound, 'room not found');
    return ok(simpleRoomView(room));
  });

  // §4.4: edu-era leftovers the meeting UI never calls.
  const unsupported = async () => {
    throw new AgoraError(Code.notFound, 'not supported');
  };
  const none = (summary: string) => ({ schema: unsupportedSchema(summary), config: { auth: 'app' as const } });
  app.post('/:roomId/record/start', none('start recording'), unsupported);
  app.post('/:roomId/record/:recordId/stop', none('stop recording'), unsupported);
  app.get('/:roomId/records', none('list recordings'), unsupported);
  app.get('/:roomId/record/:recordId', none('a recording'), unsupported);
  app.post('/:roomId/exit', none('room-level exit (iOS)'), unsupported);
  app.post('/:roomId/covideo', none('co-video (iOS)'), unsupported);
};

/** App-level endpoints (§4.3): no credentials needed. */
export const confAppRoutes: FastifyPluginAsync = async (app: FastifyInstance) => {
  app.get('/multi/language', { schema: E.languages }, async () => ok(LANGUAGES));
  app.get('/app/version', { schema: E.version }, async (req) => {
    const q = req.query as Record<string, string | undefined>;
    const int = (v: string | undefined) => (v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : 0);
    return ok({
      appCode: q.appCode ?? '',
      osType: int(q.osType),
      terminalType: int(q.terminalType),
      appVersion: q.appVersion ?? '',
      latestVersion: q.appVersion ?? '',
      appPackage: '',
      upgradeDescription: '',
      forcedUpgrade: 0,
      upgradeUrl: '',
      reviewing: 0,
      remindTimes: 0,
      // The iOS app's error texts (RoomManager.httpErrorMessage reads config.multiLanguage).
      config: { multiLanguage: LANGUAGES },
    });
  });
  const unsupported = async () => {
    throw new AgoraError(Code.notFound, 'not supported');
  };
  app.get('/log/params', { schema: unsupportedSchema('client log upload parameters') }, unsupported);
  app.post('/log/sts/callback', { schema: unsupportedSchema('client log upload callback') }, unsupported);
};

/**
 * The caller of a route (caller.ts): the app (404), its credentials (1001, see credentials.ts), then
 * the member's session (401) where the route needs one.
 */
function identify(req: FastifyRequest, deps: HttpDeps, auth: Auth): Promise<Caller> {
  const params = req.params as { appId?: string; roomId?: string };
  return callerOf(deps, auth, {
    appId: params.appId,
    roomId: params.roomId,
    headers: req.headers,
    queryToken: (req.query as { token?: string } | undefined)?.token,
    roomToken: auth === 'entry' && typeof (req.body as { roomToken?: unknown } | undefined)?.roomToken === 'string',
  });
}

/**
 * E1's answer. DECISION: a knock at the lobby is code 1012, the one error with `data`: the shipped
 * apps cannot wait, so they show its text (join again later: an admitted member's entry is a
 * re-entry); Convene's clients take the token in `data` to their lobby socket, which goes on as the
 * member's once admitted.
 */
function entryAnswer(req: FastifyRequest, e: EnteredMember) {
  if (!e.waiting) return ok({ roomId: e.roomId, userToken: e.userToken });
  req.answerCode = Code.waiting;
  return { code: Code.waiting, msg: 'waiting in the lobby: the host will let you in (your socket with this userToken is told; or enter again later)', data: { roomId: e.roomId, userId: e.userId, userToken: e.userToken, waiting: 1 } };
}

function cursor(nextId: string | undefined): number {
  if (nextId === undefined || nextId === '' || nextId === '0') return 0;
  if (!/^\d{1,15}$/.test(nextId)) throw new AgoraError(Code.invalid, 'invalid argument: nextId must be a cursor returned by a previous page');
  return Number(nextId);
}

/** The index of the first member of `roster` (sorted by join order) who joined after `order`. */
function firstAfter(roster: readonly Member[], order: number): number {
  let lo = 0;
  let hi = roster.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (roster[mid]!.order <= order) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function countOf(roster: readonly Member[], wanted: (m: Member) => boolean): number {
  let n = 0;
  for (const m of roster) if (wanted(m)) n++;
  return n;
}

function board(deps: HttpDeps, room: Room, m: Member): Board {
  return boardFor(deps.config.boardProvider, deps.boardTokens, room, m.userId);
}

/** A new meeting's board (Netless) could not be made: no meeting was started; said as retryable (503). */
function boardUnavailable(reply: FastifyReply) {
  return (err: unknown): never => {
    if (err instanceof BoardUnavailableError) {
      reply.header('retry-after', String(err.retryAfterS));
      throw new AgoraError(Code.unavailable, err.message);
    }
    throw err;
  };
}
