// Test harness: a real Convene on a real socket (port 0), SQLite in memory unless a data dir is given.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { startConvene } from '../../src/main.ts';
import { MeetingClient, type ClientOptions, type Credentials } from '../../client/agora.ts';

export async function startTestServer(env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'convene-test-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    CONVENE_DATA_DIR: dir,
    CONVENE_DB: ':memory:',
    CONVENE_LOG_LEVEL: 'silent',
    ...env,
  });
  const convene = await startConvene(config);
  const b = convene.bootstrapped;
  const creds: Credentials = { appId: b.appId, customerId: b.customerId, customerSecret: b.customerSecret };
  const opts: ClientOptions = { baseUrl: convene.url, ...creds };
  return {
    ...convene,
    creds,
    opts,
    client: (form?: ClientOptions['form']) => new MeetingClient({ ...opts, form }),
    async close() {
      await convene.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type TestServer = Awaited<ReturnType<typeof startTestServer>>;
