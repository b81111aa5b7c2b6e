// `convene [serve] | apps ls | apps create | keys … | rooms ls | help` — the program's entry (npm
// start, bin/convene.js). Apart from serve, the commands work on the configured store directly
// (the SQLite file, or the cluster's Redis when REDIS_URL is set), safe while servers run (SQLite
// WAL lets a second process read and write; servers read apps and keys from the store on every
// request): they take no server lock and load none of the server's modules.
import { loadConfig, ConfigError, type Config } from './config.ts';
import { AppRegistry, newApp, hex32 } from './service/apps.ts';
import type { RoomStore } from './store/store.ts';
import { OperationalError } from './ops/errors.ts';
import { openStore } from './ops/store.ts';
import { isProgram } from './ops/entry.ts';
import { MeetingService } from './service/meeting.ts';
import { LocalBus } from './bus/local.ts';
import type { Room } from './domain/room.ts';
import { RuleError } from './domain/rules.ts';
import { MAX_BAN_SECONDS } from './domain/commands.ts';

export const USAGE = `usage: convene [command]
  (from the project directory: npm start -- [command], or npx convene [command])

  serve                 start the service (the default when no command is given)
  apps ls               list apps with their customer credentials
  apps create [TITLE]   create an app for the client API and print its credentials
  keys ls               list admin access keys
  keys create           add an admin key pair (several may be active: rotate, then remove the old)
  keys rm ACCESS_KEY    remove an admin key
  rooms ls [APP_ID]     list running rooms of an app (default: the default app)
  rooms kick APP_ID ROOM_UUID USER_UUID [BAN_SECONDS]
                        remove a member; with BAN_SECONDS it may not enter again for that long
  rooms lock APP_ID ROOM_UUID     no new entries (members inside stay)
  rooms unlock APP_ID ROOM_UUID   entries allowed again
  help                  show this text (also -h, --help)

The commands use the server's database (CONVENE_DATA_DIR, default ./data, or CONVENE_DB), or the
cluster's Redis (REDIS_URL, CONVENE_REDIS_PREFIX), and may run while servers run; they never start
one. Kick and lock go through the same rules as the APIs; members' sockets hear of them within
about two seconds (the servers find the change in the room's log).`;

interface Command {
  words: [string, string];
  /** Arguments after the two words: [min, max]. */
  args: [number, number];
  /** Reads only: a missing database is a mistake, not something to create. */
  reads: boolean;
  run(store: RoomStore, args: string[], config: Config): Promise<number>;
}

