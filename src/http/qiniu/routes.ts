// The Qiniu RTC v3 server API (spec qiniu-rtc-v3 §3): app management and room management behind
// Qiniu request signing. Rooms are named by the business's own keys (§7): RoomName = roomUuid,
// UserID = userUuid; kicks, closes and messages are the same domain commands as the client API.
import { MAX_BAN_SECONDS } from '../../domain/commands.ts';
import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { presentMembers, type Room } from '../../domain/room.ts';
import type { App } from '../../store/store.ts';
import { DEFAULT_MERGE_PUBLISH_RTMP, newApp, hex32 } from '../../service/apps.ts';
import { verifyQiniu } from '../../tokens/qiniu.ts';
import { afterAnswer } from '../answered.ts';
import { overLimit, type Rate } from '../rates.ts';
import { repeatedMessage, repeatedParameters } from '../query.ts';
import { authorityOf, originForm } from '../scopes.ts';
import { enterWithRoomToken } from '../../service/roomtoken.ts';
import type { HttpDeps } from '../server.ts';
import { parseBody, read, type Body } from './fields.ts';
import { checked, compileChecks } from './validate.ts';
import { CALLS } from './schemas.ts';
import { registerWebhookRoutes } from './webhooks.ts';
import { registerConsoleRoutes } from './console.ts';
import { registerNodeRoutes } from './nodes.ts';
import { keyOf, registerExtensionRoutes } from './extensions.ts';
import type { QiniuRouteTools } from './tools.ts';
import { registerLobbyRoutes } from './lobby.ts';
import { registerBreakoutRoutes } from './breakouts.ts';
import { WebhookConfigError, withEventCallback } from '../../webhooks/endpoints.ts';
import {
  QiniuError,
  asQiniuError,
  appNotFound,
  badToken,
  hubNotMatch,
  reqIdOf,
  roomNotActive,
  sendQiniu,
  sendQiniuError,
  userNotFound,
} from './errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    accessKey?: string;
  }
  interface FastifyContextConfig {
    qiniuUnsigned?: boolean;
  }
}

/** Bodies over this get 413 (§1). */
export const QINIU_BODY_LIMIT = 1024 * 1024;

