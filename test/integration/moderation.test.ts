// Moderation: lock a room (no new entries; members inside stay) and kick with a ban (the user may
// not enter again for a while, not even with a RoomToken), through the client API (host), the
// server API, and the CLI; each pushed to the members and kept in the room's log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { qiniu, qiniuServer, raw, realtimeClose } from '../helpers/qiniu.ts';
import { runConvene, spawnServer } from '../helpers/process.ts';
import { RealtimeClient, type RealtimeMessage } from '../../client/realtime.ts';
import { callAgora, MeetingClient, type ClientOptions } from '../../client/agora.ts';

type Channel = Extract<RealtimeMessage, { type: 'channel' }>;
const isCmd = (cmd: number) => (m: RealtimeMessage): m is Channel => m.type === 'channel' && m.cmd === cmd;

async function watch(baseUrl: string, token: string, since?: number) {
  const rt = new RealtimeClient({ baseUrl, token, reconnect: false, since });
  const seen: RealtimeMessage[] = [];
  rt.on((m) => seen.push(m));
  await rt.connect();
  return { rt, seen };
}

const entryBody = (userUuid: string) => ({ roomName: 'Mod', roomUuid: 'mod', userName: userUuid, userUuid, role: 'participant' });

test('the host locks and unlocks the room; a kick with a ban keeps the user out, also with a RoomToken', async (t) => {
  const { s, port, cred } = await qiniuServer(t);
  const host = s.client();
  await host.enter({ roomName: 'Mod', roomUuid: 'mod', userName: 'Host', userUuid: 'host' });
  const ann = s.client();
  await ann.enter({ roomName: 'Mod', roomUuid: 'mod', userName: 'Ann', userUuid: 'ann' });
  const dan = s.client();
  await dan.enter({ roomName: 'Mod', roomUuid: 'mod', userName: 'Dan', userUuid: 'dan' });
  const w = await watch(s.url, ann.userToken);
  t.after(() => w.rt.close());

  // Lock: pushed as a room change (cmd 3, locked 1); no new entries; a member inside may re-enter.
  const locked = w.rt.waitFor(isCmd(3));
  assert.equal((await callAgora(s.opts, 'POST', `/${host.roomId}`, { locked: 1 }, host.userToken)).code, 0);
  assert.equal(((await locked).data as { locked: number }).locked, 1);
  assert.equal((await host.info()).room.locked, 1, 'room info says locked');
  const refused = await callAgora(s.opts, 'POST', '/entry', entryBody('bob'));
  assert.equal(refused.code, 1008, JSON.stringify(refused));
  // A RoomToken on the realtime channel does not pass the lock either, and says why.
  const eveToken = qiniu.room.getRoomToken({ appId: s.bootstrapped.appId, roomName: 'mod', userId: 'eve', expireAt: Math.floor(Date.now() / 1000) + 3600, permission: 'user' }, cred);
  assert.deepEqual(await realtimeClose(s.url, eveToken), { code: 4423, reason: 'the room is locked: no new entries' });
  assert.equal((await callAgora(s.opts, 'POST', '/entry', entryBody('dan'))).code, 0, 'a member inside may enter again');
  const participant = await callAgora(s.opts, 'POST', `/${host.roomId}`, { locked: 0 }, ann.userToken);
  assert.equal(participant.code, 403, 'only the host locks and unlocks');
  const unlocked = w.rt.waitFor((m) => isCmd(3)(m) && (m.data as { locked: number }).locked === 0);
  assert.equal((await callAgora(s.opts, 'POST', `/${host.roomId}`, { locked: 0 }, host.userToken)).code, 0);
  await unlocked;
  const bob = await callAgora<{ roomId: string; userToken: string }>(s.opts, 'POST', '/entry', entryBody('bob'));
  assert.equal(bob.code, 0);

  // Kick with a ban: cmd 8 says until when; bob cannot come back, with credentials or a RoomToken.
  const bobId = (await callAgora<any>(s.opts, 'GET', `/${host.roomId}`, undefined, bob.data!.userToken)).data.user.userId;
  const kicked = w.rt.waitFor(isCmd(8));
  const before = Date.now();
  assert.equal((await callAgora(s.opts, 'POST', `/${host.roomId}/user/${bobId}/exit`, { ban: 600 }, host.userToken)).code, 0);
  const until = ((await kicked).data as { bannedUntil: number; userId: string }).bannedUntil;
  assert.ok(until >= before + 600_000 && until <= Date.now() + 600_000, `bannedUntil ${until}`);
  const again = await callAgora(s.opts, 'POST', '/entry', entryBody('bob'));
  assert.equal(again.code, 1009, JSON.stringify(again));
  assert.match(again.msg, /may not enter again before/);
  const bad = await callAgora(s.opts, 'POST', `/${host.roomId}/user/${bobId}/exit`, { ban: -1 }, host.userToken);
  assert.equal(bad.code, 400, 'a ban is a number of seconds');

  const roomToken = qiniu.room.getRoomToken({ appId: s.bootstrapped.appId, roomName: 'mod', userId: 'bob', expireAt: Math.floor(Date.now() / 1000) + 3600, permission: 'user' }, cred);
  const auth = await raw(port, { method: 'GET', path: `/v3/apps/${s.bootstrapped.appId}/rooms/mod/auth?user=bob&token=${encodeURIComponent(roomToken)}`, auth: null, contentType: null });
  assert.equal(auth.status, 403);
  assert.equal(auth.json.error, 'user is banned');
  const viaToken = await fetch(`${s.url}/apps/${s.bootstrapped.appId}/v1/room/entry`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...entryBody('bob'), roomToken }),
  });
  assert.equal(((await viaToken.json()) as { code: number }).code, 1009, 'a RoomToken does not pass a ban');
  const wsBanned = await realtimeClose(s.url, roomToken);
  assert.equal(wsBanned.code, 4424, wsBanned.reason);
  assert.equal(wsBanned.reason, `removed from this meeting: may enter again at ${new Date(until).toISOString()}`);
  // Another user is not affected.
  assert.equal((await callAgora(s.opts, 'POST', '/entry', entryBody('cat'))).code, 0);

  // Both are in the log: a resume from the start replays them.
  const replay = await watch(s.url, ann.userToken, 0);
  t.after(() => replay.rt.close());
  for (let i = 0; i < 100 && !replay.seen.some(isCmd(8)); i++) await new Promise((r) => setTimeout(r, 20));
  const logged = replay.seen.filter((m) => isCmd(3)(m) || isCmd(8)(m)).map((m) => [(m as Channel).cmd, (m as Channel).data]);
  assert.deepEqual(
    logged.map(([cmd, d]) => (cmd === 3 ? `lock ${(d as { locked: number }).locked}` : `kick ban ${(d as { bannedUntil: number }).bannedUntil > 0}`)),
    ['lock 1', 'lock 0', 'kick ban true'],
  );
});

