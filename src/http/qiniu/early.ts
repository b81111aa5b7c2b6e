// Authentication before the body, as far as Qiniu signing allows: the signature covers the body,
// so it is checked once the body is in (routes.ts), but a request whose Authorization could never
// verify (missing, another scheme, an unknown access key) is refused as soon as its head is in,
// without waiting for a body that may be arriving at one byte a second.
import type { onRequestHookHandler } from 'fastify';
import type { HttpDeps } from '../server.ts';
import { announcesBody } from '../body.ts';
import { repeatedParameters } from '../query.ts';
import { badToken } from './errors.ts';

export function qiniuEarlyAuth(deps: Pick<HttpDeps, 'apps'>): onRequestHookHandler {
  return (req, reply, done) => {
    // Only requests with a body wait for anything; the rest are checked in full at once after.
    // A repeated query parameter is answered first (400), as without this check.
    if (req.is404 || req.routeOptions.config.qiniuUnsigned || !announcesBody(req.raw) || repeatedParameters(req.query)) return done();
    // Refused, the rest of the body is not worth reading: the connection closes after the answer.
    const refuse = (reason: string) => {
      reply.raw.shouldKeepAlive = false;
      done(badToken(reason));
    };
    const header = req.headers.authorization;
    // The same texts as the full check (tokens/qiniu.ts verifyQiniu).
    if (!header) return refuse('missing Authorization header: sign the request as "Qiniu <AccessKey>:<sign>"');
    if (/^qbox\s/i.test(header.trim())) return refuse('QBox tokens are not accepted here: sign with the Qiniu scheme');
    const m = /^qiniu ([^:\s]+):\S+$/i.exec(header.trim());
    if (!m) return refuse('unsupported Authorization: expected "Qiniu <AccessKey>:<sign>"');
    deps.apps.accessKey(m[1]!).then((key) => (key ? done() : refuse('unknown access key')), done);
  };
}
