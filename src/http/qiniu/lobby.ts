// Convene's lobby on the server API (docs/qiniu-api.md §4.8), signed and answered like the Qiniu
// calls, users named by their userUuid: a running meeting's lobby (who waits), its settings, and
// the moderator's actions on behalf of the server (admit some or all, deny with a reason, send back).
// The same commands as the client API's, with a null actor and the signing key recorded.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { MAX_DENY_REASON, MAX_LOBBY_EXEMPT, waitingViews, type LobbyAction } from '../../domain/lobby.ts';
import { findByUuid, findMember, type Room } from '../../domain/room.ts';
import { RuleError, type Decision } from '../../domain/rules.ts';
import type { App } from '../../store/store.ts';
import { afterAnswer } from '../answered.ts';
import { read } from './fields.ts';
import { QiniuError, userNotFound } from './errors.ts';
import { QBool, QText, qiniuAnswers, RoomParams, SIGNED } from './schemas.ts';
import { keyOf } from './extensions.ts';
import type { QiniuRouteTools } from './tools.ts';

const Users = (description: string) =>
  Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { 'x-expect': 'a list of non-empty strings', description, maxItems: 1000 });

const LobbyView = Type.Object({
  on: Type.Boolean(),
  exemptCreator: Type.Boolean({ description: "the room's creator (its first member) enters directly" }),
  exempt: Type.Array(Type.String(), { description: 'userUuids that enter directly' }),
  users: Type.Array(
    Type.Object({ userId: Type.String({ description: 'the userUuid' }), userName: Type.String(), knockedAt: Type.Integer({ description: 'epoch ms' }) }),
    { description: 'who waits, in the order they knocked' },
  ),
});

const CALLS = {
  lobby: { summary: "Lobby (Convene): a running meeting's lobby and who waits in it", params: RoomParams, response: qiniuAnswers(LobbyView, [400, ...SIGNED, 615]) },
  settings: {
    summary: 'Lobby settings (Convene): on or off (off admits those waiting), and who skips it; absent fields keep their value',
    params: RoomParams,
    body: Type.Object({
      on: Type.Optional(QBool('entries wait to be admitted')),
      exemptCreator: Type.Optional(QBool("the room's creator enters directly (default true)")),
      exempt: Type.Optional(Users(`userUuids that enter directly (at most ${MAX_LOBBY_EXEMPT})`)),
    }),
    response: qiniuAnswers(LobbyView, [400, 413, ...SIGNED, 615]),
  },
  admit: {
    summary: 'Lobby admit (Convene): the users named, or (none) everyone waiting as far as the room takes them; each as an entry',
    params: RoomParams,
    body: Type.Object({ users: Type.Optional(Users('userUuids; absent: everyone waiting')) }),
    response: qiniuAnswers(
      Type.Object({ admitted: Type.Array(Type.String(), { description: 'userUuids now in the room' }), waiting: Type.Integer() }),
      [400, 403, 413, ...SIGNED, 612, 615],
    ),
  },
  deny: {
    summary: 'Lobby deny (Convene): a waiting user is refused, with a reason it is told',
    params: RoomParams,
    body: Type.Object({ user: QText(128, { min: 1, description: 'the userUuid' }), reason: Type.Optional(QText(MAX_DENY_REASON)) }),
    response: qiniuAnswers(Type.Object({}), [400, 413, ...SIGNED, 612, 615]),
  },
  back: {
    summary: 'Lobby send back (Convene): a user in the room goes back to the lobby',
    params: RoomParams,
    body: Type.Object({ user: QText(128, { min: 1, description: 'the userUuid' }) }),
    response: qiniuAnswers(Type.Object({}), [400, 413, ...SIGNED, 612, 615]),
  },
};

type RoomReq = FastifyRequest<{ Params: { appId: string; roomName: string } }>;