export const qiniuRoutes: FastifyPluginAsync<{ deps: HttpDeps }> = async (app, { deps }) => {
  const { meeting, apps } = deps;
  // The signature covers the raw bytes: keep them, parse only after verification.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: QINIU_BODY_LIMIT }, (_req, body, done) => done(null, body));
  // For the same reason Fastify validates nothing here (its validation runs before any preHandler):
  // the route schemas are checked by the handlers, once the request is signed (validate.ts).
  app.setValidatorCompiler(() => () => true);
  app.addHook('onRoute', compileChecks);
  // Every answer under /v3, routed or not, is a Qiniu answer.
  app.setErrorHandler((err, req, reply) => sendQiniuError(req, reply, asQiniuError(err as Parameters<typeof asQiniuError>[0], req)));
  app.setNotFoundHandler((req, reply) => sendQiniuError(req, reply, new QiniuError(404, 'not found')));
  // Answers Fastify writes itself (a CORS preflight) carry the request id too.
  app.addHook('onSend', (req, reply, payload, done) => {
    reply.header('x-reqid', reqIdOf(req));
    done(null, payload);
  });
  app.addHook('onRequest', (req, _reply, done) => {
    const repeated = repeatedParameters(req.query);
    done(repeated ? new QiniuError(400, `invalid args: ${repeatedMessage(repeated)}`) : undefined);
  });

  const secretOf = async (ak: string) => (await apps.accessKey(ak))?.secretKey ?? null;

  /** Refuse the call with 429 when it is over a rate limit (see http/rates.ts). */
  const limited = async (reply: FastifyReply, rate: Rate, key: string) => {
    const r = await overLimit(deps, reply, rate, key);
    if (r) throw new QiniuError(429, 'too many requests', r.message, r.retryAfter);
  };

  app.addHook('preHandler', async (req, reply) => {
    // An unknown route is a 404 for anyone (spec §1.1), signed or not.
    if (req.is404) return;
    // Counted before the signature is checked: a flood of forged calls is limited too.
    await limited(reply, 'qiniuPerIp', req.ip);
    if (req.routeOptions.config.qiniuUnsigned) return;
    const qiniuHeaders: [string, string][] = [];
    const raw = req.raw.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i]!.toLowerCase().startsWith('x-qiniu-')) qiniuHeaders.push([raw[i]!, raw[i + 1]!]);
    }
    // An absolute-form target (`GET http://host/path`) names its host itself (RFC 9112 §3.2.2);
    // the SDKs sign the path and the URL's host.
    const target = req.raw.url ?? '/';
    const result = await verifyQiniu(
      req.headers.authorization,
      {
        method: req.raw.method ?? 'GET',
        target: originForm(target),
        host: authorityOf(target) ?? req.headers.host ?? '',
        contentType: req.headers['content-type'],
        qiniuHeaders,
        body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
      },
      { secretOf, now: Date.now(), maxSkewMs: deps.config.qiniu.maxDateSkew * 1000 },
    );
    if (!result.ok) {
      req.log.info({ reason: result.reason }, 'qiniu auth refused');
      throw badToken(result.reason);
    }
    req.accessKey = result.accessKey;
    await limited(reply, 'qiniuPerKey', result.accessKey);
  });

  /** The body, parsed and checked against the route's schema (the signature is verified by now). */
  const body = (req: FastifyRequest, allowForm = false): Body =>
    checked<Body>(req, 'body', parseBody(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), req.headers['content-type'], allowForm));
  const ok = (req: FastifyRequest, reply: FastifyReply, data: unknown) => sendQiniu(req, reply, 200, data);

  /** The app if the signing key owns it (apps registered without an owner serve every key). */
  const ownedApp = async (req: FastifyRequest, appId: string): Promise<App> => {
    const a = await apps.get(appId);
    if (!a || (a.owner !== null && a.owner !== req.accessKey)) throw appNotFound();
    return a;
  };
  const running = async (req: FastifyRequest, appId: string, roomName: string): Promise<{ app: App; room: Room }> => {
    const a = await ownedApp(req, appId);
    const room = await meeting.runningRoom(a.appId, roomName);
    if (!room) throw roomNotActive();
    return { app: a, room };
  };
  const tools: QiniuRouteTools = { deps, ownedApp, running, body: (req) => body(req), ok };
  const activeRoom = async (app: App, roomName: string): Promise<Room> => {
    const room = await meeting.runningRoom(app.appId, roomName);
    if (!room || !room.members.some((m) => m.present)) throw roomNotActive();
    return room;
  };

  // ---- Apps (§3.1)
  app.post('/apps', { schema: CALLS.createApp }, async (req, reply) => {
    const b = body(req, true);
    const now = Date.now();
    const created = applyAppFields(newApp({ appId: newQiniuAppId(), owner: req.accessKey! }, now), b, deps.config, now);
    await apps.put(created);
    return ok(req, reply, appJson(created, true));
  });

  app.get('/apps', { schema: CALLS.listApps }, async (req, reply) => ok(req, reply, (await apps.list(req.accessKey!)).map((a) => appJson(a, false))));

  app.get<{ Params: { appId: string } }>('/apps/:appId', { schema: CALLS.getApp }, async (req, reply) => {
    return ok(req, reply, appJson(await ownedApp(req, req.params.appId), true));
  });

  app.post<{ Params: { appId: string } }>('/apps/:appId', { schema: CALLS.updateApp }, async (req, reply) => {
    const existing = await ownedApp(req, req.params.appId);
    const b = body(req, true);
    const now = Date.now();
    const updated = applyAppFields(existing, b, deps.config, now);
    await apps.put(updated);
    return ok(req, reply, appJson(updated, true));
  });

  app.delete<{ Params: { appId: string } }>('/apps/:appId', { schema: CALLS.deleteApp }, async (req, reply) => {
    const a = await ownedApp(req, req.params.appId);
    // Deleting an app ends its meetings first, so that nobody is left in a room of no app.
    for (;;) {
      const { rooms } = await meeting.listRooms({ appId: a.appId, activeOnly: false, prefix: '', offset: 0, limit: 100 });
      if (rooms.length === 0) break;
      for (const r of rooms) await meeting.close(r.roomId, afterAnswer(reply));
    }
    await apps.delete(a.appId);
    return ok(req, reply, {});
  });

  // ---- Rooms (§3.2)
  app.get<{ Params: { appId: string } }>('/apps/:appId/rooms', { schema: CALLS.listActiveRooms }, async (req, reply) => {
    const a = await ownedApp(req, req.params.appId);
    const q = checked<{ prefix?: string; offset?: string; limit?: string; metadata?: string }>(req, 'querystring', req.query);
    const num = (v: string | undefined, def: number, max: number) =>
      v !== undefined && /^\d{1,9}$/.test(v) ? Math.min(Number(v), max) : def;
    const offset = num(q.offset, 0, 1_000_000_000);
    const limit = Math.max(1, num(q.limit, 100, 1000));
    // Convene: `metadata` lists the running meetings whose metadata is exactly that, whether or not anyone is in them.
    const { rooms, total } = await meeting.listRooms({ appId: a.appId, activeOnly: true, prefix: q.prefix ?? '', offset, limit, metadata: q.metadata });
    const next = offset + rooms.length;
    return ok(req, reply, { end: next >= total, offset: next, rooms: rooms.map((r) => r.roomUuid) });
  });

  app.delete<{ Params: { appId: string; roomName: string } }>('/apps/:appId/rooms/:roomName', { schema: CALLS.closeRoom }, async (req, reply) => {
    const a = await ownedApp(req, req.params.appId);
    const room = await activeRoom(a, req.params.roomName);
    await meeting.close(room.roomId, afterAnswer(reply), keyOf(req));
    return ok(req, reply, {});
  });

  app.get<{ Params: { appId: string; roomName: string } }>('/apps/:appId/rooms/:roomName/users', { schema: CALLS.listUsers }, async (req, reply) => {
    const a = await ownedApp(req, req.params.appId);
    const room = await meeting.runningRoom(a.appId, req.params.roomName);
    const users = room ? presentMembers(room).map((m) => ({ userId: m.userUuid })) : [];
    return ok(req, reply, { users });
  });

  app.delete<{ Params: { appId: string; roomName: string; userId: string } }>(
    '/apps/:appId/rooms/:roomName/users/:userId',
    { schema: CALLS.kickUser },
    async (req, reply) => {
      const a = await ownedApp(req, req.params.appId);
      const room = await activeRoom(a, req.params.roomName);
      const member = room.members.find((m) => m.present && m.userUuid === req.params.userId);
      if (!member) throw userNotFound();
      // Convene: `?ban=<seconds>` also keeps the user out of this meeting for that long.
      const { ban } = checked<{ ban?: string }>(req, 'querystring', req.query);
      // The schema checks the digits; the bound is checked here.
      if (ban !== undefined && !(/^\d{1,9}$/.test(ban) && Number(ban) <= MAX_BAN_SECONDS)) {
        throw new QiniuError(400, `invalid args: ban must be a number of seconds from 0 to ${MAX_BAN_SECONDS}`);
      }
      const banMs = Number(ban ?? 0) * 1000;
      await meeting.execute(room.roomId, { type: 'kick', actor: null, by: keyOf(req), target: member.userId, banMs }, afterAnswer(reply), room);
      return ok(req, reply, {});
    },
  );

  // Convene: lock (no new entries; members inside stay) or unlock a running room.
  app.post<{ Params: { appId: string; roomName: string } }>('/apps/:appId/rooms/:roomName/lock', { schema: CALLS.lockRoom }, async (req, reply) => {
    const locked = read.bool(body(req), 'locked') ?? true;
    const { room } = await running(req, req.params.appId, req.params.roomName);
    await meeting.execute(room.roomId, { type: 'lockRoom', locked, by: keyOf(req) }, afterAnswer(reply), room);
    return ok(req, reply, { locked });
  });

  app.post<{ Params: { appId: string; roomName: string } }>('/apps/:appId/rooms/:roomName/message', { schema: CALLS.message }, async (req, reply) => {
    const a = await ownedApp(req, req.params.appId);
    const b = body(req);
    const text = read.string(b, 'text', 4000);
    if (!text) throw new QiniuError(400, 'invalid args: text is required (1 to 4000 characters)');
    const msgId = read.string(b, 'msgId', 128) || randomBytes(12).toString('base64url');
    const targets = read.strings(b, 'targets', 10_000, 128) ?? [];
    const room = await activeRoom(a, req.params.roomName);
    await meeting.execute(room.roomId, { type: 'serverMessage', targets, msgId, text }, afterAnswer(reply), room);
    return ok(req, reply, {});
  });

  // Convene: the app's webhook endpoints and dead letters (webhooks.ts).
  registerWebhookRoutes(app, tools);
  // Convene: a running meeting's lobby (lobby.ts).
  registerLobbyRoutes(app, tools);
  // Convene: a meeting's breakout rooms (breakouts.ts).
  registerBreakoutRoutes(app, tools);
  // Convene: one meeting's state and event log, for the admin console (console.ts).
  registerConsoleRoutes(app, tools);
  // Convene: metadata and the audit log (extensions.ts).
  registerExtensionRoutes(app, tools);
  // Convene: the deployment's nodes, for operator keys (nodes.ts).
  if (deps.nodes) registerNodeRoutes(app, { deps, nodes: deps.nodes, ok });

  // ---- RoomToken check for joining clients (§3.3): not signed with a management token.
  app.get<{ Params: { appId: string; roomName: string } }>(
    '/apps/:appId/rooms/:roomName/auth',
    { schema: CALLS.roomTokenCheck, config: { qiniuUnsigned: true } },
    async (req, reply) => {
      const { appId, roomName } = req.params;
      const query = checked<{ user?: string; token?: string }>(req, 'querystring', req.query);
      const userId = query.user ?? '';
      const r = await enterWithRoomToken(apps, meeting, { appId, roomName, userId }, query.token ?? '', {}, afterAnswer(reply));
      if (!r.ok) {
        if (r.reason === 'unknownApp') throw appNotFound();
        if (r.reason === 'badToken') throw badToken(r.detail);
        const refused = {
          roomFull: 'room is full',
          duplicateLogin: 'user already in the room',
          locked: 'room is locked',
          banned: 'user is banned',
          tooManyRooms: 'too many rooms',
        } as const;
        throw new QiniuError(403, refused[r.reason], r.detail);
      }
      // Convene. DECISION: an entry that knocked at the lobby is accepted, not done: 202, with its token for the lobby socket.
      const answer = { accessToken: r.entered.userToken, appId, roomName, userId, permission: r.permission };
      if (r.entered.waiting) return sendQiniu(req, reply, 202, { ...answer, waiting: true });
      return ok(req, reply, answer);
    },
  );
};

