// Convene's metadata (domain/metadata.ts) and audit log (domain/audit.ts) through the client API, the
// server API and the socket: who may set what, the 4 KB bound refused in each caller's envelope,
// the values in room info, member pages, snapshots and cmd 130; the search by metadata; every
// moderator action in the audit log once, with its actor, and nothing else; on SQLite and on two
// cluster nodes sharing Redis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedisNodes, startTestServer } from '../helpers/server.ts';
import { redisSkip } from '../helpers/redis.ts';
import { raw } from '../helpers/qiniu.ts';
import { AgoraApiError, MeetingClient, type ClientOptions } from '../../client/agora.ts';
import { RealtimeClient, type RealtimeMessage } from '../../client/realtime.ts';

async function enter(opts: ClientOptions, room: string, name: string, audio = false): Promise<MeetingClient> {
  const c = new MeetingClient(opts);
  await c.enter({ roomName: room, roomUuid: room, userName: name, userUuid: `${room}-${name}`, enableAudio: audio ? 1 : 0 });
  return c;
}

async function socket(opts: ClientOptions, c: MeetingClient): Promise<{ rt: RealtimeClient; seen: RealtimeMessage[] }> {
  const rt = new RealtimeClient({ baseUrl: opts.baseUrl, token: c.userToken, reconnect: false });
  const seen: RealtimeMessage[] = [];
  rt.on((m) => seen.push(m));
  const snapshot = rt.waitFor((m) => m.type === 'snapshot');
  await rt.connect();
  await snapshot;
  return { rt, seen };
}

async function refused(p: Promise<unknown>, code: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof AgoraApiError && e.code === code);
}

const until = async (pred: () => boolean, what: string, ms = 5000) => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** A signed server API call. */
type Server = (method: string, path: string, body?: unknown) => Promise<{ status: number; json: any; body: string; type: string }>;
function serverApi(url: string, keys: { ak: string; sk: string }): Server {
  const port = Number(new URL(url).port);
  return async (method, path, body) => {
    const r = await raw(port, { method, path, keys, body: body === undefined ? undefined : JSON.stringify(body), contentType: body === undefined ? null : 'application/json' });
    return { status: r.status, json: r.json, body: r.body, type: String(r.headers['content-type'] ?? '') };
  };
}

// 2,049 characters, 4,098 bytes of UTF-8: within the schema's characters, over the bytes.
const OVER = 'é'.repeat(2049);
const FULL = 'a'.repeat(4096);

