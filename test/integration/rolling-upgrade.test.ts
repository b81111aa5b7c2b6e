// A rolling upgrade on one Redis. The previous release (release 0.1.0, PREVIOUS_RELEASE below, taken
// from this repository's history with `git archive`) and this one run side by side with a meeting
// whose members enter, write and hold sockets through both; then the old node is drained (SIGTERM)
// and replaced by this release, as an operator upgrades one node at a time. Nothing acknowledged is
// lost, every socket's log is gap-free and the same on every socket, no member leaves the meeting.
// Then this release meets a deployment in a newer format, and a room written in one: refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { callAgora, MeetingClient } from '../../client/agora.ts';
import { runConvene, spawnServer, type ServerProcess } from '../helpers/process.ts';
import { cleanupPrefix, clusterEnv, redisSkip, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { until } from '../helpers/frames.ts';
import { enterRooms, leftTheRoom, Resuming } from '../helpers/resuming.ts';

/** Release 0.1.0: the last commit before the store format was marked. */
const PREVIOUS_RELEASE = '5ea13eca560b9c2a04c444c2940c921c137bc707';
const root = fileURLToPath(new URL('../..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function releaseSkip(): string | undefined {
  if (spawnSync('git', ['-C', root, 'cat-file', '-e', `${PREVIOUS_RELEASE}^{commit}`]).status === 0) return undefined;
  const why = `the previous release (${PREVIOUS_RELEASE.slice(0, 7)}) is not in this checkout's git history`;
  if (process.env.CONVENE_REQUIRE_SERVICES === '1') test('the previous release is at hand', () => assert.fail(`${why}, and CONVENE_REQUIRE_SERVICES=1`));
  return why;
}

/** The previous release's files in a temporary directory, using this checkout's installed packages. */
function unpackPreviousRelease(): string {
  const dir = mkdtempSync(join(tmpdir(), 'convene-previous-'));
  const tar = execFileSync('git', ['-C', root, 'archive', PREVIOUS_RELEASE], { maxBuffer: 256 * 1024 * 1024 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  if (existsSync(join(root, 'dist'))) symlinkSync(join(root, 'dist'), join(dir, 'dist'));
  return dir;
}

const skip = (await redisSkip()) ?? releaseSkip();
const ROOMS = 2;
const PER_ROOM = 6;

test('the previous release and this one share a meeting on one Redis; the old node is upgraded: nothing lost, no gap, no member leaves', { skip, timeout: 120_000 }, async (t) => {
  const prefix = uniquePrefix();
  const dir = mkdtempSync(join(tmpdir(), 'convene-upgrade-'));
  const previous = unpackPreviousRelease();
  const redis = new Redis(SHARED_REDIS_URL);
  const nodes: ServerProcess[] = [];
  const members: Resuming[] = [];
  t.after(async () => {
    for (const m of members) m.stop();
    await Promise.all(nodes.map((n) => n.kill()));
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
    rmSync(previous, { recursive: true, force: true });
  });
  const creds = { appId: randomBytes(16).toString('hex'), customerId: 'upgrade', customerSecret: randomBytes(12).toString('hex') };
  const keys = { ak: 'upgrade-ak', sk: randomBytes(12).toString('hex') };
  const env = {
    ...clusterEnv({ url: SHARED_REDIS_URL, prefix, dir, creds, keys, graceS: 20, nodeTimeoutS: 5 }),
    CONVENE_RATE_CHAT: '0',
    CONVENE_RATE_REQUESTS: '0',
    CONVENE_DRAIN_SECONDS: '1',
  };
  // The deployment as the previous release made it, then a node of this release beside it.
  nodes.push(await spawnServer(env, { cwd: previous }));
  assert.equal(await redis.hget(`${prefix}meta`, 'format'), null, 'the previous release writes no format marker');
  nodes.push(await spawnServer(env));
  assert.equal(await redis.hget(`${prefix}meta`, 'format'), '1', 'this release marks the deployment with the format it found');

  // Members enter through both nodes in turn and hold their sockets on both.
  const rooms = await enterRooms(nodes, creds, { rooms: ROOMS, perRoom: PER_ROOM, name: 'upgrade', socketNode: (m) => m % 2 });
  members.push(...rooms.flatMap((room) => room.sockets));
  for (const socket of members) await socket.open();

  // Chat and mute-all toggles in every room, through whichever nodes are up, all along.
  let stop = false;
  const acked: { room: number; text: string }[] = [];
  let refused = 0;
  const writing = rooms.map(async (room, r) => {
    for (let n = 0; !stop; n++) {
      const node = nodes[n % nodes.length]!;
      const text = `r${r}-${n}`;
      const chat = await callAgora<any>({ baseUrl: node.url, ...creds }, 'POST', `/${room.roomId}/chat`, { message: text, type: 1 }, room.first.userToken).catch(() => null);
      if (chat?.code === 0) acked.push({ room: r, text });
      else refused++;
      if (n % 5 === 0) await callAgora<any>({ baseUrl: node.url, ...creds }, 'POST', `/${room.roomId}`, { muteAllAudio: (n / 5) % 2 }, room.first.userToken).catch(() => null);
      await sleep(40);
    }
  });
  await sleep(1_000);

  // The upgrade: the old node drains and exits; this release takes its place (another port, as a
  // replaced machine would have); its sockets resume on the other node, later ones on the new one.
  const old = nodes[0]!;
  const exited = new Promise<number | null>((resolve) => old.child.once('exit', (code) => resolve(code)));
  old.child.kill('SIGTERM');
  assert.equal(await exited, 0, `the old node drains and exits 0: ${old.stdout().split('\n').slice(-5).join('\n')}`);
  nodes[0] = await spawnServer(env);
  const late = new MeetingClient({ baseUrl: nodes[0].url, ...creds });
  await late.enter({ roomName: rooms[0]!.roomUuid, roomUuid: rooms[0]!.roomUuid, userName: 'late', userUuid: 'late' });
  rooms[0]!.entered.push('late');
  const lateSocket = new Resuming(nodes, late.userToken, 0);
  members.push(lateSocket);
  rooms[0]!.sockets.push(lateSocket);
  await lateSocket.open();
  await sleep(1_000);
  stop = true;
  await Promise.all(writing);

  const infos = await Promise.all(rooms.map((room) => callAgora<any>({ baseUrl: nodes[0]!.url, ...creds }, 'GET', `/${room.roomId}`, undefined, room.first.userToken)));
  assert.ok(infos.every((r) => r.code === 0), 'the upgraded node reads the rooms the old one wrote');
  const stored = await Promise.all(rooms.map(async (room) => Number(await redis.hget(`${prefix}room:${room.roomId}`, 's'))));
  await until(() => rooms.every((room, r) => room.sockets.every((s) => s.last >= stored[r]!)), 'every socket reached its room\'s last seq', 10_000).catch((err) => {
    const behind = rooms.flatMap((room, r) => room.sockets.filter((s) => s.last < stored[r]!).map((s) => `room ${r}: at ${s.last} of ${stored[r]}, opens ${JSON.stringify(s.opens)}, closes ${JSON.stringify(s.closes)}`));
    throw new Error(`${(err as Error).message}: ${behind.join('; ')}`);
  });
  t.diagnostic(`${acked.length} chats acknowledged (${refused} refused while a node was away); ${members.reduce((n, m) => n + m.closes.length, 0)} socket closes`);

  assert.deepEqual(members.flatMap((m) => m.gaps), [], 'no socket saw a gap');
  for (const [r, room] of rooms.entries()) {
    // Every socket holds the same frame for every seq it saw, and every acknowledged chat.
    const union = new Map<number, string>();
    for (const s of room.sockets) {
      for (const [seq, frame] of s.events) {
        const seen = union.get(seq);
        if (seen === undefined) union.set(seq, frame);
        else assert.equal(frame, seen, `room ${r} seq ${seq}: the same frame on every socket`);
      }
    }
    const frames = [...union.values()].join('\n');
    const missing = acked.filter((a) => a.room === r && !frames.includes(`"${a.text}"`));
    assert.deepEqual(missing, [], `room ${r}: every acknowledged chat reached the sockets`);
    assert.deepEqual(await leftTheRoom(nodes[1]!, creds.appId, keys, room.roomUuid, room.entered), [], `${room.roomUuid}: no member left`);
  }
  assert.ok(lateSocket.events.size > 0, 'the upgraded node serves the meeting');
  assert.equal(await redis.hget(`${prefix}meta`, 'format'), '1');

  // A deployment a newer release has marked: this one refuses to start, in one line.
  await redis.hset(`${prefix}meta`, 'format', '2');
  const refusedStart = await runConvene(['serve'], env, { timeoutMs: 20_000 });
  assert.equal(refusedStart.code, 2, refusedStart.stdout + refusedStart.stderr);
  assert.equal(refusedStart.stderr.trim().split('\n').length, 1, `one line: ${refusedStart.stderr}`);
  assert.match(refusedStart.stderr, /store format 2, written by a newer Convene; this release reads formats 1 to 1: upgrade this node/);
  await redis.hset(`${prefix}meta`, 'format', '1');
});
