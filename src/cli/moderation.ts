// `convene rooms admit | deny | metadata`: the lobby's answers and metadata from the command line,
// through the one write path (MeetingService) as the server API's calls; the audit log records them
// as `cli`.
import { MAX_DENY_REASON, waitingViews } from '../domain/lobby.ts';
import { findByUuid, findMember } from '../domain/room.ts';
import { Refused, UsageError, type Command } from './command.ts';
import { appOf, meetingOf, meetingService } from './lookup.ts';

const ROOM_HELP = `ROOM is the meeting's roomUuid (its running meeting) or its roomId. Users are named by their userUuid.`;

export const moderationCommands: Command[] = [
  {
    words: ['rooms', 'admit'],
    args: 'APP_ID ROOM [USER_UUID...]',
    summary: "admit users waiting in a meeting's lobby (none named: everyone waiting, as far as the room takes them)",
    help: `Admits users waiting in the meeting's lobby, as the server API's lobby admit does: each is an entry,
checked as one (a locked or full room, a ban: exit 1, nobody admitted). Without USER_UUID, everyone
waiting is admitted in the order they knocked, as many as the room takes. Exit 1 when there is no
such meeting, or a named user is not waiting.

${ROOM_HELP}`,
    store: 'existing',
    async run(ctx) {
      const [appId, ref, ...uuids] = ctx.args as [string, string, ...string[]];
      const room = await meetingOf(ctx, appId, ref);
      const waiting = new Map(waitingViews(room).map((k) => [findMember(room, k.userId)?.userUuid ?? '', k.userId]));
      const targets = uuids.length === 0 ? null : uuids.map((u) => waiting.get(u) ?? fail(`${u} is not waiting in the lobby of ${ref}`));
      const meeting = await meetingService(ctx);
      const d = await meeting.execute(room.roomId, { type: 'lobby', actor: null, by: 'cli', do: { action: 'admit', targets }, policy: meeting.policyOf(await appOf(ctx, appId)) });
      const admitted = d.events.flatMap((e) => (e.type === 'lobbyAdmitted' ? e.to : [])).map((id) => findMember(d.room, id)?.userUuid ?? id);
      ctx.print(admitted.length ? `admitted ${admitted.join(', ')}` : 'nobody was waiting');
    },
  },
  {
    words: ['rooms', 'deny'],
    args: 'APP_ID ROOM USER_UUID [REASON]',
    summary: "deny a user waiting in a meeting's lobby; it is told the reason",
    help: `Denies a user waiting in the meeting's lobby, as the server API's lobby deny does: its socket is
told REASON (at most ${MAX_DENY_REASON} characters) and closed. Exit 1 when there is no such meeting or
the user is not waiting.

${ROOM_HELP}`,
    store: 'existing',
    async run(ctx) {
      const [appId, ref, uuid, reason = ''] = ctx.args as [string, string, string, string | undefined];
      if (reason.length > MAX_DENY_REASON) throw new UsageError(`REASON must be at most ${MAX_DENY_REASON} characters`);
      const room = await meetingOf(ctx, appId, ref);
      const m = findByUuid(room, uuid);
      if (!m || !waitingViews(room).some((k) => k.userId === m.userId)) throw new Refused(`${uuid} is not waiting in the lobby of ${ref}`);
      const meeting = await meetingService(ctx);
      await meeting.execute(room.roomId, { type: 'lobby', actor: null, by: 'cli', do: { action: 'deny', target: m.userId, reason }, policy: meeting.policyOf(await appOf(ctx, appId)) });
      ctx.print(`denied ${uuid}`);
    },
  },
  {
    words: ['rooms', 'metadata'],
    args: 'APP_ID ROOM VALUE',
    summary: "set a meeting's metadata, or a member's with --user ('' clears it)",
    help: `Sets the metadata of a running meeting, or with --user of a member in it (at most 4096 bytes of
UTF-8; '' clears it), as the server API's metadata calls do: the members are told (cmd 130). Exit 1
when there is no such meeting or member, or the value is too long.

${ROOM_HELP}`,
    options: [{ name: 'user', value: 'USER_UUID', help: "set this member's metadata instead of the meeting's" }],
    store: 'existing',
    async run(ctx) {
      const [appId, ref, value] = ctx.args as [string, string, string];
      const room = await meetingOf(ctx, appId, ref);
      const user = ctx.option('user');
      const member = typeof user === 'string' ? findByUuid(room, user) : undefined;
      if (typeof user === 'string' && !member?.present) throw new Refused(`no member ${user} in room ${ref}`);
      const target = member ? member.userId : null;
      await (await meetingService(ctx)).execute(room.roomId, { type: 'metadata', actor: null, by: 'cli', target, metadata: value });
      ctx.print(`metadata of ${typeof user === 'string' ? user : ref} ${value === '' ? 'cleared' : 'set'}`);
    },
  },
];

function fail(message: string): never {
  throw new Refused(message);
}
