// Convene's metadata and audit log on the server API (docs/qiniu-api.md §4.10, §4.11), signed and
// answered like the Qiniu calls: set a running meeting's metadata or a member's, and read a meeting's
// audit log (running, or ended until its retention has passed), paged and filtered, as JSON or as
// JSON lines. Registered inside the Qiniu plugin, so its signature check, rate limits and errors apply.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AUDIT_ACTIONS, type AuditAction } from '../../domain/audit.ts';
import { MAX_METADATA_BYTES } from '../../domain/metadata.ts';
import { findByUuid } from '../../domain/room.ts';
import { afterAnswer } from '../answered.ts';
import { QiniuError, roomNotActive, userNotFound } from './errors.ts';
import { read } from './fields.ts';
import { QBool, qiniuAnswers, QText, RoomParams, SIGNED, UserParams } from './schemas.ts';
import { checked } from './validate.ts';
import type { QiniuRouteTools } from './tools.ts';

const Metadata = QText(MAX_METADATA_BYTES, { description: `at most ${MAX_METADATA_BYTES} bytes of UTF-8; "" clears it` });

const AuditEntryView = Type.Object({
  n: Type.Integer({ description: "its place in the meeting's audit log, from 1" }),
  at: Type.Integer({ description: 'epoch ms' }),
  seq: Type.Integer({ description: "the meeting's seq after the action" }),
  action: Type.String({ enum: [...AUDIT_ACTIONS] }),
  actor: Type.Object({}, { additionalProperties: true, description: '{kind: "member", userId, userUuid, userName, role} or {kind: "server", by: "key:<AccessKey>" | "cli"}' }),
  target: Type.Union([Type.Object({ userId: Type.String(), userUuid: Type.String(), userName: Type.String() }), Type.Null()]),
  before: Type.Object({}, { additionalProperties: true }),
  after: Type.Object({}, { additionalProperties: true }),
});

const Digits = (max: number, description: string) => Type.Optional(Type.String({ pattern: '^\\d{1,9}$', 'x-expect': `a number from 0 to ${max}`, description }));

const CALLS = {
  roomMetadata: {
    summary: "Room metadata (Convene): set a running meeting's metadata and whether members may set their own",
    params: RoomParams,
    body: Type.Object({ metadata: Type.Optional(Metadata), selfMetadata: Type.Optional(QBool('members may set their own metadata')) }),
    response: qiniuAnswers(Type.Object({ metadata: Type.String(), selfMetadata: Type.Boolean() }), [400, 413, ...SIGNED, 612, 615]),
  },
  userMetadata: {
    summary: "User metadata (Convene): set a member's metadata",
    params: UserParams,
    body: Type.Object({ metadata: Metadata }),
    response: qiniuAnswers(Type.Object({ metadata: Type.String() }), [400, 413, ...SIGNED, 612, 615]),
  },
  audit: {
    summary: "Room audit log (Convene): a meeting's moderator actions, oldest first",
    params: RoomParams,
    querystring: Type.Object({
      roomId: Type.Optional(Type.String({ maxLength: 128, description: 'that meeting of the room (an ended one too); absent: the running meeting' })),
      action: Type.Optional(Type.String({ enum: [...AUDIT_ACTIONS], 'x-expect': `one of ${AUDIT_ACTIONS.join(', ')}` })),
      actor: Type.Optional(Type.String({ maxLength: 256, description: "a member's userId or userUuid, or key:<AccessKey>, or cli" })),
      offset: Digits(1_000_000_000, 'entries (matching the filters) to skip; default 0'),
      limit: Digits(1000, 'at most this many (default 100, at most 1000)'),
      format: Type.Optional(Type.String({ enum: ['json', 'jsonl'], 'x-expect': 'json or jsonl', description: 'jsonl: every matching entry, one JSON object a line (application/x-ndjson); offset and limit do not apply' })),
    }),
    response: qiniuAnswers(
      Type.Object({ roomId: Type.String(), total: Type.Integer({ description: 'entries matching the filters' }), entries: Type.Array(AuditEntryView) }),
      [400, ...SIGNED, 612, 615],
    ),
  },
};

/** Who asks, for the audit log: the signing access key. */
export const keyOf = (req: FastifyRequest): string => `key:${req.accessKey!}`;

export function registerExtensionRoutes(app: FastifyInstance, { deps, ownedApp, running, body, ok }: QiniuRouteTools): void {
  const { meeting } = deps;

  app.post<{ Params: { appId: string; roomName: string } }>('/apps/:appId/rooms/:roomName/metadata', { schema: CALLS.roomMetadata }, async (req, reply) => {
    const { room } = await running(req, req.params.appId, req.params.roomName);
    const b = body(req);
    const metadata = read.string(b, 'metadata', MAX_METADATA_BYTES);
    const selfMetadata = read.bool(b, 'selfMetadata');
    if (metadata === undefined && selfMetadata === undefined) throw new QiniuError(400, 'invalid args: give metadata, selfMetadata or both');
    const d = await meeting.execute(room.roomId, { type: 'metadata', actor: null, by: keyOf(req), target: null, metadata, selfMetadata }, afterAnswer(reply), room);
    return ok(req, reply, { metadata: d.room.metadata ?? '', selfMetadata: d.room.selfMetadata === true });
  });

  app.post<{ Params: { appId: string; roomName: string; userId: string } }>(
    '/apps/:appId/rooms/:roomName/users/:userId/metadata',
    { schema: CALLS.userMetadata },
    async (req, reply) => {
      const { room } = await running(req, req.params.appId, req.params.roomName);
      const metadata = read.string(body(req), 'metadata', MAX_METADATA_BYTES) ?? '';
      const member = findByUuid(room, req.params.userId);
      if (!member?.present) throw userNotFound();
      await meeting.execute(room.roomId, { type: 'metadata', actor: null, by: keyOf(req), target: member.userId, metadata }, afterAnswer(reply), room);
      return ok(req, reply, { metadata });
    },
  );

  app.get<{ Params: { appId: string; roomName: string } }>('/apps/:appId/rooms/:roomName/audit', { schema: CALLS.audit }, async (req, reply) => {
    const a = await ownedApp(req, req.params.appId);
    const q = checked<{ roomId?: string; action?: AuditAction; actor?: string; offset?: string; limit?: string; format?: 'json' | 'jsonl' }>(req, 'querystring', req.query);
    const room = q.roomId === undefined ? await meeting.runningRoom(a.appId, req.params.roomName) : await meeting.room(q.roomId);
    // A meeting of another app or room key is as unknown as one never held.
    if (!room || room.appId !== a.appId || room.roomUuid !== req.params.roomName) throw q.roomId === undefined ? roomNotActive() : new QiniuError(612, 'meeting not found');
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (limit < 1 || limit > 1000) throw new QiniuError(400, 'invalid args: limit must be a number from 1 to 1000');
    const filter = { action: q.action, actor: q.actor };
    if (q.format === 'jsonl') {
      const { entries } = await meeting.auditLog(room.roomId, { ...filter, offset: 0, limit: Number.MAX_SAFE_INTEGER });
      reply.type('application/x-ndjson');
      return entries.map((e) => `${JSON.stringify(e)}\n`).join('');
    }
    const { entries, total } = await meeting.auditLog(room.roomId, { ...filter, offset: Number(q.offset ?? 0), limit });
    return ok(req, reply, { roomId: room.roomId, total, entries });
  });
}
