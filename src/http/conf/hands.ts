// Convene's hand queue on the client API (domain/hands.ts), beside the Agora endpoints and in their
// envelope: raise and lower one's own hand; a host lowers one or all, answers the next, and shows
// the queue to everyone or to the hosts only. The shipped apps' application to speak (E7) raises a
// hand too; these calls are for clients that know the queue.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { handsSeenBy, type HandsAction } from '../../domain/hands.ts';
import { findMember } from '../../domain/room.ts';
import { ok } from '../server.ts';
import { Flag } from '../schema.ts';
import { agoraAnswers, Done } from './answers.ts';
import { RoomParams, UserParams } from './params.ts';
import type { ExtensionHelpers } from './extension.ts';

const Hand = Type.Object({ userId: Type.String(), userName: Type.String(), at: Type.Integer({ description: 'when it was raised, epoch ms' }) });
const Hands = Type.Object({
  public: Flag([0, 1]),
  list: Type.Array(Hand, { description: 'in the order they were raised: all of them for a host or a public queue, else only your own' }),
});

const S = {
  list: { summary: 'Convene: the hand queue (all of it for a host or when public, else your own hand)', params: RoomParams, response: agoraAnswers(Hands) },
  raise: { summary: 'Convene: raise your hand (at the end of the queue; no change when it is up)', params: RoomParams, response: agoraAnswers(Done) },
  lower: { summary: "Convene: lower a hand: your own, or (host) another member's", params: UserParams, response: agoraAnswers(Done) },
  lowerAll: { summary: 'Convene: lower every hand (host)', params: RoomParams, response: agoraAnswers(Done) },
  next: {
    summary: 'Convene: answer the first raised hand (host): it is lowered and its member invited to speak; 404 when no hand is up',
    params: RoomParams,
    response: agoraAnswers(Type.Object({ userId: Type.String(), userName: Type.String() }, { description: 'the member answered' })),
  },
  visibility: {
    summary: 'Convene: show the hand queue to everyone (1) or to the hosts and the members in it (0), host',
    params: RoomParams,
    body: Type.Object({ public: Flag([0, 1]) }),
    response: agoraAnswers(Done),
  },
};

export function handRoutes(plain: FastifyInstance, h: ExtensionHelpers): void {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const execute = (req: FastifyRequest, reply: FastifyReply, what: HandsAction) => h.execute(req, reply, { type: 'hands', actor: h.session(req).member.userId, do: what });
  const hands = async (req: FastifyRequest, reply: FastifyReply, what: HandsAction) => (await execute(req, reply, what), ok(true));

  app.get('/:roomId/hands', { schema: S.list }, async (req) => {
    const { room, member } = h.session(req);
    const seen = handsSeenBy(room, member.userId);
    return ok({ public: seen.public ? 1 : 0, list: seen.list });
  });
  app.post('/:roomId/hands', { schema: S.raise }, async (req, reply) => {
    await h.limited(req, reply);
    return hands(req, reply, { action: 'raise' });
  });
  app.delete('/:roomId/hands/:userId', { schema: S.lower }, async (req, reply) => hands(req, reply, { action: 'lower', target: req.params.userId }));
  app.delete('/:roomId/hands', { schema: S.lowerAll }, async (req, reply) => hands(req, reply, { action: 'lowerAll' }));
  app.post('/:roomId/hands/next', { schema: S.next }, async (req, reply) => {
    const d = await execute(req, reply, { action: 'answerNext' });
    // The member it answered is the one it invited to speak.
    const invited = d.events.find((e) => e.type === 'invited');
    const m = invited?.type === 'invited' ? findMember(d.room, invited.to) : undefined;
    return ok({ userId: m?.userId ?? '', userName: m?.userName ?? '' });
  });
  app.post('/:roomId/hands/visibility', { schema: S.visibility }, async (req, reply) => hands(req, reply, { action: 'visibility', public: req.body.public === 1 }));
}