test('metadata: hosts set the room’s and anyone’s, members their own where allowed; room info, pages, snapshots, cmd 130', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const api = serverApi(s.url, { ak: s.bootstrapped.accessKey, sk: s.bootstrapped.secretKey });
  const host = await enter(s.opts, 'md', 'host');
  const [ann, bob] = await Promise.all(['ann', 'bob'].map((n) => enter(s.opts, 'md', n)));
  const as = await socket(s.opts, ann!);
  t.after(() => as.rt.close());

  assert.equal((await host.info()).room.metadata, undefined, 'absent where never set');
  await host.setRoomMetadata({ metadata: 'topic: Q3' });
  await until(() => as.rt.state.room?.metadata === 'topic: Q3', 'ann’s socket is told');
  const told = as.seen.filter((m) => m.type === 'channel' && m.cmd === 130);
  assert.deepEqual(told.map((m) => m.type === 'channel' && m.data), [{ scope: 'room', metadata: 'topic: Q3', selfMetadata: 0 }]);
  assert.equal((await ann!.info()).room.metadata, 'topic: Q3');

  await refused(ann!.setMemberMetadata('seat 4'), 403);
  await refused(ann!.setRoomMetadata({ metadata: 'mine' }), 403);
  await host.setRoomMetadata({ selfMetadata: true });
  await ann!.setMemberMetadata('seat 4');
  await refused(bob!.setMemberMetadata('not yours', ann!.userId), 403);
  await host.setMemberMetadata(FULL, bob!.userId);
  await refused(host.setMemberMetadata('x', 'nobody'), 404);
  // Over 4 KB of UTF-8: refused, nothing changed.
  await refused(host.setRoomMetadata({ metadata: OVER }), 400);
  await refused(ann!.setMemberMetadata(OVER), 400);
  const info = await host.info();
  assert.equal(info.room.metadata, 'topic: Q3');
  assert.equal(info.room.selfMetadata, 1);
  assert.equal((await ann!.info()).user.metadata, 'seat 4');

  const page = await host.page();
  const byId = new Map(page.list.map((m) => [m.userId, m.metadata]));
  assert.deepEqual([byId.get(host.userId), byId.get(ann!.userId), byId.get(bob!.userId)], [undefined, 'seat 4', FULL]);
  // A new socket's snapshot carries them; a later cmd 4 (ann muted) leaves the state's metadata.
  const hs = await socket(s.opts, host);
  t.after(() => hs.rt.close());
  assert.equal(hs.rt.state.room?.metadata, 'topic: Q3');
  assert.equal(hs.rt.state.members.get(ann!.userId)?.metadata, 'seat 4');
  await host.changeUser(ann!.userId, { enableVideo: 0, enableChat: 0 });
  await until(() => hs.rt.state.members.get(ann!.userId)?.enableChat === 0, 'the host sees ann’s chat off');
  assert.equal(hs.rt.state.members.get(ann!.userId)?.metadata, 'seat 4');
  // Channel messages never carry it.
  for (const m of hs.seen) if (m.type === 'channel' && m.cmd === 4) assert.equal((m.data as { metadata?: string }).metadata, undefined);

  // The server API: the room's and a member's (by userUuid), the bound in Qiniu's envelope, the search.
  assert.deepEqual((await api('POST', `/v3/apps/${s.creds.appId}/rooms/md/metadata`, { metadata: 'team-a' })).json, { metadata: 'team-a', selfMetadata: true });
  assert.equal((await api('POST', `/v3/apps/${s.creds.appId}/rooms/md/users/md-bob/metadata`, { metadata: 'b' })).status, 200);
  const over = await api('POST', `/v3/apps/${s.creds.appId}/rooms/md/metadata`, { metadata: OVER });
  assert.equal(over.status, 400);
  assert.match(over.json.error, /4096 bytes/);
  assert.equal((await api('POST', `/v3/apps/${s.creds.appId}/rooms/md/users/nobody/metadata`, { metadata: 'b' })).status, 612);
  assert.equal((await api('POST', `/v3/apps/${s.creds.appId}/rooms/none/metadata`, { metadata: 'b' })).status, 615);
  await until(() => hs.rt.state.members.get(bob!.userId)?.metadata === 'b', 'the host sees bob’s new metadata');
  const other = await enter(s.opts, 'md-other', 'host');
  await other.setRoomMetadata({ metadata: 'team-a' });
  await enter(s.opts, 'md-plain', 'host');
  assert.deepEqual((await api('GET', `/v3/apps/${s.creds.appId}/rooms?metadata=team-a`)).json, { end: true, offset: 2, rooms: ['md', 'md-other'] });
  assert.deepEqual((await api('GET', `/v3/apps/${s.creds.appId}/rooms?metadata=team-a&limit=1`)).json, { end: false, offset: 1, rooms: ['md'] });
  assert.deepEqual((await api('GET', `/v3/apps/${s.creds.appId}/rooms?metadata=team-b`)).json, { end: true, offset: 0, rooms: [] });
});

type Row = [action: string, actor: string, target: string | null];

/**
 * Every moderator action once, among members' own doings that are not, by hosts on `nodeOf(i)`'s
 * nodes and the server API: returns the rows the audit log must hold, in order.
 */
async function moderate(opts: (i: number) => ClientOptions, api: Server, appId: string, room: string, ak: string): Promise<{ rows: Row[]; roomId: string }> {
  const host = await enter(opts(0), room, 'host');
  const ann = await enter(opts(1), room, 'ann', true);
  const bob = await enter(opts(0), room, 'bob');
  const cat = await enter(opts(1), room, 'cat');
  // Members' own doings: none of them is in the log.
  await ann.chat('hello');
  await bob.changeUser(bob.userId, { enableVideo: 1 });
  await bob.raiseHand();
  await host.changeUser(host.userId, { enableVideo: 1 });
  await host.setRoomMetadata({ selfMetadata: true });
  await cat.setMemberMetadata('cat’s own');
  const key = `key:${ak}`;
  const rows: Row[] = [['room.metadata', host.userId, null]];
  await host.changeUser(ann.userId, { enableAudio: 0 });
  rows.push(['member.audio', host.userId, ann.userId]);
  await host.changeUser(bob.userId, { enableChat: 0, enableVideo: 0 });
  rows.push(['member.video', host.userId, bob.userId], ['member.chat', host.userId, bob.userId]);
  await host.changeRoom({ muteAllAudio: 1 });
  rows.push(['room.muteAudio', host.userId, null]);
  await host.changeRoom({ muteAllChat: 1 });
  rows.push(['room.muteChat', host.userId, null]);
  await host.changeRoom({ locked: 1 });
  rows.push(['room.lock', host.userId, null]);
  await host.setMemberMetadata('seat 1', ann.userId);
  rows.push(['member.metadata', host.userId, ann.userId]);
  await host.kick(cat.userId, 60);
  rows.push(['member.kick', host.userId, cat.userId]);
  await host.transferHost(ann.userId);
  rows.push(['host.transfer', host.userId, ann.userId]);
  assert.equal((await api('POST', `/v3/apps/${appId}/rooms/${room}/lock`, { locked: false })).status, 200);
  rows.push(['room.lock', key, null]);
  assert.equal((await api('DELETE', `/v3/apps/${appId}/rooms/${room}/users/${room}-bob`)).status, 200);
  rows.push(['member.kick', key, bob.userId]);
  assert.equal((await api('POST', `/v3/apps/${appId}/rooms/${room}/metadata`, { metadata: 'tagged' })).status, 200);
  rows.push(['room.metadata', key, null]);
  await host.exit();
  await ann.changeRoom({ state: 0 });
  rows.push(['room.end', ann.userId, null]);
  return { rows, roomId: host.roomId };
}

