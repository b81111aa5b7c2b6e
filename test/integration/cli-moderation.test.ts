// The command line's moderation beside a running server on SQLite: a lobby's knocks admitted and
// denied, metadata set, rooms show with the lobby, the metadata and the breakouts, and the audit log
// exported — each recorded as `cli`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeetingClient, type ClientOptions } from '../../client/agora.ts';
import { runConvene, serverOnOwnDir, type Finished } from '../helpers/process.ts';

const convene = (args: string[], env: Record<string, string>) => runConvene(args, env, { via: 'bin' });

function ok(r: Finished, what: string): string {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
  return r.stdout;
}

test('rooms admit, deny, metadata, show and audit beside a running server', { timeout: 120_000 }, async (t) => {
  const { server, env } = await serverOnOwnDir(t, 'convene-cli-mod-');
  const appId = server.printed('App ID')!;
  const opts: ClientOptions = { baseUrl: server.url, appId, customerId: server.printed('Customer ID')!, customerSecret: server.printed('Customer Secret')! };
  const host = new MeetingClient(opts);
  await host.enter({ roomName: 'Desk', roomUuid: 'desk', userName: 'Ann', userUuid: 'ann' });
  await host.setLobby({ on: 1 });
  const knock = async (name: string) => {
    const c = new MeetingClient(opts);
    await c.enter({ roomName: 'Desk', roomUuid: 'desk', userName: name, userUuid: name.toLowerCase() }, { wait: true });
    return c;
  };
  const bob = await knock('Bob');
  await knock('Cat');

  const shown = JSON.parse(ok(await convene(['rooms', 'show', appId, 'desk', '--json'], env), 'rooms show')) as any;
  assert.deepEqual(shown.lobby.waiting.map((k: any) => k.userUuid), ['bob', 'cat']);
  assert.equal(shown.breakouts, null);
  assert.equal((await convene(['rooms', 'admit', appId, 'desk', 'nobody'], env)).code, 1, 'not waiting');
  assert.match(ok(await convene(['rooms', 'admit', appId, 'desk', 'bob'], env), 'rooms admit'), /admitted bob/);
  assert.match(ok(await convene(['rooms', 'deny', appId, 'desk', 'cat', 'full today'], env), 'rooms deny'), /denied cat/);
  assert.deepEqual((await bob.info()).user.userUuid, 'bob', 'bob is in the meeting');

  ok(await convene(['rooms', 'metadata', appId, 'desk', 'topic: hiring'], env), 'rooms metadata');
  ok(await convene(['rooms', 'metadata', appId, 'desk', 'seat 3', '--user', 'bob'], env), 'rooms metadata --user');
  const over = await convene(['rooms', 'metadata', appId, 'desk', 'x'.repeat(4097)], env);
  assert.equal(over.code, 1);
  assert.match(over.stderr, /4096 bytes/);
  assert.equal((await host.info()).room.metadata, 'topic: hiring');
  const after = JSON.parse(ok(await convene(['rooms', 'show', appId, 'desk', '--json'], env), 'rooms show')) as any;
  assert.equal(after.metadata, 'topic: hiring');
  assert.equal(after.members.find((m: any) => m.userUuid === 'bob').metadata, 'seat 3');

  const lines = ok(await convene(['rooms', 'audit', appId, 'desk', '--jsonl'], env), 'rooms audit --jsonl').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((e) => [e.action, e.actor.kind === 'server' ? e.actor.by : e.actor.userUuid]), [
    ['lobby.settings', 'ann'],
    ['lobby.admit', 'cli'],
    ['lobby.deny', 'cli'],
    ['room.metadata', 'cli'],
    ['member.metadata', 'cli'],
  ]);
  const text = ok(await convene(['rooms', 'audit', appId, 'desk', '--actor', 'cli', '--action', 'lobby.deny'], env), 'rooms audit');
  assert.match(text, /^#3 .* lobby\.deny {2}by server \(cli\) on cat "Cat": waiting true → waiting false, reason "full today"$/m);
  assert.equal((await convene(['rooms', 'audit', appId, 'desk', '--action', 'nothing'], env)).code, 2);
});
