// Issue 18, first-run defects met by a person starting Convene: the data directory (the apps'
// secrets and the admin keys are inside) is the owner's alone, and the start line says what the
// server binds (every interface by default, not only 127.0.0.1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { runConvene, spawnServer } from '../helpers/process.ts';
import { listeningLine } from '../../src/main.ts';

const mode = (path: string) => statSync(path).mode & 0o777;

test('a new data directory and its files are readable by their owner only', { timeout: 60_000 }, async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'convene-first-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const dir = join(base, 'nested', 'data');
  const srv = await spawnServer({ CONVENE_DATA_DIR: dir });
  t.after(() => srv.kill());
  // Written to: the WAL files exist too.
  assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
  assert.equal(mode(dir), 0o700, 'the data directory');
  const files = readdirSync(dir);
  for (const f of ['convene.db', 'convene-board.db', 'convene.db.lock']) assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
  for (const f of files) assert.equal(mode(join(dir, f)), 0o600, f);
});

test('the start line says what is bound', { timeout: 60_000 }, async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'convene-bind-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const srv = await spawnServer({ CONVENE_DATA_DIR: base, HOST: '0.0.0.0' });
  t.after(() => srv.kill());
  const line = srv.stdout().split('\n').find((l) => l.startsWith('Convene listening'));
  assert.equal(line, `Convene listening on 0.0.0.0:${srv.port}, every interface (from this machine: http://127.0.0.1:${srv.port}) (pid ${srv.child.pid})`);
  assert.match(listeningLine('127.0.0.1', 'http://127.0.0.1:8080'), /^Convene listening on http:\/\/127\.0\.0\.1:8080 \(pid \d+\)$/);
  assert.match(listeningLine('::', 'http://127.0.0.1:8080'), /^Convene listening on \[::\]:8080, every interface/);
});

test('credentials made by a start that fails (its port taken) are shown by the next start that comes up, then never again', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'convene-unshown-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  t.after(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const failed = await runConvene(['serve'], { CONVENE_DATA_DIR: dir, PORT: String(port), HOST: '127.0.0.1' }, { timeoutMs: 30_000 });
  assert.equal(failed.code, 2, failed.stderr);
  assert.match(failed.stderr, /in use|EADDRINUSE/i);
  assert.doesNotMatch(failed.stdout, /Customer Secret|Secret Key/, 'nothing said by the failed start');

  const second = await spawnServer({ CONVENE_DATA_DIR: dir });
  const out = second.stdout();
  await second.kill('SIGTERM');
  for (const name of ['App ID', 'App Certificate', 'Customer ID', 'Customer Secret', 'Access Key', 'Secret Key']) {
    assert.match(out, new RegExp(`^  ${name}\\s+\\S+$`, 'm'), `${name} shown by the first start that came up`);
  }
  // They are the stored ones: the server accepts them.
  const third = await spawnServer({ CONVENE_DATA_DIR: dir });
  t.after(() => third.kill());
  assert.equal(third.printed('App ID'), second.printed('App ID'));
  assert.equal(third.printed('Customer Secret'), undefined, 'shown once');
  assert.equal(third.printed('Secret Key'), undefined, 'shown once');
  const basic = Buffer.from(`${second.printed('Customer ID')}:${second.printed('Customer Secret')}`).toString('base64');
  const entry = await fetch(`${third.url}/apps/${second.printed('App ID')}/v1/room/entry`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/json' },
    body: JSON.stringify({ roomName: 'R', roomUuid: 'r', userName: 'U', userUuid: 'u' }),
  });
  assert.equal(((await entry.json()) as { code: number }).code, 0, 'the shown credentials work');
});
