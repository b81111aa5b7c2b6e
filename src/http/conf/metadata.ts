// Convene's metadata on the client API (domain/metadata.ts), beside the Agora endpoints and in their
// envelope: a host sets the room's metadata (and whether members may set their own) and any
// member's; a member sets its own where the room allows. Room info, member pages and snapshots carry
// the values; cmd 130 tells each change.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { MAX_METADATA_BYTES } from '../../domain/metadata.ts';
import { ok } from '../server.ts';
import { Flag } from '../schema.ts';
import { agoraAnswers, Done } from './answers.ts';
import { RoomParams, UserParams } from './params.ts';
import type { ExtensionHelpers } from './extension.ts';

/** The schema bounds characters; the rules bound the bytes of UTF-8 (MAX_METADATA_BYTES). */
export const MetadataText = Type.String({ maxLength: MAX_METADATA_BYTES, description: `at most ${MAX_METADATA_BYTES} bytes of UTF-8; "" clears it` });

const S = {
  room: {
    summary: "Convene: set the room's metadata and whether members may set their own (host)",
    params: RoomParams,
    body: Type.Object({ metadata: Type.Optional(MetadataText), selfMetadata: Type.Optional(Flag([0, 1])) }, { minProperties: 1 }),
    response: agoraAnswers(Done),
  },
  member: {
    summary: "Convene: set a member's metadata (host; a member its own where the room allows)",
    params: UserParams,
    body: Type.Object({ metadata: MetadataText }),
    response: agoraAnswers(Done),
  },
};

export function metadataRoutes(plain: FastifyInstance, h: ExtensionHelpers): void {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const actor = (req: FastifyRequest) => h.session(req).member.userId;

  app.post('/:roomId/metadata', { schema: S.room }, async (req, reply) => {
    await h.limited(req, reply);
    const { metadata, selfMetadata } = req.body;
    await h.execute(req, reply, { type: 'metadata', actor: actor(req), target: null, metadata, selfMetadata: selfMetadata === undefined ? undefined : selfMetadata === 1 });
    return ok(true);
  });
  app.post('/:roomId/user/:userId/metadata', { schema: S.member }, async (req, reply) => {
    await h.limited(req, reply);
    await h.execute(req, reply, { type: 'metadata', actor: actor(req), target: req.params.userId, metadata: req.body.metadata });
    return ok(true);
  });
}
