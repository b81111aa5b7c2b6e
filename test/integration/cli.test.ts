// The operator's commands, run as real processes (through npm, npx and node) on the data directory
// of a real server that keeps running: they change what it serves and never start a second one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeetingClient, type Credentials } from '../../client/agora.ts';
import { raw } from '../helpers/qiniu.ts';
import { runConvene, serverOnOwnDir, withoutNpmNoise } from '../helpers/process.ts';

test('apps, keys and rooms commands work beside a running server', async (t) => {
  const { server: srv, env } = await serverOnOwnDir(t, 'convene-cli-');
  const defaultApp: Credentials = { appId: srv.printed('App ID')!, customerId: srv.printed('Customer ID')!, customerSecret: srv.printed('Customer Secret')! };
  const bootKey = srv.printed('Access Key')!;
  const enter = (creds: Credentials, roomUuid: string) =>
    new MeetingClient({ baseUrl: srv.url, ...creds }).enter({ roomName: roomUuid, roomUuid, userName: 'Ann', userUuid: `ann-${roomUuid}` });

  // As documented: `npm start -- apps create TITLE`, while the server holds the data directory.
  const created = await runConvene(['apps', 'create', 'Ops', 'Team'], env, { via: 'npm' });
  assert.equal(created.code, 0, created.stderr + created.stdout);
  const app = JSON.parse(withoutNpmNoise(created.stdout)) as { appId: string; customerId: string; customerSecret: string };
  assert.match(app.appId, /^[0-9a-f]{32}$/);

  // The running server takes the new app within its 2 s app cache, without a restart.
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      await enter(app, 'ops-room');
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await enter(defaultApp, 'default-room');

  const [apps, roomsDefault, roomsOps, keysBefore] = await Promise.all([
    runConvene(['apps', 'ls'], env, { via: 'npx' }),
    runConvene(['rooms', 'ls'], env),
    runConvene(['rooms', 'ls', app.appId], env),
    runConvene(['keys', 'ls'], env),
  ]);
  assert.equal(apps.code, 0, apps.stderr);
  assert.match(apps.stdout, new RegExp(`^${app.appId}  customer ${app.customerId}:${app.customerSecret}  cert [0-9a-f]{32}  Ops Team$`, 'm'));
  assert.match(apps.stdout, new RegExp(`^${defaultApp.appId} `, 'm'));
  // Without APP_ID, rooms ls lists the default app's rooms: the one entered over HTTP.
  assert.equal(roomsDefault.code, 0, roomsDefault.stderr);
  assert.match(roomsDefault.stdout, /^\S+  default-room  online 1  since \d{4}-/m);
  assert.doesNotMatch(roomsDefault.stdout, /ops-room/);
  assert.equal(roomsOps.code, 0, roomsOps.stderr);
  assert.match(roomsOps.stdout, /^\S+  ops-room  online 1  since /m);
  assert.equal(keysBefore.code, 0, keysBefore.stderr);
  assert.match(keysBefore.stdout, new RegExp(`^${bootKey}  created `, 'm'));

  // A key made by the CLI signs admin calls at once; removed, it no longer does.
  const made = await runConvene(['keys', 'create'], env);
  assert.equal(made.code, 0, made.stderr);
  const key = JSON.parse(made.stdout) as { accessKey: string; secretKey: string };
  const listApps = () => raw(srv.port, { method: 'GET', path: '/v3/apps', keys: { ak: key.accessKey, sk: key.secretKey } });
  assert.equal((await listApps()).status, 200);
  const removed = await runConvene(['keys', 'rm', key.accessKey], env);
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(removed.stdout.trim(), `removed ${key.accessKey}`);
  assert.equal((await listApps()).status, 401);
  const [keysAfter, again] = await Promise.all([runConvene(['keys', 'ls'], env), runConvene(['keys', 'rm', key.accessKey], env)]);
  assert.doesNotMatch(keysAfter.stdout, new RegExp(key.accessKey));
  assert.match(keysAfter.stdout, new RegExp(`^${bootKey} `, 'm'));
  assert.equal(again.code, 1);
  assert.match(again.stderr, /no access key/);

  // All along, one server: the first still answers.
  assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
  assert.equal(srv.child.exitCode, null);
});

test('help prints the usage and exits; an unknown command exits 2', async (t) => {
  // A fresh path: if a command served or opened the database, the directory would appear.
  const parent = mkdtempSync(join(tmpdir(), 'convene-cli-help-'));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const env = { CONVENE_DATA_DIR: join(parent, 'data') };
  const [viaNpm, short, word, viaNpx, unknown, extra] = await Promise.all([
    runConvene(['--help'], env, { via: 'npm', timeoutMs: 10_000 }),
    runConvene(['-h'], env, { timeoutMs: 10_000 }),
    runConvene(['help'], env, { timeoutMs: 10_000 }),
    runConvene(['--help'], env, { via: 'npx', timeoutMs: 10_000 }),
    runConvene(['apps', 'frobnicate'], env, { timeoutMs: 10_000 }),
    runConvene(['serve', 'now'], env, { timeoutMs: 10_000 }),
  ]);
  for (const r of [viaNpm, short, word, viaNpx]) {
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^usage: convene \[command\]/m);
    assert.match(r.stdout, /rooms ls \[APP_ID\]/);
    assert.doesNotMatch(r.stdout, /listening/);
  }
  for (const r of [unknown, extra]) {
    assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^usage: convene/m);
  }
  assert.match(unknown.stderr, /^convene: unknown command: apps frobnicate\n/);
  // serve is a command; what follows it is not one of its arguments, and the message says which.
  assert.match(extra.stderr, /^convene: serve: unexpected argument "now"\nusage: convene serve\n/);
  assert.equal(existsSync(env.CONVENE_DATA_DIR), false, 'no command touched the data directory');
});
