// Convene's breakout rooms on the server API (docs/qiniu-api.md §4.9), signed and answered like the
// Qiniu calls: the business opens, moves, extends, messages and closes a running meeting's breakout
// rooms. Members are named by userUuid, as everywhere on this API. The steps are the client API's
// commands with the server as their actor (null): the audit log can tell them apart.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { breakoutsView, MAX_BREAKOUT_MESSAGE, MAX_BREAKOUT_MS, MAX_BREAKOUT_NAME, MAX_BREAKOUTS, type BreakoutsAction } from '../../domain/breakouts.ts';
import { findByUuid, findMember, type Room } from '../../domain/room.ts';
import { afterAnswer } from '../answered.ts';
import { QiniuError, userNotFound } from './errors.ts';
import { qiniuAnswers, RoomParams, SIGNED } from './schemas.ts';
import { keyOf } from './extensions.ts';
import type { QiniuRouteTools } from './tools.ts';

const MAX_SECONDS = MAX_BREAKOUT_MS / 1000;
const Round = Type.Object({
  open: Type.Boolean(),
  assignment: Type.Optional(Type.String({ description: 'manual, random or choose' })),
  endsAt: Type.Optional(Type.Union([Type.Integer(), Type.Null()], { description: 'epoch ms; null: until closed' })),
  closing: Type.Optional(Type.Boolean()),
  rooms: Type.Optional(
    Type.Array(
      Type.Object({
        roomId: Type.String({ description: "the breakout's roomId (a meeting of its own)" }),
        name: Type.String(),
        users: Type.Array(Type.String(), { description: 'userUuids placed there' }),
      }),
    ),
  ),
});
const UserUuid = Type.String({ minLength: 1, maxLength: 128, description: 'a userUuid' });

const CALLS = {
  get: { summary: "Breakouts (Convene): the meeting's round of breakout rooms", params: RoomParams, response: qiniuAnswers(Round, [400, ...SIGNED, 612, 615]) },
  open: {
    summary: 'Breakouts (Convene): open breakout rooms, by hand, at random, or members choose',
    params: RoomParams,
    body: Type.Object({
      rooms: Type.Array(Type.String({ minLength: 1, maxLength: MAX_BREAKOUT_NAME }), { minItems: 1, maxItems: MAX_BREAKOUTS, description: 'their names' }),
      assignment: Type.String({ enum: ['manual', 'random', 'choose'] }),
      assign: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 0, maximum: MAX_BREAKOUTS - 1 }), { description: "manual: userUuid → the room's index in rooms" })),
      durationSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SECONDS, description: '0 or absent: until closed' })),
    }),
    response: qiniuAnswers(Round, [400, 413, ...SIGNED, 612, 615]),
  },
  move: {
    summary: 'Breakouts (Convene): move a member to a breakout, or back to the main meeting',
    params: RoomParams,
    body: Type.Object({ userId: UserUuid, roomId: Type.String({ maxLength: 128, description: "a breakout's roomId; empty: the main meeting" }) }),
    response: qiniuAnswers(Round, [400, 413, ...SIGNED, 612, 615]),
  },
  extend: {
    summary: 'Breakouts (Convene): extend them',
    params: RoomParams,
    body: Type.Object({ seconds: Type.Integer({ minimum: 1, maximum: MAX_SECONDS }) }),
    response: qiniuAnswers(Round, [400, 413, ...SIGNED, 612, 615]),
  },
  message: {
    summary: 'Breakouts (Convene): a message to every breakout and the main meeting',
    params: RoomParams,
    body: Type.Object({ text: Type.String({ minLength: 1, maxLength: MAX_BREAKOUT_MESSAGE }) }),
    response: qiniuAnswers(Round, [400, 413, ...SIGNED, 612, 615]),
  },
  close: { summary: 'Breakouts (Convene): close them; everyone returns to the main meeting', params: RoomParams, response: qiniuAnswers(Round, [400, ...SIGNED, 612, 615]) },
};

type Params = { Params: { appId: string; roomName: string } };

/** The round as this API shows it: members by userUuid. */
function roundView(room: Room) {
  const b = room.breakouts;
  if (!b) return { open: false };
  const v = breakoutsView(b);
  const uuid = (userId: string) => findMember(room, userId)?.userUuid ?? userId;
  return { open: true, assignment: v.assignment, endsAt: v.endsAt, closing: v.closing, rooms: v.rooms.map((r) => ({ roomId: r.roomId, name: r.name, users: r.members.map(uuid) })) };
}

export function registerBreakoutRoutes(app: FastifyInstance, o: QiniuRouteTools): void {
  const { meeting } = o.deps;
  const running = async (req: FastifyRequest<Params>): Promise<Room> => (await o.running(req, req.params.appId, req.params.roomName)).room;
  const userIdOf = (room: Room, userUuid: string): string => {
    const m = findByUuid(room, userUuid);
    if (!m?.present) throw userNotFound();
    return m.userId;
  };
  const step = async (req: FastifyRequest<Params>, reply: FastifyReply, what: (room: Room) => BreakoutsAction) => {
    const room = await running(req);
    const d = await meeting.breakouts.step(room.roomId, null, what(room), afterAnswer(reply), keyOf(req));
    return o.ok(req, reply, roundView(d.room));
  };

  app.get<Params>('/apps/:appId/rooms/:roomName/breakouts', { schema: CALLS.get }, async (req, reply) => o.ok(req, reply, roundView(await running(req))));
  app.post<Params>('/apps/:appId/rooms/:roomName/breakouts', { schema: CALLS.open }, async (req, reply) => {
    const b = o.body(req) as { rooms: string[]; assignment: 'manual' | 'random' | 'choose'; assign?: Record<string, number>; durationSeconds?: number };
    const room = await running(req);
    const manual: Record<string, number> = {};
    for (const [userUuid, i] of Object.entries(b.assign ?? {})) manual[userIdOf(room, userUuid)] = i;
    if (b.assignment !== 'manual' && b.assign) throw new QiniuError(400, 'invalid args: assign is for the manual assignment');
    const durationMs = b.durationSeconds ? b.durationSeconds * 1000 : null;
    const d = await meeting.breakouts.open(room.roomId, null, { names: b.rooms, assignment: b.assignment, manual, durationMs }, afterAnswer(reply), keyOf(req));
    return o.ok(req, reply, roundView(d.room));
  });
  app.post<Params>('/apps/:appId/rooms/:roomName/breakouts/move', { schema: CALLS.move }, async (req, reply) => {
    const b = o.body(req) as { userId: string; roomId: string };
    return step(req, reply, (room) => ({ action: 'move', target: userIdOf(room, b.userId), to: b.roomId === room.roomId ? '' : b.roomId }));
  });
  app.post<Params>('/apps/:appId/rooms/:roomName/breakouts/extend', { schema: CALLS.extend }, async (req, reply) => {
    const b = o.body(req) as { seconds: number };
    return step(req, reply, () => ({ action: 'extend', byMs: b.seconds * 1000 }));
  });
  app.post<Params>('/apps/:appId/rooms/:roomName/breakouts/message', { schema: CALLS.message }, async (req, reply) => {
    const b = o.body(req) as { text: string };
    return step(req, reply, () => ({ action: 'message', text: b.text }));
  });
  app.delete<Params>('/apps/:appId/rooms/:roomName/breakouts', { schema: CALLS.close }, async (req, reply) => step(req, reply, () => ({ action: 'close' })));
}
