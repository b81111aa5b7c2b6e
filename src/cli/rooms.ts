// `convene rooms …`: the meetings of an app — listed, shown, and changed through the one write
// path (MeetingService), exactly as the server API's KickUser, lock and Close Room change them.
import { MAX_BAN_SECONDS } from '../domain/commands.ts';
import { presentMembers, type Member, type Room } from '../domain/room.ts';
import { waitingViews } from '../domain/lobby.ts';
import { breakoutsView } from '../domain/breakouts.ts';
import { JSON_OPTION, Refused, type Command } from './command.ts';
import { wholeNumber } from './args.ts';
import { givenOrDefaultApp, meetingOf, meetingService } from './lookup.ts';

const iso = (ms: number) => new Date(ms).toISOString();

const ROOM_HELP = `ROOM is the meeting's roomUuid (the running meeting of that key) or its roomId (also a meeting
that has ended).`;

/** A member as the CLI shows it: everything but its session secret. */
function memberView(m: Member) {
  return {
    userId: m.userId,
    userUuid: m.userUuid,
    userName: m.userName,
    role: m.role,
    audio: m.audio,
    video: m.video,
    chat: m.chat,
    boardGrant: m.boardGrant,
    sharingScreen: m.sharingScreen,
    uid: m.uid,
    screenId: m.screenId,
    canKick: m.canKick,
    realtime: m.realtime,
    joinedAt: iso(m.joinedAt),
    metadata: m.metadata ?? '',
  };
}

/** A meeting's state and present members; its password and the members' sessions are left out. */
export function roomView(room: Room) {
  const uuidOf = (userId: string) => room.members.find((m) => m.userId === userId)?.userUuid ?? null;
  const now = Date.now();
  return {
    roomId: room.roomId,
    appId: room.appId,
    roomUuid: room.roomUuid,
    roomName: room.roomName,
    channelName: room.channelName,
    hasPassword: room.password !== '',
    startTime: iso(room.startTime),
    ended: room.ended,
    endedAt: room.endedAt === null ? null : iso(room.endedAt),
    locked: room.locked === true,
    muteAllAudio: room.muteAllAudio,
    muteAllChat: room.muteAllChat,
    boardShared: room.boardShared,
    boardCreator: room.boardShared ? uuidOf(room.boardCreatorId) : null,
    screenSharer: room.screenSharerId ? uuidOf(room.screenSharerId) : null,
    bans: (room.bans ?? []).filter((b) => b.until > now).map((b) => ({ userUuid: b.userUuid, until: iso(b.until) })),
    seq: room.seq,
    metadata: room.metadata ?? '',
    lobby: room.lobby ? { on: room.lobby.on, waiting: waitingViews(room).map((k) => ({ userUuid: uuidOf(k.userId), userName: k.userName, knockedAt: iso(k.at) })) } : null,
    breakouts: room.breakouts ? breakoutsView(room.breakouts).rooms.map((r) => ({ roomId: r.roomId, name: r.name, members: r.members.map(uuidOf) })) : null,
    online: presentMembers(room).length,
    members: presentMembers(room).map(memberView),
  };
}

const onOff = (b: boolean) => (b ? 'on' : 'off');
const MUTE = ['off', 'on (participants may unmute)', 'on (participants may not unmute)'];

