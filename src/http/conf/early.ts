// Authentication before the body: the app's credentials and the member token are headers, in
// before any body byte, so a room call with a body is checked as soon as its head is in: a caller
// without valid credentials is refused (1001/401/404, the answers of routes.ts's identify) and its
// connection closed, without waiting for a body that may be arriving at one byte a second.
// Not for an entry: it may carry its credentials (a RoomToken) in the body instead.
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import type { HttpDeps } from '../server.ts';
import { announcesBody } from '../body.ts';
import { repeatedParameters } from '../query.ts';
import { AgoraError, Code } from './codes.ts';
import { checkAppCredentials } from './credentials.ts';

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

async function check(req: FastifyRequest, deps: Pick<HttpDeps, 'apps' | 'meeting'>, auth: 'app' | 'member' | 'exit'): Promise<void> {
  const params = req.params as { appId?: string; roomId?: string };
  const app = params.appId ? await deps.apps.get(params.appId) : null;
  if (!app) throw new AgoraError(Code.notFound, `unknown app ${JSON.stringify(params.appId ?? '')}`);
  checkAppCredentials(req.headers, app);
  if (auth === 'app') return;
  const header = req.headers.token;
  const token = (Array.isArray(header) ? header[0] : header) ?? (req.query as { token?: string } | undefined)?.token;
  if (typeof token !== 'string' || token === '') {
    throw new AgoraError(Code.session, 'missing token: send the userToken from entry in the "token" header');
  }
  await deps.meeting.authenticate(app.appId, params.roomId ?? '', token, auth === 'exit');
}
