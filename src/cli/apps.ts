// `convene apps …`: the apps of the client API. An app's customer credentials and certificate are
// what its meeting clients are configured with, so apps ls and apps show print them (as the server
// API's GetApp does); access keys' secrets are another matter (see keys.ts).
import { RuleError } from '../domain/rules.ts';
import { AppRegistry, hex32, newApp } from '../service/apps.ts';
import type { App } from '../store/store.ts';
import { JSON_OPTION, Refused, UsageError, type Command, type Context } from './command.ts';
import { appOf, defaultAppId, meetingService } from './lookup.ts';

const iso = (ms: number) => new Date(ms).toISOString();

/** An app as the CLI shows it in JSON: its credentials, settings and times (ISO 8601). */
function appView(app: App, isDefault: boolean) {
  return {
    appId: app.appId,
    title: app.title,
    default: isDefault,
    appCertificate: app.certificate,
    customerId: app.customerId,
    customerSecret: app.customerSecret,
    tokenVersion: app.tokenVersion,
    owner: app.owner,
    hub: app.hub,
    maxUsers: app.maxUsers,
    noAutoKickUser: app.noAutoKickUser,
    noAutoCloseRoom: app.noAutoCloseRoom,
    noAutoCreateRoom: app.noAutoCreateRoom,
    createdAt: iso(app.createdAt),
    updatedAt: iso(app.updatedAt),
  };
}

async function runningMeetings(ctx: Context, appId: string): Promise<number> {
  return (await ctx.store.listRooms({ appId, activeOnly: false, prefix: '', offset: 0, limit: 1 })).total;
}