function newQiniuAppId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(10);
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
}

/** Apply the App fields present in a Create/UpdateApp body; absent fields keep their value. */
function applyAppFields(app: App, b: Body, config: HttpDeps['config'], now: number): App {
  const hubs = config.qiniu.hubs;
  const hub = read.string(b, 'hub', 128);
  if (hub !== undefined && hubs.length > 0 && !hubs.includes(hub)) throw hubNotMatch();
  const next: App = { ...app, mergePublishRtmp: { ...app.mergePublishRtmp }, updatedAt: now };
  if (hub !== undefined) next.hub = hub;
  const title = read.string(b, 'title', 256);
  if (title !== undefined) next.title = title;
  const maxUsers = read.int(b, 'maxUsers', 0, 1_000_000);
  if (maxUsers !== undefined) next.maxUsers = maxUsers;
  for (const k of ['noAutoKickUser', 'noAutoCloseRoom', 'noAutoCreateRoom'] as const) {
    const v = read.bool(b, k);
    if (v !== undefined) next[k] = v;
  }
  // Convene: the app's new meetings start with the lobby on.
  const lobby = read.bool(b, 'lobby');
  if (lobby === true) next.lobby = true;
  else if (lobby === false) delete next.lobby;
  const mp = read.object(b, 'mergePublishRtmp');
  if (mp) {
    const m = next.mergePublishRtmp;
    for (const k of ['enable', 'audioOnly'] as const) m[k] = read.bool(mp, k) ?? m[k];
    for (const k of ['height', 'width', 'fps', 'kbps'] as const) m[k] = read.int(mp, k, 0, 100_000) ?? m[k];
    for (const k of ['url', 'streamTitle'] as const) m[k] = read.string(mp, k, 2048) ?? m[k];
  }
  const cbUrl = read.string(b, 'eventCbUrl', 2048);
  const cbSecret = read.string(b, 'eventCbSecret', 256);
  const cbVersion = read.string(b, 'eventCbVersion', 32);
  if (cbUrl !== undefined || cbSecret !== undefined || cbVersion !== undefined) {
    const cur = next.eventCallback ?? { url: '', secret: '', version: '' };
    next.eventCallback = { url: cbUrl ?? cur.url, secret: cbSecret ?? cur.secret, version: cbVersion ?? cur.version };
  }
  if (!next.certificate) next.certificate = hex32();
  if (cbUrl === undefined && cbSecret === undefined) return next;
  // The eventCb* fields are the app's `eventcb` webhook endpoint (its secret: made when none is given).
  try {
    return withEventCallback(next, config.webhooks.allowPrivate, now);
  } catch (err) {
    if (err instanceof WebhookConfigError) {
      const what = err.message.startsWith('url ') ? `eventCbUrl ${err.message.slice(4)}` : `eventCbSecret: ${err.message}`;
      throw new QiniuError(400, `invalid args: ${what}`);
    }
    throw err;
  }
}

const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The App object of §3.1; with `credentials`, also what the Agora client API needs. */
function appJson(a: App, credentials: boolean) {
  const json: Record<string, unknown> = {
    appId: a.appId,
    hub: a.hub,
    title: a.title,
    maxUsers: a.maxUsers,
    noAutoCloseRoom: a.noAutoCloseRoom,
    noAutoCreateRoom: a.noAutoCreateRoom,
    noAutoKickUser: a.noAutoKickUser,
    lobby: a.lobby === true,
    mergePublishRtmp: { ...DEFAULT_MERGE_PUBLISH_RTMP, ...a.mergePublishRtmp },
    createdAt: rfc3339(a.createdAt),
    updatedAt: rfc3339(a.updatedAt),
  };
  if (a.eventCallback) Object.assign(json, { eventCbUrl: a.eventCallback.url, eventCbVersion: a.eventCallback.version });
  if (credentials) {
    Object.assign(json, { appCertificate: a.certificate, customerId: a.customerId, customerSecret: a.customerSecret });
  }
  return json;
}

