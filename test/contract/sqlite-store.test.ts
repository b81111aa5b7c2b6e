import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { sharedStoreContract, storeContract } from './store-contract.ts';

storeContract('sqlite :memory:', async (opts) => new SqliteStore({ path: ':memory:', ...opts }));

const dir = mkdtempSync(join(tmpdir(), 'convene-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let i = 0;
storeContract('sqlite file', async (opts) => new SqliteStore({ path: join(dir, `s${i++}.db`), ...opts }));

// Two connections on one file, as the server and an operator's CLI (or two processes) see it.
sharedStoreContract('sqlite two connections', async () => {
  const path = join(dir, `shared${i++}.db`);
  return [new SqliteStore({ path }), new SqliteStore({ path })];
});