test('the server API locks a room and kicks with a ban; answers in its own envelope', async (t) => {
  const { s, port, keys } = await qiniuServer(t);
  const appId = s.bootstrapped.appId;
  const host = s.client();
  await host.enter({ roomName: 'Mod', roomUuid: 'mod', userName: 'Host', userUuid: 'host' });
  const bob = s.client();
  await bob.enter({ roomName: 'Mod', roomUuid: 'mod', userName: 'Bob', userUuid: 'bob' });
  const w = await watch(s.url, host.userToken);
  t.after(() => w.rt.close());

  const lockedMsg = w.rt.waitFor(isCmd(3));
  const lock = await raw(port, { method: 'POST', path: `/v3/apps/${appId}/rooms/mod/lock`, body: JSON.stringify({ locked: true }), keys });
  assert.equal(lock.status, 200, lock.body);
  assert.deepEqual(lock.json, { locked: true });
  assert.equal(((await lockedMsg).data as { locked: number }).locked, 1);
  assert.equal((await callAgora(s.opts, 'POST', '/entry', entryBody('zed'))).code, 1008);
  const noRoom = await raw(port, { method: 'POST', path: `/v3/apps/${appId}/rooms/nope/lock`, body: '{}', keys });
  assert.equal(noRoom.status, 615);
  const unlock = await raw(port, { method: 'POST', path: `/v3/apps/${appId}/rooms/mod/lock`, body: JSON.stringify({ locked: false }), keys });
  assert.equal(unlock.status, 200);
  assert.equal((await callAgora(s.opts, 'POST', '/entry', entryBody('zed'))).code, 0);

  const kickedMsg = w.rt.waitFor(isCmd(8));
  const kick = await raw(port, { method: 'DELETE', path: `/v3/apps/${appId}/rooms/mod/users/bob?ban=120`, keys });
  assert.equal(kick.status, 200, kick.body);
  const k = (await kickedMsg).data as { hostUserId: string; bannedUntil: number };
  assert.equal(k.hostUserId, '', 'removed by the server');
  assert.ok(k.bannedUntil > Date.now() + 100_000);
  assert.equal((await callAgora(s.opts, 'POST', '/entry', entryBody('bob'))).code, 1009);
  const badBan = await raw(port, { method: 'DELETE', path: `/v3/apps/${appId}/rooms/mod/users/zed?ban=soon`, keys });
  assert.equal(badBan.status, 400);
  assert.match(badBan.json.error, /ban must be a number of seconds/);
});

