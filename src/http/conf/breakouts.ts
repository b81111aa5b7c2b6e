// Convene's breakout rooms on the client API (domain/breakouts.ts), beside the Agora endpoints and
// in their envelope: a host opens a round (by hand, at random, or members choose), moves members,
// extends it, messages every breakout and closes it; a member chooses its room where allowed. The
// main meeting's token works in its breakouts: these calls take either room's id.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { breakoutsView, MAX_BREAKOUT_MESSAGE, MAX_BREAKOUT_MS, MAX_BREAKOUT_NAME, MAX_BREAKOUTS, type BreakoutsAction } from '../../domain/breakouts.ts';
import type { Decision } from '../../domain/rules.ts';
import type { Delivery, MeetingService, Session } from '../../service/meeting.ts';
import { ok } from '../server.ts';
import { breakoutsData } from './views.ts';
import { agoraAnswers, Done } from './answers.ts';
import { RoomParams } from './params.ts';

const Round = Type.Object(
  {
    open: Type.Integer({ description: '1 while a round is open (the rest is absent when 0)' }),
    round: Type.Optional(Type.String()),
    assignment: Type.Optional(Type.String({ description: 'manual, random or choose' })),
    endsAt: Type.Optional(Type.Integer({ description: 'when they close by themselves, epoch ms; 0: when a host closes them' })),
    closing: Type.Optional(Type.Integer({ description: '1 once a close was asked (members are on their way back)' })),
    rooms: Type.Optional(Type.Array(Type.Object({ roomId: Type.String(), name: Type.String(), members: Type.Array(Type.String(), { description: 'userIds placed there' }) }))),
  },
  { description: "the main meeting's round of breakout rooms" },
);

const MAX_SECONDS = MAX_BREAKOUT_MS / 1000;
const OpenBody = Type.Object({
  rooms: Type.Array(Type.String({ minLength: 1, maxLength: MAX_BREAKOUT_NAME }), { minItems: 1, maxItems: MAX_BREAKOUTS, description: 'the breakouts’ names' }),
  assignment: Type.Union([Type.Literal('manual'), Type.Literal('random'), Type.Literal('choose')]),
  assign: Type.Optional(Type.Record(Type.String({ maxLength: 128 }), Type.Integer({ minimum: 0, maximum: MAX_BREAKOUTS - 1 }), { description: "manual: userId → the room's index in `rooms`" })),
  durationSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SECONDS, description: '0 or absent: until a host closes them' })),
});

const S = {
  get: { summary: "Convene: the main meeting's round of breakout rooms", params: RoomParams, response: agoraAnswers(Round) },
  open: { summary: 'Convene: open breakout rooms (host): by hand, at random or members choose, with a duration', params: RoomParams, body: OpenBody, response: agoraAnswers(Round) },
  move: {
    summary: 'Convene: move a member to a breakout or back to the main meeting (host; a member itself when members choose)',
    params: RoomParams,
    body: Type.Object({ userId: Type.String({ minLength: 1, maxLength: 128 }), roomId: Type.String({ maxLength: 128, description: "a breakout's roomId, or the main meeting's (or empty) for back" }) }),
    response: agoraAnswers(Done),
  },
  extend: { summary: 'Convene: extend the breakout rooms (host)', params: RoomParams, body: Type.Object({ seconds: Type.Integer({ minimum: 1, maximum: MAX_SECONDS }) }), response: agoraAnswers(Round) },
  message: {
    summary: 'Convene: a message to every breakout room and the main meeting (host)',
    params: RoomParams,
    body: Type.Object({ text: Type.String({ minLength: 1, maxLength: MAX_BREAKOUT_MESSAGE }) }),
    response: agoraAnswers(Done),
  },
  close: { summary: 'Convene: close every breakout room (host): everyone returns to the main meeting', params: RoomParams, response: agoraAnswers(Done) },
};

export interface BreakoutRouteHelpers {
  session(req: FastifyRequest): Session;
  meeting: MeetingService;
  /** Holds a command's messages until its answer is written. */
  delivery(reply: FastifyReply): Delivery;
}

export function breakoutRoutes(plain: FastifyInstance, h: BreakoutRouteHelpers): void {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  /** The main meeting of the caller's room (itself, or the one a breakout belongs to). */
  const mainOf = (req: FastifyRequest) => {
    const { room } = h.session(req);
    return room.breakoutOf?.mainRoomId ?? room.roomId;
  };
  const step = (req: FastifyRequest, reply: FastifyReply, what: BreakoutsAction): Promise<Decision> =>
    h.meeting.breakouts.step(mainOf(req), h.session(req).member.userId, what, h.delivery(reply));
  const round = (d: Decision) => ok(breakoutsData(d.room.breakouts ? breakoutsView(d.room.breakouts) : null));

  app.get('/:roomId/breakouts', { schema: S.get }, async (req) => {
    const { room } = h.session(req);
    const main = room.breakoutOf ? await h.meeting.room(room.breakoutOf.mainRoomId) : room;
    return ok(breakoutsData(main?.breakouts ? breakoutsView(main.breakouts) : null));
  });
  app.post('/:roomId/breakouts', { schema: S.open }, async (req, reply) => {
    const b = req.body;
    const durationMs = b.durationSeconds ? b.durationSeconds * 1000 : null;
    const d = await h.meeting.breakouts.open(mainOf(req), h.session(req).member.userId, { names: b.rooms, assignment: b.assignment, manual: b.assign, durationMs }, h.delivery(reply));
    return round(d);
  });
  app.post('/:roomId/breakouts/move', { schema: S.move }, async (req, reply) => {
    const main = mainOf(req);
    await step(req, reply, { action: 'move', target: req.body.userId, to: req.body.roomId === main ? '' : req.body.roomId });
    return ok(true);
  });
  app.post('/:roomId/breakouts/extend', { schema: S.extend }, async (req, reply) => round(await step(req, reply, { action: 'extend', byMs: req.body.seconds * 1000 })));
  app.post('/:roomId/breakouts/message', { schema: S.message }, async (req, reply) => (await step(req, reply, { action: 'message', text: req.body.text }), ok(true)));
  app.delete('/:roomId/breakouts', { schema: S.close }, async (req, reply) => (await step(req, reply, { action: 'close' }), ok(true)));
}
