// `convene serve | apps ls | apps create | keys ls | rooms ls APP_ID` — operator commands that work
// on the data directory directly (safe while the server runs: SQLite WAL allows a second reader).
import { loadConfig } from './config.ts';
import { SqliteStore } from './store/sqlite/store.ts';
import { AppRegistry, newApp, hex32 } from './service/apps.ts';

const USAGE = `usage: npm start -- <command>
  serve                 start the service (default)
  apps ls               list apps with their customer credentials
  apps create [TITLE]   create an app for the client API
  keys ls               list admin access keys
  keys create           add an admin key pair (several may be active: rotate, then remove the old)
  keys rm ACCESS_KEY    remove an admin key
  rooms ls APP_ID       list running rooms of an app`;

export async function runCli(args: string[]): Promise<number> {
  const config = loadConfig();
  const store = new SqliteStore({ path: config.dbPath });
  const apps = new AppRegistry(store);
  try {
    const [noun, verb, arg] = args;
    if (noun === 'apps' && verb === 'ls') {
      for (const a of await apps.list(null)) {
        console.log(`${a.appId}  customer ${a.customerId}:${a.customerSecret}  cert ${a.certificate ?? '-'}  ${a.title}`);
      }
      return 0;
    }
    if (noun === 'apps' && verb === 'create') {
      const app = newApp({ appId: hex32(), title: arg ?? '' }, Date.now());
      await apps.put(app);
      console.log(JSON.stringify({ appId: app.appId, appCertificate: app.certificate, customerId: app.customerId, customerSecret: app.customerSecret }, null, 2));
      return 0;
    }
    if (noun === 'keys' && verb === 'ls') {
      for (const k of await apps.listAccessKeys()) console.log(`${k.accessKey}  created ${new Date(k.createdAt).toISOString()}`);
      return 0;
    }
    if (noun === 'keys' && verb === 'create') {
      const k = await apps.createAccessKey();
      console.log(JSON.stringify({ accessKey: k.accessKey, secretKey: k.secretKey }, null, 2));
      return 0;
    }
    if (noun === 'keys' && verb === 'rm' && arg) {
      const removed = await apps.deleteAccessKey(arg);
      console.log(removed ? `removed ${arg}` : `no key ${arg}`);
      return removed ? 0 : 1;
    }
    if (noun === 'rooms' && verb === 'ls' && arg) {
      const { rooms } = await store.listRooms({ appId: arg, activeOnly: false, prefix: '', offset: 0, limit: 1000 });
      for (const r of rooms) console.log(`${r.roomId}  ${r.roomUuid}  online ${r.online}  since ${new Date(r.startTime).toISOString()}`);
      return 0;
    }
    console.error(USAGE);
    return 2;
  } finally {
    await store.close();
  }
}
