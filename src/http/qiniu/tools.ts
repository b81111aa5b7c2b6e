// What the server API's route modules (webhooks, lobby, breakouts, metadata and audit, console) are
// given by the Qiniu plugin (routes.ts), which owns the signature check, the app lookup and the
// answer: one set, so that each module finds an app or a running meeting the same way.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Room } from '../../domain/room.ts';
import type { App } from '../../store/store.ts';
import type { HttpDeps } from '../server.ts';
import type { Body } from './fields.ts';

export interface QiniuRouteTools {
  deps: HttpDeps;
  /** The app if the signing key may use it, else 612. */
  ownedApp: (req: FastifyRequest, appId: string) => Promise<App>;
  /** The app and its running meeting of `roomName` (present members or not), else 612 / 615. */
  running: (req: FastifyRequest, appId: string, roomName: string) => Promise<{ app: App; room: Room }>;
  /** The body, parsed and checked against the route's schema (the signature is verified by now). */
  body: (req: FastifyRequest) => Body;
  ok: (req: FastifyRequest, reply: FastifyReply, data: unknown) => FastifyReply;
}
