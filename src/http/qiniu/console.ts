// Convene's room-inspection calls on the server API (docs/qiniu-api.md §4.6), signed and answered
// like the Qiniu calls: one running meeting's state and members, and its recent event log. The admin
// console (/admin) reads them; a business backend may too. Registered inside the Qiniu plugin, so
// its signature check, rate limits and errors apply.
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { presentMembers } from '../../domain/room.ts';
import { QiniuError } from './errors.ts';
import { qiniuAnswers, RoomParams, SIGNED } from './schemas.ts';
import { checked } from './validate.ts';
import type { QiniuRouteTools } from './tools.ts';

const Flag = (description: string) => Type.Boolean({ description });

const RoomMember = Type.Object({
  userId: Type.String({ description: "the member's userUuid (the business's key, as in ListUser)" }),
  userName: Type.String(),
  role: Type.Union([Type.Literal('host'), Type.Literal('participant')]),
  audio: Flag('microphone on'),
  video: Flag('camera on'),
  chat: Flag('may chat'),
  board: Flag('may draw on the whiteboard'),
  screen: Flag('sharing its screen'),
  joinedAt: Type.Integer({ description: 'epoch ms' }),
  metadata: Type.String({ description: "the member's metadata ('' when unset)" }),
});

const RoomDetail = Type.Object({
  roomName: Type.String({ description: 'the roomUuid' }),
  title: Type.String({ description: "the meeting's display name (roomName on the client API)" }),
  roomId: Type.String(),
  startTime: Type.Integer({ description: 'epoch ms' }),
  muteAllAudio: Type.Integer({ description: '0 off, 1 muted (members may unmute), 2 muted (they may not)' }),
  muteAllChat: Type.Integer({ description: '0 off, 1 or 2 chat muted' }),
  locked: Type.Boolean(),
  shareBoard: Type.Boolean(),
  shareScreen: Type.Boolean(),
  seq: Type.Integer({ description: "the last event's seq" }),
  metadata: Type.String({ description: "the meeting's metadata ('' when unset)" }),
  users: Type.Array(RoomMember),
});

const LoggedEventView = Type.Object({
  seq: Type.Integer(),
  at: Type.Integer({ description: 'epoch ms' }),
  type: Type.String({ description: 'the event type, e.g. membersChanged, roomChanged, chatSent' }),
  event: Type.Object({}, { additionalProperties: true, description: 'the event as stored' }),
});

const EventsQuery = Type.Object({
  since: Type.Optional(Type.String({ pattern: '^\\d{1,15}$', 'x-expect': 'a seq (a non-negative integer)', description: 'events after this seq; absent: the last `limit`' })),
  limit: Type.Optional(Type.String({ pattern: '^\\d{1,4}$', 'x-expect': 'a number from 1 to 500', description: 'at most this many (default 50, at most 500)' })),
});

const CALLS = {
  room: {
    summary: 'Room (Convene): a running meeting with its state and members',
    params: RoomParams,
    response: qiniuAnswers(RoomDetail, [400, ...SIGNED, 612, 615]),
  },
  events: {
    summary: "Room events (Convene): a running meeting's event log, oldest first",
    params: RoomParams,
    querystring: EventsQuery,
    response: qiniuAnswers(
      Type.Object({
        events: Type.Array(LoggedEventView),
        oldestSeq: Type.Integer({ description: 'the oldest seq still in the log' }),
        lastSeq: Type.Integer({ description: "the meeting's last seq" }),
      }),
      [400, ...SIGNED, 612, 615],
    ),
  },
};

export function registerConsoleRoutes(app: FastifyInstance, { deps, running, ok }: QiniuRouteTools): void {
  app.get<{ Params: { appId: string; roomName: string } }>('/apps/:appId/rooms/:roomName', { schema: CALLS.room }, async (req, reply) => {
    const { room } = await running(req, req.params.appId, req.params.roomName);
    return ok(req, reply, {
      roomName: room.roomUuid,
      title: room.roomName,
      roomId: room.roomId,
      startTime: room.startTime,
      muteAllAudio: room.muteAllAudio,
      muteAllChat: room.muteAllChat,
      locked: room.locked === true,
      shareBoard: room.boardShared,
      shareScreen: room.screenSharerId !== '',
      seq: room.seq,
      metadata: room.metadata ?? '',
      users: presentMembers(room).map((m) => ({
        userId: m.userUuid,
        userName: m.userName,
        role: m.role,
        audio: m.audio,
        video: m.video,
        chat: m.chat,
        board: m.boardGrant,
        screen: m.sharingScreen,
        joinedAt: m.joinedAt,
        metadata: m.metadata ?? '',
      })),
    });
  });

  app.get<{ Params: { appId: string; roomName: string } }>('/apps/:appId/rooms/:roomName/events', { schema: CALLS.events }, async (req, reply) => {
    const { room } = await running(req, req.params.appId, req.params.roomName);
    const q = checked<{ since?: string; limit?: string }>(req, 'querystring', req.query);
    const limit = q.limit === undefined ? 50 : Number(q.limit);
    if (limit < 1 || limit > 500) throw new QiniuError(400, 'invalid args: limit must be a number from 1 to 500');
    const after = q.since === undefined ? Math.max(0, room.seq - limit) : Number(q.since);
    const range = await deps.meeting.eventsSince(room.roomId, after, limit);
    return ok(req, reply, {
      events: range.events.map((e) => ({ seq: e.seq, at: e.at, type: e.event.type, event: e.event })),
      oldestSeq: range.oldestSeq,
      lastSeq: room.seq,
    });
  });
}
