// Authentication before the body: the app's credentials and the member token are headers, in
// before any body byte, so a room call with a body is checked as soon as its head is in: a caller
// without valid credentials is refused (1001/401/404, the answers of routes.ts's identify) and its
// connection closed, without waiting for a body that may be arriving at one byte a second.
// Not for an entry: it may carry its credentials (a RoomToken) in the body instead.
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import type { HttpDeps } from '../server.ts';
import { announcesBody } from '../body.ts';
import { repeatedParameters } from '../query.ts';
import { callerOf, type Auth } from './caller.ts';

export function agoraEarlyAuth(deps: Pick<HttpDeps, 'apps' | 'meeting'>): onRequestHookHandler {
  return (req, reply, done) => {
    const auth = req.routeOptions.config.auth ?? 'member';
    // Body-less calls are checked in full right after (nothing to wait for); a repeated query
    // parameter is answered first (400), as without this check.
    if (auth === 'entry' || req.is404 || !announcesBody(req.raw) || repeatedParameters(req.query)) return done();
    check(req, deps, auth).then(
      () => done(),
      (err) => {
        // The rest of the body is not worth reading: the connection closes after the answer.
        reply.raw.shouldKeepAlive = false;
        reply.header('connection', 'close');
        done(err);
      },
    );
  };
}

async function check(req: FastifyRequest, deps: Pick<HttpDeps, 'apps' | 'meeting'>, auth: Exclude<Auth, 'entry'>): Promise<void> {
  const params = req.params as { appId?: string; roomId?: string };
  await callerOf(deps, auth, { ...params, headers: req.headers, queryToken: (req.query as { token?: string } | undefined)?.token });
}