export const appCommands: Command[] = [
  {
    words: ['apps', 'ls'],
    args: '',
    summary: 'list the apps with their client-API credentials',
    help: `Lists every app, one line each: App ID, customer credentials (customerId:customerSecret), App
Certificate, title. With --json: an array of apps with every setting (the default app has
"default": true). These are the credentials meeting clients are configured with; they are printed
whenever asked. Access keys' secrets never are (keys ls).`,
    options: [JSON_OPTION],
    store: 'existing',
    async run(ctx) {
      const apps = await new AppRegistry(ctx.store).list(null);
      const defaultId = await defaultAppId(ctx);
      if (ctx.option('json')) return ctx.printJson(apps.map((a) => appView(a, a.appId === defaultId)), true);
      for (const a of apps) ctx.print(`${a.appId}  customer ${a.customerId}:${a.customerSecret}  cert ${a.certificate ?? '-'}  ${a.title}`);
    },
  },
  {
    words: ['apps', 'show'],
    args: 'APP_ID',
    summary: 'show an app: credentials, settings, running meetings',
    help: `Shows one app: its credentials (as apps ls), its settings and how many meetings it runs. With
--json: one object, as an element of apps ls --json, with "runningMeetings". Exit 1 when there is no
such app.`,
    options: [JSON_OPTION],
    store: 'existing',
    async run(ctx) {
      const app = await appOf(ctx, ctx.args[0]!);
      const view = { ...appView(app, app.appId === (await defaultAppId(ctx))), runningMeetings: await runningMeetings(ctx, app.appId) };
      if (ctx.option('json')) return ctx.printJson(view, true);
      const rows: [string, string | number | boolean | null][] = [
        ['App ID', view.appId + (view.default ? '  (the default app)' : '')],
        ['Title', view.title || '-'],
        ['App Certificate', view.appCertificate ?? '-'],
        ['Customer ID', view.customerId],
        ['Customer Secret', view.customerSecret],
        ['Token version', view.tokenVersion],
        ['Owner key', view.owner ?? '- (every access key may manage it)'],
        ['Hub', view.hub || '-'],
        ['Max users', view.maxUsers || '- (no limit of its own)'],
        ['Auto', `kick ${!view.noAutoKickUser}, close ${!view.noAutoCloseRoom}, create ${!view.noAutoCreateRoom}`],
        ['Running meetings', view.runningMeetings],
        ['Created', view.createdAt],
        ['Updated', view.updatedAt],
      ];
      for (const [k, v] of rows) ctx.print(`${k.padEnd(18)}${v}`);
    },
  },
  {
    words: ['apps', 'create'],
    args: '[TITLE...]',
    summary: 'create an app for the client API and print its credentials (JSON)',
    help: `Creates an app (the words after create are its title) with a random 32-hex App ID, App Certificate
and customer credentials, and prints them as JSON. --app-id and --certificate give an Agora project's
own instead (what the Agora Meeting apps need: they join Agora RTC and RTM with that App ID). Such an
app has no owner: every access key may manage it through the server API. Servers serve it at once.`,
    options: [
      { name: 'app-id', value: 'HEX32', help: "an Agora project's App ID (32 hex characters)" },
      { name: 'certificate', value: 'HEX32', help: "that project's App Certificate (32 hex characters)" },
      { name: 'json', help: 'print JSON (what it prints anyway; accepted for uniformity)' },
    ],
    store: 'create',
    async run(ctx) {
      const hex = (name: string): string | undefined => {
        const v = ctx.option(name);
        if (v === undefined) return undefined;
        if (typeof v !== 'string' || !/^[0-9a-fA-F]{32}$/.test(v)) throw new UsageError(`--${name}: must be 32 hexadecimal characters`);
        return v;
      };
      const appId = hex('app-id');
      const certificate = hex('certificate');
      if (certificate && !appId) throw new UsageError('--certificate needs --app-id (the certificate of that project)');
      const registry = new AppRegistry(ctx.store);
      if (appId && (await registry.get(appId))) throw new Refused(`an app with the App ID ${appId} exists already`);
      // An Agora project's App ID without its certificate is an App-ID-only project: no tokens.
      const own = appId ? { certificate: certificate ?? null } : {};
      // Unquoted words are one title: `apps create Team Room` is what an operator means.
      const app = newApp({ appId: appId ?? hex32(), title: ctx.args.join(' '), ...own }, Date.now());
      await registry.put(app);
      ctx.printJson({ appId: app.appId, title: app.title, appCertificate: app.certificate, customerId: app.customerId, customerSecret: app.customerSecret }, true);
    },
  },
  {
    words: ['apps', 'rm'],
    args: 'APP_ID',
    summary: 'remove an app (refused while it runs meetings, unless --force)',
    help: `Removes an app: its customer credentials stop working on every server at once. An app that runs
meetings is not removed (exit 1, saying how many): end them first (rooms close), or give --force to
end them all here, as the server API's DeleteApp does, and then remove the app. Removing the
default app is allowed, but the next server start creates it again with new credentials. Exit 1
when there is no such app.`,
    options: [{ name: 'force', help: 'end the app\'s running meetings first, then remove it' }],
    store: 'existing',
    async run(ctx) {
      const app = await appOf(ctx, ctx.args[0]!);
      const running = await runningMeetings(ctx, app.appId);
      if (running > 0 && !ctx.option('force')) {
        throw new Refused(
          `app ${app.appId} runs ${running} meeting${running === 1 ? '' : 's'}: end ${running === 1 ? 'it' : 'them'} first ` +
            `(rooms ls ${app.appId}, rooms close ${app.appId} ROOM), or give --force to end them and remove the app`,
        );
      }
      let ended = 0;
      if (running > 0) {
        const meeting = await meetingService(ctx);
        for (;;) {
          const { rooms } = await ctx.store.listRooms({ appId: app.appId, activeOnly: false, prefix: '', offset: 0, limit: 100 });
          if (rooms.length === 0) break;
          let progress = 0;
          for (const r of rooms) {
            try {
              await meeting.close(r.roomId);
              ended++;
              progress++;
            } catch (err) {
              // Ended meanwhile (by its host, a server, the empty-room timer): one end is enough.
              if (!(err instanceof RuleError)) throw err;
              if (err.code === 'ended') progress++;
            }
          }
          // A meeting the rules would not end stays listed: say so rather than loop.
          if (progress === 0) throw new Refused(`the meetings of app ${app.appId} could not be ended (see rooms ls ${app.appId}); the app is kept`);
        }
      }
      await new AppRegistry(ctx.store).delete(app.appId);
      ctx.print(`removed app ${app.appId}${ended > 0 ? `; ended ${ended} meeting${ended === 1 ? '' : 's'}` : ''}`);
      if (app.appId === (await defaultAppId(ctx))) {
        process.stderr.write('convene: that was the default app: the next server start creates it again, with new credentials\n');
      }
    },
  },
];
