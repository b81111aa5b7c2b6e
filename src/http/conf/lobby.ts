// Convene's lobby on the client API (domain/lobby.ts), beside the Agora endpoints and in their
// envelope: a moderator (the host) turns it on or off, sets who skips it, admits some or all,
// denies one with a reason and sends a member back; a waiting member reads its state and leaves.
// The entry answer of a knock is code 1012 (routes.ts, E1); its userToken serves the calls here
// and opens the member's lobby socket.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { MAX_DENY_REASON, MAX_LOBBY_EXEMPT, moderates, waitingViews, type LobbyAction } from '../../domain/lobby.ts';
import type { Decision } from '../../domain/rules.ts';
import { ok } from '../server.ts';
import { Flag } from '../schema.ts';
import { agoraAnswers, Done } from './answers.ts';
import { AgoraError, Code } from './codes.ts';
import { lobbyStateOf } from './lobby-wire.ts';
import { RoomParams } from './params.ts';
import type { ExtensionHelpers } from './extension.ts';

const Id = Type.String({ minLength: 1, maxLength: 128 });
const Knock = Type.Object({
  userId: Type.String(),
  userName: Type.String(),
  avatar: Type.String(),
  at: Type.Integer({ description: 'when it knocked, epoch ms' }),
});
const LobbyState = Type.Object({
  on: Flag([0, 1]),
  state: Type.String({ enum: ['in', 'waiting', 'denied', 'out'], description: "the caller's: in the room, waiting, denied (see reason), or neither" }),
  reason: Type.String({ description: "a denial's reason; '' otherwise" }),
  at: Type.Integer({ description: 'when the caller knocked, epoch ms; 0 when it does not wait' }),
  exemptCreator: Flag([0, 1]),
  exempt: Type.Array(Type.String(), { description: 'userUuids that skip the lobby (moderators only; [] for others)' }),
  list: Type.Array(Knock, { description: 'who waits, in the order they knocked (moderators only; [] for others)' }),
});
const Admitted = Type.Object({
  admitted: Type.Array(Type.String(), { description: 'the userIds admitted, now members' }),
  waiting: Type.Integer({ description: 'how many still wait (admitting all stops where the room is full)' }),
});

const S = {
  state: { summary: "Convene: the lobby (moderators: who waits; a waiting member: its own state)", params: RoomParams, response: agoraAnswers(LobbyState) },
  settings: {
    summary: 'Convene: turn the lobby on or off, and who skips it (host); turning it off admits those waiting',
    params: RoomParams,
    body: Type.Object({
      on: Type.Optional(Flag([0, 1])),
      exemptCreator: Type.Optional(Flag([0, 1])),
      exempt: Type.Optional(Type.Array(Id, { maxItems: MAX_LOBBY_EXEMPT, description: 'userUuids that enter directly' })),
    }),
    response: agoraAnswers(Done),
  },
  admit: {
    summary: 'Convene: admit members from the lobby (host): those named, or everyone waiting as far as the room takes them',
    params: RoomParams,
    body: Type.Object({ userIds: Type.Optional(Type.Array(Id, { minItems: 1, maxItems: 1000, description: 'absent: everyone waiting' })) }),
    response: agoraAnswers(Admitted),
  },
  deny: {
    summary: 'Convene: deny a waiting member (host), with a reason it is told',
    params: RoomParams,
    body: Type.Object({ userId: Id, reason: Type.Optional(Type.String({ maxLength: MAX_DENY_REASON })) }),
    response: agoraAnswers(Done),
  },
  back: {
    summary: 'Convene: send a member back to the lobby (host)',
    params: RoomParams,
    body: Type.Object({ userId: Id }),
    response: agoraAnswers(Done),
  },
  leave: { summary: 'Convene: leave the lobby (a waiting member)', params: RoomParams, response: agoraAnswers(Done) },
};

export function lobbyRoutes(plain: FastifyInstance, h: ExtensionHelpers): void {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const run = (req: FastifyRequest, reply: FastifyReply, what: LobbyAction) =>
    h.execute(req, reply, { type: 'lobby', actor: h.session(req).member.userId, do: what, policy: h.policy(req) });
  /** The calls a waiting or denied member may make too: its session is checked, not its presence. */
  const waiting = { auth: 'waiting' as const };

  app.get('/:roomId/lobby', { schema: S.state, config: waiting }, async (req) => {
    const { room, member } = h.session(req);
    if (room.ended) throw new AgoraError(Code.session, 'the meeting has ended');
    const lobby = room.lobby;
    const mod = moderates(member);
    return ok({
      on: lobby?.on ? 1 : 0,
      state: lobbyStateOf(member),
      reason: member.lobby?.denied ?? '',
      at: member.lobby && member.lobby.denied === undefined ? member.lobby.at : 0,
      exemptCreator: lobby?.exemptCreator === false ? 0 : 1,
      exempt: mod ? (lobby?.exempt ?? []) : [],
      list: mod ? waitingViews(room) : [],
    });
  });
  app.post('/:roomId/lobby', { schema: S.settings }, async (req, reply) => {
    const b = req.body;
    await run(req, reply, { action: 'settings', on: flag(b.on), exemptCreator: flag(b.exemptCreator), exempt: b.exempt });
    return ok(true);
  });
  app.post('/:roomId/lobby/admit', { schema: S.admit }, async (req, reply) => {
    const d = await run(req, reply, { action: 'admit', targets: req.body.userIds ?? null });
    return ok(admittedBy(d));
  });
  app.post('/:roomId/lobby/deny', { schema: S.deny }, async (req, reply) => {
    await run(req, reply, { action: 'deny', target: req.body.userId, reason: req.body.reason ?? '' });
    return ok(true);
  });
  app.post('/:roomId/lobby/back', { schema: S.back }, async (req, reply) => {
    await run(req, reply, { action: 'sendBack', target: req.body.userId });
    return ok(true);
  });
  app.delete('/:roomId/lobby', { schema: S.leave, config: waiting }, async (req, reply) => {
    const { room, member } = h.session(req);
    if (room.ended) throw new AgoraError(Code.session, 'the meeting has ended');
    if (lobbyStateOf(member) !== 'waiting') throw new AgoraError(Code.notFound, 'you are not waiting in the lobby');
    await h.execute(req, reply, { type: 'leave', actor: member.userId });
    return ok(true);
  });
}

const flag = (v: number | undefined) => (v === undefined ? undefined : v === 1);

/** Who an admission let in, and how many still wait. */
export function admittedBy(d: Decision): { admitted: string[]; waiting: number } {
  const e = d.events.find((x) => x.type === 'lobbyAdmitted');
  return { admitted: e?.type === 'lobbyAdmitted' ? e.to : [], waiting: d.room.lobby?.waiting.length ?? 0 };
}
