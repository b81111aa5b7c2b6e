// The Agora Meeting v1 API as one encapsulated Fastify plugin per top-level prefix: its own body
// parsers, its own error and not-found handlers, so that every answer under it, routed or not, is
// in the `{code, msg, data}` envelope (spec §2.3).
import type { FastifyPluginAsync } from 'fastify';
import sjson from 'secure-json-parse';
import type { HttpDeps } from '../server.ts';
import { repeatedMessage, repeatedParameters } from '../query.ts';
import { AgoraError, Code } from './codes.ts';
import { agoraFailure, sendAgoraError, sendAgoraNotFound } from './errors.ts';
import { confAppRoutes, confRoomRoutes } from './routes.ts';
import { agoraEarlyAuth } from './early.ts';
import { agoraAnswers } from './answers.ts';
import { Type } from 'typebox';

export interface AgoraApiOptions {
  deps: HttpDeps;
  /** Prefixes (below this plugin's own) of the room endpoints, e.g. `/:appId/v1/room`. */
  rooms: string[];
  /** Prefixes of the app-level endpoints (§4.3). */
  apps: string[];
}

export const agoraApi: FastifyPluginAsync<AgoraApiOptions> = async (app, { deps, rooms, apps }) => {
  // Clients send `Content-Type: application/json` with no body (spec §2.2): that is `{}`. Bodies
  // are JSON whatever they are labelled (fetch labels string bodies text/plain).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body: Buffer, done) => parseJsonBody(body, done));

  // One hook for both (each hook costs on the hot room-info path).
  app.addHook('preValidation', (req, _reply, done) => {
    const repeated = repeatedParameters(req.query);
    if (repeated) return done(new AgoraError(Code.invalid, `invalid argument: ${repeatedMessage(repeated)}`));
    if (req.body === undefined || req.body === null) req.body = {};
    done();
  });
  app.setErrorHandler((err, req, reply) => sendAgoraError(err as Parameters<typeof sendAgoraError>[0], req, reply));
  app.setNotFoundHandler((req, reply) => sendAgoraNotFound(req, reply));

  for (const prefix of rooms) {
    await app.register(
      async (room) => {
        // Credentials are checked as soon as a request's head is in, before its body (early.ts).
        room.addHook('onRequest', agoraEarlyAuth(deps));
        await room.register(confRoomRoutes, { deps });
      },
      { prefix },
    );
  }
  for (const prefix of apps) {
    await app.register(confAppRoutes, { prefix });
    // The realtime channel lives here too, for WebSocket upgrades only: say so to a plain request.
    app.get(`${prefix}/realtime`, { schema: REALTIME_SCHEMA }, async () =>
      agoraFailure(Code.invalid, 'invalid argument: the realtime channel needs a WebSocket upgrade (GET with Upgrade: websocket)'),
    );
  }
};

/** Documents the socket's URL; a plain GET (this route) is always refused, whatever the query. */
const REALTIME_SCHEMA = {
  summary: 'the realtime channel: a WebSocket upgrade only (docs/realtime.md)',
  description:
    'Connect with `Upgrade: websocket`; every committed change of the room arrives as one JSON text frame. ' +
    'A plain GET (without the upgrade) is answered code 400.',
  querystring: Type.Object({
    token: Type.Optional(Type.String({ description: 'the userToken from entry, or a Qiniu RoomToken' })),
    since: Type.Optional(Type.String({ description: 'the last seq received: resume from there' })),
  }),
  response: agoraAnswers(null),
};

function parseJsonBody(body: Buffer, done: (err: Error | null, body?: unknown) => void): void {
  if (body.length === 0) return done(null, {});
  try {
    done(null, sjson.parse(body.toString('utf8'), { protoAction: 'remove', constructorAction: 'remove' }));
  } catch {
    done(new AgoraError(Code.invalid, 'invalid argument: the request body is not valid JSON'));
  }
}