export const roomCommands: Command[] = [
  {
    words: ['rooms', 'ls'],
    args: '[APP_ID]',
    summary: 'list the running meetings of an app (default: the default app)',
    help: `Lists the running meetings of an app (the default app when APP_ID is omitted), one line each:
roomId, roomUuid, members in the room, start time, and "(empty: not active)" for a meeting nobody
is in (it ends after the empty-room time unless someone enters; Qiniu's ListActiveRoom omits it).
With --json: an array of {"roomId","roomUuid","online","active","startTime"}. Exit 1 when there is
no such app.`,
    options: [JSON_OPTION],
    store: 'existing',
    async run(ctx) {
      const app = await givenOrDefaultApp(ctx, ctx.args[0]);
      const all = [];
      const limit = 1000;
      for (let offset = 0; ; offset += limit) {
        const { rooms, total } = await ctx.store.listRooms({ appId: app.appId, activeOnly: false, prefix: '', offset, limit });
        all.push(...rooms);
        if (offset + limit >= total || rooms.length === 0) break;
      }
      if (ctx.option('json')) {
        return ctx.printJson(all.map((r) => ({ roomId: r.roomId, roomUuid: r.roomUuid, online: r.online, active: r.online > 0, startTime: iso(r.startTime) })), true);
      }
      // "Active" as everywhere (Qiniu's ListActiveRoom, convene_rooms_active): someone is present.
      for (const r of all) ctx.print(`${r.roomId}  ${r.roomUuid}  online ${r.online}  since ${iso(r.startTime)}${r.online > 0 ? '' : '  (empty: not active)'}`);
    },
  },
  {
    words: ['rooms', 'show'],
    args: 'APP_ID ROOM',
    summary: 'show a meeting: its state and the members in it',
    help: `Shows a meeting: its state (running or ended, locked, mute-all, board and screen sharing, bans in
force, the seq of its last event) and the members in it with their role, audio, video, chat and
whether they hold a realtime socket. With --json: one object; times are ISO 8601. The meeting's
password and the members' session secrets are never shown. Exit 1 when there is no such meeting.

${ROOM_HELP}`,
    options: [JSON_OPTION],
    store: 'existing',
    async run(ctx) {
      const room = await meetingOf(ctx, ctx.args[0]!, ctx.args[1]!);
      const v = roomView(room);
      if (ctx.option('json')) return ctx.printJson(v, true);
      const flags = [v.locked ? 'locked' : '', v.hasPassword ? 'password set' : ''].filter(Boolean).join(', ');
      const rows: [string, string][] = [
        ['Meeting', `${v.roomName} (roomUuid ${v.roomUuid})`],
        ['Room ID', v.roomId],
        ['App ID', v.appId],
        ['State', `${v.ended ? `ended at ${v.endedAt}` : 'running'}${flags ? `; ${flags}` : ''}`],
        ['Started', v.startTime],
        ['Mute all', `audio ${MUTE[v.muteAllAudio]}; chat ${MUTE[v.muteAllChat]}`],
        ['Board', v.boardShared ? `shared by ${v.boardCreator ?? '?'}` : 'not shared'],
        ['Screen', v.screenSharer ? `shared by ${v.screenSharer}` : 'not shared'],
        ['Bans', v.bans.length ? v.bans.map((b) => `${b.userUuid} until ${b.until}`).join(', ') : 'none'],
        ['Last event', `seq ${v.seq}`],
        ['Metadata', v.metadata ? JSON.stringify(v.metadata) : 'none'],
        ['Lobby', v.lobby ? `${v.lobby.on ? 'on' : 'off'}; ${v.lobby.waiting.length ? `waiting: ${v.lobby.waiting.map((k) => k.userUuid).join(', ')}` : 'nobody waiting'}` : 'off'],
        ['Breakouts', v.breakouts ? v.breakouts.map((r) => `${r.name} (${r.members.length})`).join(', ') : 'none'],
        ['Members', `${v.online} in the room`],
      ];
      for (const [k, val] of rows) ctx.print(`${k.padEnd(12)}${val}`);
      for (const m of v.members) {
        const extras = [m.sharingScreen ? 'screen' : '', m.boardGrant ? 'board' : '', m.realtime ? 'socket' : ''].filter(Boolean).join(' ');
        ctx.print(
          `  ${m.userUuid}  ${m.role}  ${JSON.stringify(m.userName)}  audio ${onOff(m.audio)}  video ${onOff(m.video)}  chat ${onOff(m.chat)}` +
            `${extras ? `  ${extras}` : ''}  joined ${m.joinedAt}`,
        );
      }
    },
  },
  {
    words: ['rooms', 'kick'],
    args: 'APP_ID ROOM USER_UUID [BAN_SECONDS]',
    summary: 'remove a member; with BAN_SECONDS it may not enter again for that long',
    help: `Removes a member (by its userUuid) from a running meeting, as the server API's KickUser does: the
members are told (cmd 8), its session ends, its sockets are closed. With BAN_SECONDS (0 to
${MAX_BAN_SECONDS}, 30 days) the user may not enter that meeting again for that long. Exit 1 when
there is no such meeting or member in it.

${ROOM_HELP}`,
    store: 'existing',
    async run(ctx) {
      const [appId, ref, userUuid, banText] = ctx.args as [string, string, string, string | undefined];
      const banSeconds = banText === undefined ? 0 : wholeNumber(banText, 'BAN_SECONDS', 0, MAX_BAN_SECONDS);
      const room = await meetingOf(ctx, appId, ref);
      const member = room.members.find((m) => m.present && m.userUuid === userUuid);
      if (!member) throw new Refused(`no member ${userUuid} in room ${ref} (see rooms show ${appId} ${ref})`);
      await (await meetingService(ctx)).execute(room.roomId, { type: 'kick', actor: null, by: 'cli', target: member.userId, banMs: banSeconds * 1000 });
      ctx.print(`removed ${userUuid} from ${ref}${banSeconds ? `; banned for ${banSeconds} s` : ''}`);
    },
  },
  {
    words: ['rooms', 'close'],
    args: 'APP_ID ROOM',
    summary: 'end a meeting: every member is out, its key may start a new one',
    help: `Ends a running meeting, as the server API's Close Room does: the members are told (cmd 3, state 0),
their sessions end, their sockets are closed, and its roomUuid starts a new meeting at the next
entry. Unlike Close Room it also ends a meeting nobody is in (instead of waiting for the empty-room
timer). Exit 1 when there is no such meeting, or it has already ended.

${ROOM_HELP}`,
    store: 'existing',
    async run(ctx) {
      const [appId, ref] = ctx.args as [string, string];
      const room = await meetingOf(ctx, appId, ref);
      await (await meetingService(ctx)).close(room.roomId, {}, 'cli');
      ctx.print(`ended ${room.roomUuid} (roomId ${room.roomId})`);
    },
  },
  ...(['lock', 'unlock'] as const).map(
    (verb): Command => ({
      words: ['rooms', verb],
      args: 'APP_ID ROOM',
      summary: verb === 'lock' ? 'no new entries into the meeting (members inside stay)' : 'entries into the meeting allowed again',
      help: `${verb === 'lock' ? 'Locks a running meeting: no new entries (members inside stay and may enter again)' : 'Unlocks a meeting: entries allowed again'}, as the server
API's lock call does; the members are told (cmd 3). Exit 1 when there is no such meeting.

${ROOM_HELP}`,
      store: 'existing',
      async run(ctx) {
        const [appId, ref] = ctx.args as [string, string];
        const room = await meetingOf(ctx, appId, ref);
        await (await meetingService(ctx)).execute(room.roomId, { type: 'lockRoom', locked: verb === 'lock', by: 'cli' });
        ctx.print(`${ref} ${verb}ed`);
      },
    }),
  ),
];