const COMMANDS: Command[] = [
  {
    words: ['apps', 'ls'],
    args: [0, 0],
    reads: true,
    async run(store) {
      for (const a of await new AppRegistry(store).list(null)) {
        console.log(`${a.appId}  customer ${a.customerId}:${a.customerSecret}  cert ${a.certificate ?? '-'}  ${a.title}`);
      }
      return 0;
    },
  },
  {
    words: ['apps', 'create'],
    args: [0, Infinity],
    reads: false,
    async run(store, args) {
      // Unquoted words are one title: `apps create Team Room` is what an operator means.
      const app = newApp({ appId: hex32(), title: args.join(' ') }, Date.now());
      await new AppRegistry(store).put(app);
      console.log(JSON.stringify({ appId: app.appId, appCertificate: app.certificate, customerId: app.customerId, customerSecret: app.customerSecret }, null, 2));
      return 0;
    },
  },
  {
    words: ['keys', 'ls'],
    args: [0, 0],
    reads: true,
    async run(store) {
      for (const k of await new AppRegistry(store).listAccessKeys()) console.log(`${k.accessKey}  created ${new Date(k.createdAt).toISOString()}`);
      return 0;
    },
  },
  {
    words: ['keys', 'create'],
    args: [0, 0],
    reads: false,
    async run(store) {
      const k = await new AppRegistry(store).createAccessKey();
      console.log(JSON.stringify({ accessKey: k.accessKey, secretKey: k.secretKey }, null, 2));
      return 0;
    },
  },
  {
    words: ['keys', 'rm'],
    args: [1, 1],
    reads: true,
    async run(store, [accessKey]) {
      if (!(await new AppRegistry(store).deleteAccessKey(accessKey!))) {
        console.error(`convene: no access key ${accessKey}: see keys ls`);
        return 1;
      }
      console.log(`removed ${accessKey}`);
      return 0;
    },
  },
  {
    words: ['rooms', 'ls'],
    args: [0, 1],
    reads: true,
    async run(store, [given], config) {
      // The same default app the server uses: CONVENE_APP_ID, else the id it stored on first start.
      const appId = given ?? config.bootstrap.appId ?? (await store.getMeta('defaultAppId'));
      if (!appId) {
        console.error('convene: there is no default app yet (the server creates it on first start): give APP_ID (see apps ls)');
        return 2;
      }
      const limit = 1000;
      for (let offset = 0; ; offset += limit) {
        const { rooms, total } = await store.listRooms({ appId, activeOnly: false, prefix: '', offset, limit });
        for (const r of rooms) console.log(`${r.roomId}  ${r.roomUuid}  online ${r.online}  since ${new Date(r.startTime).toISOString()}`);
        if (offset + limit >= total) return 0;
      }
    },
  },
  {
    words: ['rooms', 'kick'],
    args: [3, 4],
    reads: true,
    async run(store, [appId, roomUuid, userUuid, banText]) {
      if (banText !== undefined && !(/^\d{1,9}$/.test(banText) && Number(banText) <= MAX_BAN_SECONDS)) {
        console.error(`convene: BAN_SECONDS must be a number of seconds from 0 to ${MAX_BAN_SECONDS} (30 days)`);
        return 2;
      }
      return inRoom(store, appId!, roomUuid!, async (meeting, room) => {
        const member = room.members.find((m) => m.present && m.userUuid === userUuid);
        if (!member) {
          console.error(`convene: no member ${userUuid} in room ${roomUuid}`);
          return 2;
        }
        await meeting.execute(room.roomId, { type: 'kick', actor: null, target: member.userId, banMs: Number(banText ?? 0) * 1000 });
        console.log(`removed ${userUuid} from ${roomUuid}${banText ? `; banned for ${banText} s` : ''}`);
        return 0;
      });
    },
  },
  ...(['lock', 'unlock'] as const).map(
    (verb): Command => ({
      words: ['rooms', verb],
      args: [2, 2],
      reads: true,
      async run(store, [appId, roomUuid]) {
        return inRoom(store, appId!, roomUuid!, async (meeting, room) => {
          await meeting.execute(room.roomId, { type: 'lockRoom', locked: verb === 'lock' });
          console.log(`${roomUuid} ${verb}ed`);
          return 0;
        });
      },
    }),
  ),
];

/**
 * Run a command on the running meeting `roomUuid` of `appId` through the one write path. Its events
 * are in the room's log; the servers deliver them from there (see service/feed.ts).
 */
async function inRoom(store: RoomStore, appId: string, roomUuid: string, work: (meeting: MeetingService, room: Room) => Promise<number>): Promise<number> {
  const meeting = new MeetingService({ store, bus: new LocalBus() });
  const room = await meeting.runningRoom(appId, roomUuid);
  if (!room) {
    console.error(`convene: no running meeting ${roomUuid} in app ${appId} (see rooms ls ${appId})`);
    return 2;
  }
  try {
    return await work(meeting, room);
  } catch (err) {
    // What the rules refuse (the meeting ended meanwhile, …) is an answer, not a failure.
    if (!(err instanceof RuleError)) throw err;
    console.error(`convene: ${err.message}`);
    return 2;
  }
}

const HELP = new Set(['help', '-h', '--help']);

export async function runCli(args: string[]): Promise<number> {
  if (args.length === 1 && HELP.has(args[0]!)) {
    console.log(USAGE);
    return 0;
  }
  const [noun, verb, ...rest] = args;
  const command = COMMANDS.find((c) => c.words[0] === noun && c.words[1] === verb && rest.length >= c.args[0] && rest.length <= c.args[1]);
  if (!command) {
    console.error(`convene: unknown command: ${args.join(' ')}\n${USAGE}`);
    return 2;
  }
  let config: Config;
  let store: RoomStore;
  try {
    config = loadConfig();
    if (config.dbPath === ':memory:') throw new OperationalError('CONVENE_DB=:memory: holds no data for a command to use: unset it, or set CONVENE_DATA_DIR to the server\'s data directory');
    store = await openStore(config, { mustExist: command.reads });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    if (err instanceof OperationalError) {
      console.error(`convene: ${err.message}`);
      return 2;
    }
    throw err;
  }
  try {
    return await command.run(store, rest, config);
  } finally {
    await store.close();
  }
}

/** `convene [command]`: serves when no command is given (src/main.ts), otherwise runs it. */
export async function runConvene(args: string[]): Promise<void> {
  if (args.length === 0 || (args.length === 1 && args[0] === 'serve')) {
    const { serve } = await import('./main.ts');
    return serve();
  }
  process.exitCode = await runCli(args);
}

if (isProgram(import.meta.url)) await runConvene(process.argv.slice(2));
