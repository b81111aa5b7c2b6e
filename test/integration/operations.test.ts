// Running the real process as an operator does: what they can fix is reported in one line (exit
// 2), one server per database, and SIGTERM/SIGINT through `npm start` stop the server cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadConfig } from '../../src/config.ts';
import { lockDatabase } from '../../src/ops/lock.ts';
import {
  descendants,
  freePort,
  isAlive,
  isPortFree,
  killQuietly,
  runConvene,
  spawnServer,
  type Finished,
  type ServerProcess,
} from '../helpers/process.ts';

function tempDir(t: { after: (fn: () => void) => void }, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `convene-${name}-`));
  // Readable by the unprivileged user of the permission cases.
  chmodSync(dir, 0o755);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Exactly one line on stderr, `convene: …`, no stack trace, exit code 2, nothing served. */
function assertOneLine(r: Finished, pattern: RegExp): void {
  const shown = `exit ${r.code}${r.timedOut ? ' (still running: killed)' : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, 2, shown);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, shown);
  assert.match(lines[0]!, /^convene: /, shown);
  assert.match(lines[0]!, pattern, shown);
  assert.doesNotMatch(r.stderr, /^\s+at /m, shown);
  assert.equal(r.stdout, '', shown);
}

// Root ignores file permissions: as root, the permission cases run the server as `nobody`, for
// whom a root-owned directory or file really is read-only (as for a service user in production).
const unprivileged = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

test('operational errors: one line naming the thing, exit 2, no stack', { concurrency: 2 }, async (t) => {
  const serve = (env: Record<string, string>, spawn = {}, timeoutMs = 15_000) => runConvene(['serve'], env, { via: 'main', spawn, timeoutMs });
  const cases: Promise<void>[] = [];

  cases.push(t.test('port in use', async (t) => {
    const dir = tempDir(t, 'port');
    const port = await freePort();
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    t.after(() => holder.close());
    const r = await serve({ CONVENE_DATA_DIR: dir, PORT: String(port) });
    assertOneLine(r, new RegExp(`port ${port} is already in use: stop the other process or set PORT to a free port$`));
  }));

  cases.push(t.test('Redis that does not answer (cluster mode)', async (t) => {
    const dir = tempDir(t, 'redis');
    const port = await freePort();
    // The server gives Redis 10 s to come up (ops/store.ts) before it says so: a loaded CI machine,
    // on a fresh clone (tsx compiling everything), needs more than the other cases' 15 s in all.
    const r = await serve({ CONVENE_DATA_DIR: dir, REDIS_URL: `redis://127.0.0.1:${port}` }, {}, 30_000);
    assertOneLine(r, new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port} is unreachable \\(ECONNREFUSED\\): start it, or fix REDIS_URL`));
  }));

  cases.push(t.test('HOST that does not resolve', async (t) => {
    const dir = tempDir(t, 'host');
    const r = await serve({ CONVENE_DATA_DIR: dir, HOST: 'no-such-host.invalid' });
    assertOneLine(r, /HOST "no-such-host\.invalid" does not resolve to an address: set HOST to an IP address/);
  }));

  cases.push(t.test('data directory that is a file', async (t) => {
    const file = join(tempDir(t, 'dirfile'), 'data');
    writeFileSync(file, 'not a directory');
    const r = await serve({ CONVENE_DATA_DIR: file });
    assertOneLine(r, new RegExp(`data directory ${file} is not a directory: set CONVENE_DATA_DIR`));
  }));

  cases.push(t.test('data directory that is not writable', async (t) => {
    const dir = join(tempDir(t, 'rodir'), 'data');
    mkdirSync(dir, { mode: 0o555 });
    const r = await serve({ CONVENE_DATA_DIR: dir }, unprivileged);
    assertOneLine(r, new RegExp(`data directory ${dir} is not writable \\(permission denied\\): give the user running Convene write access`));
  }));

  cases.push(t.test('data directory in a file system that takes no files (/proc)', async () => {
    // Not writable even for root: the case that needs no other user.
    const r = await serve({ CONVENE_DATA_DIR: '/proc/self' });
    assertOneLine(r, /data directory \/proc\/self is not writable: /);
  }));

  cases.push(t.test('database that is a directory', async (t) => {
    const dir = tempDir(t, 'dbdir');
    mkdirSync(join(dir, 'convene.db'));
    const r = await serve({ CONVENE_DATA_DIR: dir });
    assertOneLine(r, new RegExp(`database ${dir}/convene.db is a directory: set CONVENE_DB to a file path`));
  }));

  cases.push(t.test('database file that is not SQLite', async (t) => {
    const dir = tempDir(t, 'notadb');
    writeFileSync(join(dir, 'convene.db'), 'These are the minutes of the last meeting, not a database.\n'.repeat(20));
    const r = await serve({ CONVENE_DATA_DIR: dir });
    assertOneLine(r, new RegExp(`database ${dir}/convene.db is not a SQLite database: move it away`));
  }));

  cases.push(t.test('database file that is read-only', async (t) => {
    const dir = join(tempDir(t, 'rodb'), 'data');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const db = new Database(join(dir, 'convene.db'));
    db.exec('CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    db.close();
    chmodSync(join(dir, 'convene.db'), 0o444);
    const r = await serve({ CONVENE_DATA_DIR: dir }, unprivileged);
    assertOneLine(r, new RegExp(`database ${dir}/convene.db is read-only \\(permission denied\\): give the user running Convene write access to it`));
  }));
  await Promise.all(cases);
});

test('one server per data directory; the lock of a killed server is taken over', async (t) => {
  const dir = tempDir(t, 'lock');
  const env = { CONVENE_DATA_DIR: dir };
  const servers: ServerProcess[] = [];
  t.after(async () => {
    for (const s of servers) await s.kill();
  });
  const first = await spawnServer(env);
  servers.push(first);

  const second = await runConvene(['serve'], env, { via: 'main', timeoutMs: 15_000 });
  assertOneLine(second, new RegExp(`database ${dir}/convene.db is already served by another Convene server \\(pid ${first.child.pid} on host .+\\): stop it first.*cluster mode: set REDIS_URL on each\\)`));
  assert.equal((await fetch(`${first.url}/healthz`)).status, 200, 'the first keeps serving');

  // SIGKILL leaves the lock file behind, but nobody holds it any more.
  await first.kill('SIGKILL');
  const third = await spawnServer(env);
  servers.push(third);
  assert.match(third.stdout(), /^Default app:/m, 'the same database, not a new one');
  assert.equal(third.printed('App ID'), first.printed('App ID'));

  // SIGTERM straight to node stops it cleanly and frees the database for the next server.
  const exit = new Promise<number | null>((resolve) => third.child.once('exit', (code) => resolve(code)));
  third.child.kill('SIGTERM');
  assert.equal(await exit, 0);
  const lock = lockDatabase(loadConfig(env));
  assert.ok(lock, 'the lock was released');
  lock.release();
});

/** Starts `npm start`, signals it as given, and checks that the whole tree ended cleanly. */
async function stopThroughNpm(t: { after: (fn: () => void | Promise<void>) => void }, detached: boolean, signal: (npm: ServerProcess) => void) {
  const dir = tempDir(t, 'signal');
  const env = { CONVENE_DATA_DIR: dir };
  const npm = await spawnServer(env, { via: 'npm', detached });
  const tree = descendants(npm.child.pid!);
  t.after(() => {
    for (const pid of [npm.child.pid!, ...tree]) killQuietly(pid);
  });
  assert.ok(tree.length > 0, 'npm started the server as its child');
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => npm.child.once('exit', (code, sig) => resolve([code, sig])));
  signal(npm);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`npm did not exit:\n${npm.stdout()}`)), 10_000)));
  const [code, sig] = await Promise.race([exited, late]).finally(() => clearTimeout(timer));
  for (let i = 0; i < 50 && tree.some(isAlive); i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(tree.filter(isAlive), [], 'no process of the tree outlives npm');
  assert.ok(await isPortFree(npm.port), `port ${npm.port} is free`);
  assert.deepEqual([code, sig], [0, null], `npm ended cleanly:\n${npm.stdout()}`);
  const lock = lockDatabase(loadConfig(env));
  assert.ok(lock, 'the lock was released');
  lock.release();
}

test('SIGTERM to `npm start` stops the server cleanly: no orphan keeps the port', async (t) => {
  await stopThroughNpm(t, false, (npm) => npm.child.kill('SIGTERM'));
});

test('Ctrl-C on `npm start` (SIGINT to its process group) stops the server cleanly', async (t) => {
  // Node gets the terminal's SIGINT and npm forwards another one: the second must not cut the stop short.
  await stopThroughNpm(t, true, (npm) => process.kill(-npm.child.pid!, 'SIGINT'));
});
