// Finding what a command names — an app, a meeting — with one message for each thing that is not
// there, saying where to look instead.
import type { Room } from '../domain/room.ts';
import type { MeetingService } from '../service/meeting.ts';
import type { App } from '../store/store.ts';
import { Refused, UsageError, type Context } from './command.ts';

export async function appOf(ctx: Context, appId: string): Promise<App> {
  const app = await ctx.store.getApp(appId);
  if (!app) throw new Refused(`no app ${appId} (see apps ls)`);
  return app;
}

/** The server's default app: CONVENE_APP_ID, else the id the server stored on its first start. */
export async function defaultAppId(ctx: Context): Promise<string | null> {
  return ctx.config.bootstrap.appId ?? (await ctx.store.getMeta('defaultAppId'));
}

/** The app given, or the default one when none is. */
export async function givenOrDefaultApp(ctx: Context, given: string | undefined): Promise<App> {
  const appId = given ?? (await defaultAppId(ctx));
  if (!appId) throw new UsageError('there is no default app yet (the server creates it on first start): give APP_ID (see apps ls)');
  return appOf(ctx, appId);
}

/**
 * The meeting `ref` of an app: its running meeting of that roomUuid, else the meeting of that
 * roomId (which may have ended: show and tail still read it, changes are refused by the rules).
 */
export async function meetingOf(ctx: Context, appId: string, ref: string): Promise<Room> {
  await appOf(ctx, appId);
  const running = await ctx.store.findRunningRoom(appId, ref);
  if (running) return running;
  const byId = await ctx.store.loadRoom(ref);
  if (byId && byId.appId === appId) return byId;
  throw new Refused(`no running meeting ${ref} in app ${appId} (see rooms ls ${appId})`);
}

/**
 * The one write path, in this process: commands are decided and committed here; the servers find
 * the events in the room's log and push them to their sockets (see service/feed.ts).
 */
export async function meetingService(ctx: Context): Promise<MeetingService> {
  // Loaded here, not at start: the commands that change nothing (and --help) start without them.
  const [{ LocalBus }, { MeetingService }, { outboxSources }] = await Promise.all([import('../bus/local.ts'), import('../service/meeting.ts'), import('../outbox/sinks.ts')]);
  // Its commits write what every sink wants (the RTM relay's messages, a Netless board's ban); the servers deliver it.
  return new MeetingService({ store: ctx.store, bus: new LocalBus(), outboxSources: outboxSources(ctx.config) });
}
