import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { storeContract } from './store-contract.ts';

storeContract('sqlite :memory:', async () => new SqliteStore({ path: ':memory:' }));

const dir = mkdtempSync(join(tmpdir(), 'convene-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let i = 0;
storeContract('sqlite file', async () => new SqliteStore({ path: join(dir, `s${i++}.db`) }));
