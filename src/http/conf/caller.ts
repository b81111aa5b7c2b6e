// Who is calling a client-API room or app endpoint: the app (its Basic credentials, or the iOS
// app's RTM token) and, for a member's call, its session. One definition for the route's hook
// (routes.ts), the check before a body arrives (early.ts) and room info's front (room-info.ts).
import type { IncomingHttpHeaders } from 'node:http';
import type { App } from '../../store/store.ts';
import type { Session } from '../../service/meeting.ts';
import type { HttpDeps } from '../server.ts';
import { AgoraError, Code } from './codes.ts';
import { checkAppCredentials } from './credentials.ts';

/** How a route identifies its caller: the app only (Basic credentials), or also a member token. */
export type Auth = 'app' | 'entry' | 'member' | 'exit' | 'waiting';

export interface Caller {
  app: App;
  session: Session | null;
}

export interface CallerRequest {
  appId?: string;
  roomId?: string;
  headers: IncomingHttpHeaders;
  /** The `token` query parameter, used when no `token` header is sent. */
  queryToken?: unknown;
  /** An entry that presents a RoomToken instead of the Basic credentials (its handler verifies it). */
  roomToken?: boolean;
}

/** The caller, or an AgoraError (1001/1002/404) or the session's RuleError saying why not. */
export async function callerOf(deps: Pick<HttpDeps, 'apps' | 'meeting'>, auth: Auth, r: CallerRequest): Promise<Caller> {
  const app = r.appId ? await deps.apps.get(r.appId) : null;
  if (!app) throw new AgoraError(Code.notFound, `unknown app ${JSON.stringify(r.appId ?? '')}`);
  if (!r.roomToken) checkAppCredentials(r.headers, app);
  if (auth === 'app' || auth === 'entry') return { app, session: null };
  const header = r.headers.token;
  const token = (Array.isArray(header) ? header[0] : header) ?? r.queryToken;
  if (typeof token !== 'string' || token === '') {
    throw new AgoraError(Code.session, 'missing token: send the userToken from entry in the "token" header');
  }
  const session = await deps.meeting.authenticate(app.appId, r.roomId ?? '', token, auth === 'exit' || auth === 'waiting');
  return { app, session };
}