async function checkAudit(api: Server, appId: string, room: string, roomId: string, rows: Row[], ak: string): Promise<void> {
  const log = await api('GET', `/v3/apps/${appId}/rooms/${room}/audit?roomId=${roomId}&limit=1000`);
  assert.equal(log.status, 200, log.body);
  const got = log.json.entries.map((e: any) => [e.action, e.actor.kind === 'server' ? e.actor.by : e.actor.userId, e.target?.userId ?? null]);
  assert.deepEqual(got, rows, 'every moderator action once, in order, and nothing else');
  assert.deepEqual(log.json.entries.map((e: any) => e.n), rows.map((_, i) => i + 1));
  const kick = log.json.entries.find((e: any) => e.action === 'member.kick' && e.actor.kind === 'member');
  assert.ok(kick.after.bannedUntil > kick.at, 'the ban is recorded');
  const mute = log.json.entries.find((e: any) => e.action === 'member.audio');
  assert.deepEqual([mute.before, mute.after, mute.actor.role], [{ audio: true }, { audio: false }, 'host']);
  const locks = await api('GET', `/v3/apps/${appId}/rooms/${room}/audit?roomId=${roomId}&action=room.lock`);
  assert.deepEqual(locks.json.entries.map((e: any) => e.after), [{ locked: true }, { locked: false }]);
  const byKey = await api('GET', `/v3/apps/${appId}/rooms/${room}/audit?roomId=${roomId}&actor=key:${ak}&offset=1&limit=1`);
  assert.deepEqual([byKey.json.total, byKey.json.entries.map((e: any) => e.action)], [3, ['member.kick']]);
  const lines = await api('GET', `/v3/apps/${appId}/rooms/${room}/audit?roomId=${roomId}&format=jsonl`);
  assert.match(lines.type, /application\/x-ndjson/);
  assert.deepEqual(lines.body.trimEnd().split('\n').map((l) => JSON.parse(l).n), rows.map((_, i) => i + 1));
  assert.equal((await api('GET', `/v3/apps/${appId}/rooms/${room}/audit?roomId=${roomId}&action=nothing`)).status, 400);
  assert.equal((await api('GET', `/v3/apps/${appId}/rooms/${room}/audit?roomId=elsewhere`)).status, 612);
  assert.equal((await api('GET', `/v3/apps/${appId}/rooms/${room}/audit`)).status, 615, 'no running meeting');
}

test('the audit log holds every moderator action once, with its actor, and nothing else', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const { accessKey: ak, secretKey: sk } = s.bootstrapped;
  const api = serverApi(s.url, { ak, sk });
  const { rows, roomId } = await moderate(() => s.opts, api, s.creds.appId, 'au', ak);
  await checkAudit(api, s.creds.appId, 'au', roomId, rows, ak);
});

test('two cluster nodes on Redis: metadata and the audit log are one across nodes', { skip: await redisSkip(), timeout: 60_000 }, async (t) => {
  const { nodes, opts: on } = await startRedisNodes(t, 2);
  const { accessKey: ak, secretKey: sk, appId } = nodes[0]!.bootstrapped;
  const apis = nodes.map((n) => serverApi(n.url, { ak, sk }));
  // Metadata set through one node reaches a socket on the other, and the other's search finds it.
  const host = await enter(on(nodes[0]!), 'mdc', 'host');
  const ann = await enter(on(nodes[1]!), 'mdc', 'ann');
  const as = await socket(on(nodes[1]!), ann);
  t.after(() => as.rt.close());
  await host.setRoomMetadata({ metadata: 'cluster' });
  await until(() => as.rt.state.room?.metadata === 'cluster', 'the socket on the other node is told');
  assert.deepEqual((await apis[1]!('GET', `/v3/apps/${appId}/rooms?metadata=cluster`)).json.rooms, ['mdc']);
  // Moderation through both nodes (the server API's through the second); the log read through either.
  const { rows, roomId } = await moderate((i) => on(nodes[i % 2]!), apis[1]!, appId, 'auc', ak);
  for (const api of apis) await checkAudit(api, appId, 'auc', roomId, rows, ak);
});