export function registerLobbyRoutes(app: FastifyInstance, { deps, running: runningOf, body, ok }: QiniuRouteTools): void {
  const { meeting } = deps;
  const running = (req: RoomReq) => runningOf(req, req.params.appId, req.params.roomName);
  /** A lobby command of the server's; an entry's refusals (full, locked, banned) are 403. */
  const run = async (req: RoomReq, reply: FastifyReply, a: App, room: Room, what: LobbyAction): Promise<Decision> => {
    try {
      return await meeting.execute(room.roomId, { type: 'lobby', actor: null, by: keyOf(req), do: what, policy: meeting.policyOf(a) }, afterAnswer(reply), room);
    } catch (err) {
      if (err instanceof RuleError && (err.code === 'roomFull' || err.code === 'locked' || err.code === 'banned')) throw new QiniuError(403, err.message);
      throw err;
    }
  };
  const waitingId = (room: Room, userUuid: string): string => {
    const m = findByUuid(room, userUuid);
    if (!m) throw userNotFound();
    return m.userId;
  };
  const view = (room: Room) => ({
    on: room.lobby?.on === true,
    exemptCreator: room.lobby?.exemptCreator !== false,
    exempt: room.lobby?.exempt ?? [],
    users: waitingViews(room).map((k) => ({ userId: findMember(room, k.userId)!.userUuid, userName: k.userName, knockedAt: k.at })),
  });

  app.get<{ Params: { appId: string; roomName: string } }>('/apps/:appId/rooms/:roomName/lobby', { schema: CALLS.lobby }, async (req, reply) => {
    const { room } = await running(req);
    return ok(req, reply, view(room));
  });

  app.post<{ Params: { appId: string; roomName: string } }>('/apps/:appId/rooms/:roomName/lobby', { schema: CALLS.settings }, async (req, reply) => {
    const b = body(req);
    const what: LobbyAction = { action: 'settings', on: read.bool(b, 'on'), exemptCreator: read.bool(b, 'exemptCreator'), exempt: read.strings(b, 'exempt', MAX_LOBBY_EXEMPT, 128) };
    const { app: a, room } = await running(req);
    const d = await run(req, reply, a, room, what);
    return ok(req, reply, view(d.room));
  });

  app.post<{ Params: { appId: string; roomName: string } }>('/apps/:appId/rooms/:roomName/lobby/admit', { schema: CALLS.admit }, async (req, reply) => {
    const users = read.strings(body(req), 'users', 1000, 128);
    if (users !== undefined && users.length === 0) throw new QiniuError(400, 'invalid args: users must name at least one user (absent: everyone waiting)');
    const { app: a, room } = await running(req);
    const d = await run(req, reply, a, room, { action: 'admit', targets: users ? users.map((u) => waitingId(room, u)) : null });
    const e = d.events.find((x) => x.type === 'lobbyAdmitted');
    const admitted = e?.type === 'lobbyAdmitted' ? e.to.map((id) => findMember(d.room, id)!.userUuid) : [];
    return ok(req, reply, { admitted, waiting: d.room.lobby?.waiting.length ?? 0 });
  });

  app.post<{ Params: { appId: string; roomName: string } }>('/apps/:appId/rooms/:roomName/lobby/deny', { schema: CALLS.deny }, async (req, reply) => {
    const b = body(req);
    const user = read.string(b, 'user', 128) ?? '';
    const reason = read.string(b, 'reason', MAX_DENY_REASON) ?? '';
    const { app: a, room } = await running(req);
    await run(req, reply, a, room, { action: 'deny', target: waitingId(room, user), reason });
    return ok(req, reply, {});
  });

  app.post<{ Params: { appId: string; roomName: string } }>('/apps/:appId/rooms/:roomName/lobby/back', { schema: CALLS.back }, async (req, reply) => {
    const user = read.string(body(req), 'user', 128) ?? '';
    const { app: a, room } = await running(req);
    await run(req, reply, a, room, { action: 'sendBack', target: waitingId(room, user) });
    return ok(req, reply, {});
  });
}