test('the CLI locks, unlocks and kicks with a ban beside a running server; sockets hear of it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'convene-mod-'));
  const env = { CONVENE_DATA_DIR: dir, CONVENE_PRESENCE_EXPIRY: 'off' };
  const server = await spawnServer(env);
  t.after(async () => {
    await server.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });
  const appId = server.printed('App ID')!;
  const opts: ClientOptions = { baseUrl: server.url, appId, customerId: server.printed('Customer ID')!, customerSecret: server.printed('Customer Secret')! };
  const host = new MeetingClient(opts);
  await host.enter({ roomName: 'Mod', roomUuid: 'mod', userName: 'Host', userUuid: 'host' });
  const bob = new MeetingClient(opts);
  await bob.enter({ roomName: 'Mod', roomUuid: 'mod', userName: 'Bob', userUuid: 'bob' });
  const w = await watch(server.url, host.userToken);
  t.after(() => w.rt.close());

  const lockedMsg = w.rt.waitFor(isCmd(3), 5_000);
  const lock = await runConvene(['rooms', 'lock', appId, 'mod'], env);
  assert.equal(lock.code, 0, lock.stderr);
  assert.equal(((await lockedMsg).data as { locked: number }).locked, 1, 'pushed to the server\'s sockets');
  assert.equal((await callAgora(opts, 'POST', '/entry', entryBody('zed'))).code, 1008, 'the server refuses entries at once');
  assert.equal((await runConvene(['rooms', 'unlock', appId, 'mod'], env)).code, 0);
  assert.equal((await callAgora(opts, 'POST', '/entry', entryBody('zed'))).code, 0);

  const kickedMsg = w.rt.waitFor(isCmd(8), 5_000);
  const kick = await runConvene(['rooms', 'kick', appId, 'mod', 'bob', '300'], env);
  assert.equal(kick.code, 0, kick.stderr);
  assert.ok(((await kickedMsg).data as { bannedUntil: number }).bannedUntil > Date.now());
  assert.equal((await callAgora(opts, 'POST', '/entry', entryBody('bob'))).code, 1009);
  const missing = await runConvene(['rooms', 'kick', appId, 'mod', 'nobody'], env);
  assert.equal(missing.code, 1, 'not there: exit 1 (2 is for usage)');
  assert.match(missing.stderr, /no member nobody in room mod/);
});
