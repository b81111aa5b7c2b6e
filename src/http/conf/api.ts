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
    app.get(`${prefix}/realtime`, async () =>
      agoraFailure(Code.invalid, 'invalid argument: the realtime channel needs a WebSocket upgrade (GET with Upgrade: websocket)'),
    );
  }
};

function parseJsonBody(body: Buffer, done: (err: Error | null, body?: unknown) => void): void {
  if (body.length === 0) return done(null, {});
  try {
    done(null, sjson.parse(body.toString('utf8'), { protoAction: 'remove', constructorAction: 'remove' }));
  } catch {
    done(new AgoraError(Code.invalid, 'invalid argument: the request body is not valid JSON'));
  }
}