test('the lobby’s moderation in the audit log: its settings, each admission, a denial with its reason, a member sent back', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const api = serverApi(s.url, { ak: s.bootstrapped.accessKey, sk: s.bootstrapped.secretKey });
  const host = await enter(s.opts, 'al', 'host');
  await host.setLobby({ on: 1 });
  const knock = async (name: string) => {
    const c = new MeetingClient(s.opts);
    await c.enter({ roomName: 'al', roomUuid: 'al', userName: name, userUuid: `al-${name}` }, { wait: true });
    assert.equal(c.waiting, true);
    return c;
  };
  const [ann, bob, cat, dan] = [await knock('ann'), await knock('bob'), await knock('cat'), await knock('dan')];
  await host.admit([ann.userId]);
  await host.deny(bob.userId, 'not on the list');
  assert.equal((await api('POST', `/v3/apps/${s.creds.appId}/rooms/al/lobby/admit`, { users: ['al-cat'] })).status, 200);
  await host.sendToLobby(ann.userId);
  // Turning it off admits those waiting (dan, ann): each admission is recorded.
  await host.setLobby({ on: 0 });
  const log = await api('GET', `/v3/apps/${s.creds.appId}/rooms/al/audit`);
  const rows = log.json.entries.map((e: any) => [e.action, e.actor.kind === 'server' ? e.actor.by : e.actor.userId, e.target?.userId ?? null]);
  const key = `key:${s.bootstrapped.accessKey}`;
  assert.deepEqual(rows.slice(0, 5), [
    ['lobby.settings', host.userId, null],
    ['lobby.admit', host.userId, ann.userId],
    ['lobby.deny', host.userId, bob.userId],
    ['lobby.admit', key, cat.userId],
    ['lobby.back', host.userId, ann.userId],
  ]);
  assert.deepEqual(rows.slice(5, 6), [['lobby.settings', host.userId, null]]);
  assert.deepEqual(rows.slice(6).map((r: string[]) => r[2]).sort(), [ann.userId, dan.userId].sort());
  assert.ok(rows.slice(6).every((r: string[]) => r[0] === 'lobby.admit' && r[1] === host.userId));
  assert.deepEqual(log.json.entries[2].after, { waiting: false, reason: 'not on the list' });
});

test('breakout steps in the audit log: open, a host’s move, extend, message, close; not a member’s own choice, not the timer', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const api = serverApi(s.url, { ak: s.bootstrapped.accessKey, sk: s.bootstrapped.secretKey });
  const host = await enter(s.opts, 'ab', 'host');
  const ann = await enter(s.opts, 'ab', 'ann');
  const bob = await enter(s.opts, 'ab', 'bob');
  const round = await host.openBreakouts({ rooms: ['one', 'two'], assignment: 'choose', durationSeconds: 600 });
  const [one, two] = round.rooms!;
  await ann.moveToBreakout(ann.userId, one!.roomId); // her own choice: no moderation
  await host.moveToBreakout(bob.userId, two!.roomId);
  await host.extendBreakouts(60);
  await host.messageBreakouts('five minutes left');
  assert.equal((await api('DELETE', `/v3/apps/${s.creds.appId}/rooms/ab/breakouts`)).status, 200);
  const log = await api('GET', `/v3/apps/${s.creds.appId}/rooms/ab/audit?limit=1000`);
  const key = `key:${s.bootstrapped.accessKey}`;
  const rows = log.json.entries.map((e: any) => [e.action, e.actor.kind === 'server' ? e.actor.by : e.actor.userId, e.target?.userId ?? null]);
  assert.deepEqual(rows, [
    ['breakouts.open', host.userId, null],
    ['breakouts.move', host.userId, bob.userId],
    ['breakouts.extend', host.userId, null],
    ['breakouts.message', host.userId, null],
    ['breakouts.close', key, null],
  ]);
  const [open, move, extend] = log.json.entries;
  assert.deepEqual(open.after.round.rooms, ['one', 'two']);
  assert.equal(open.before.round, null);
  assert.deepEqual(move.after, { room: two!.roomId });
  assert.equal(extend.after.round.endsAt - extend.before.round.endsAt, 60_000);
});
