// The built-in whiteboard on the realtime socket (board=1): who may draw, one order for everyone,
// erase and clear, the whole board for a late joiner in pages, bad frames and floods refused without
// closing the socket or slowing anyone else, persistence across a restart, two cluster nodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { Redis } from 'ioredis';
import { startRedisNodes, startTestServer } from '../helpers/server.ts';
import { openSocket, type Frame, type TestSocket } from '../helpers/socket.ts';
import { cleanupPrefix, redisSkip, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { MeetingClient } from '../../client/agora.ts';
import { SqliteBoardLog } from '../../src/board/sqlite.ts';
import { RedisBoardLog } from '../../src/board/redis.ts';
import { singleSlice } from '../../src/store/redis/slices.ts';
import type { BoardLog } from '../../src/board/log.ts';
import { boardRetention } from '../../src/board/retention.ts';
import type { Room } from '../../src/domain/room.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function openBoard(baseUrl: string, token: string, query = '&board=1'): Promise<TestSocket> {
  return openSocket(baseUrl, token, query);
}

/** Opened with the member's boardToken (E13) and given the whole board (every boardSnapshot page). */
async function joined(baseUrl: string, member: MeetingClient): Promise<TestSocket> {
  const { boardToken } = await member.boardToken();
  const s = await openBoard(baseUrl, member.userToken, `&board=1&boardToken=${encodeURIComponent(boardToken)}`);
  await s.until(() => {
    const pages = s.of('boardSnapshot');
    return pages.length > 0 && pages.length === pages[0].data.page.total;
  }, 5_000, 'the board snapshot');
  return s;
}

let strokeNo = 0;
function stroke(points = 3, id = `s${++strokeNo}`) {
  return { id, color: '#112233', width: 3, points: Array.from({ length: points }, (_, i) => [i / Math.max(1, points), 0.5]) };
}
const draw = (st = stroke(), ref?: string) => ({ type: 'board', op: 'draw', ...(ref ? { ref } : {}), stroke: st });

/** The whole board a socket sees: its snapshot's strokes with its later ops applied, in order. */
function boardOf(s: TestSocket): string[] {
  let ids: string[] = [];
  for (const f of s.frames) {
    if (f.type === 'boardSnapshot') {
      if (f.data.page.index === 0) ids = [];
      ids.push(...f.data.strokes.map((x: Frame) => x.id));
    } else if (f.type === 'board') {
      if (f.data.op === 'draw') ids.push(f.data.stroke.id);
      if (f.data.op === 'erase') ids = ids.filter((id) => id !== f.data.strokeId);
      if (f.data.op === 'clear') ids = [];
    }
  }
  return ids;
}

async function room(s: { client: () => MeetingClient }, uuid: string, names: string[]) {
  const out: MeetingClient[] = [];
  for (const name of names) {
    const c = s.client();
    await c.enter({ roomName: uuid, roomUuid: uuid, userName: name, userUuid: `${uuid}-${name}` });
    out.push(c);
  }
  return out;
}

test('who may draw, one order for everyone, erase and clear', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const [host, ann, bob] = await room(s, 'draw', ['host', 'ann', 'bob']);
  const [hs, as, bs] = await Promise.all([host!, ann!, bob!].map((c) => joined(s.url, c)));
  t.after(() => Promise.all([hs, as, bs].map((x) => x!.close())));
  for (const x of [hs!, as!, bs!]) {
    assert.equal(x.frames[0].type, 'snapshot', 'the meeting snapshot first');
    const snap = x.of('boardSnapshot');
    assert.deepEqual(snap.map((f) => [f.version, f.boardSeq, f.data.strokes.length, f.data.page]), [[1, 0, 0, { index: 0, total: 1 }]]);
  }

  // Nobody draws before the board is shared, not even the host.
  hs!.send(draw(stroke(), 'early'));
  await hs!.until(() => hs!.of('boardError').length === 1);
  assert.deepEqual(hs!.of('boardError')[0].data.code, 403);
  assert.equal(hs!.of('boardError')[0].data.ref, 'early');
  assert.match(hs!.of('boardError')[0].data.msg, /not shared/);

  await host!.board(host!.userId, 1); // E9: the host starts the board
  const first = stroke(4, 'first');
  hs!.send(draw(first, 'h1'));
  for (const x of [hs!, as!, bs!]) await x.until(() => x.of('board').length === 1, 5_000, 'the first stroke');
  const op = as!.of('board')[0];
  assert.equal(op.boardSeq, 1);
  assert.equal(typeof op.timestamp, 'number');
  assert.deepEqual(op.data, { op: 'draw', by: host!.userId, stroke: first });

  // Ann has no grant: refused, and nothing reaches anyone or the board.
  as!.send(draw(stroke(), 'a1'));
  await as!.until(() => as!.of('boardError').length === 1);
  assert.deepEqual(as!.of('boardError')[0].data, { ref: 'a1', code: 403, msg: as!.of('boardError')[0].data.msg });
  assert.match(as!.of('boardError')[0].data.msg, /granted/);
  await sleep(100);
  assert.equal(bs!.of('board').length, 1, 'a refused op reaches nobody');
  const late1 = await joined(s.url, bob!);
  assert.deepEqual(boardOf(late1), ['first'], 'nothing stored for a refused op');
  await late1.close();

  await host!.board(ann!.userId, 1); // E9: the host grants Ann
  // Host and Ann draw at once: every socket gets the same ops in the same contiguous boardSeq order.
  for (let i = 0; i < 8; i++) {
    hs!.send(draw(stroke(2, `h-${i}`)));
    as!.send(draw(stroke(2, `a-${i}`)));
  }
  for (const x of [hs!, as!, bs!]) await x.until(() => x.of('board').length === 17, 5_000, '17 ops');
  const seqs = (x: TestSocket) => x.of('board').map((f) => `${f.boardSeq}:${f.data.stroke?.id}`);
  assert.deepEqual(seqs(as!), seqs(hs!));
  assert.deepEqual(seqs(bs!), seqs(hs!));
  assert.deepEqual(bs!.of('board').map((f) => f.boardSeq), Array.from({ length: 17 }, (_, i) => i + 1), 'gap-free, increasing');
  assert.deepEqual(bs!.of('board').filter((f) => f.data.by === ann!.userId).map((f) => f.data.stroke.id), Array.from({ length: 8 }, (_, i) => `a-${i}`), "Ann's in her order");

  // Erase (any drawer may), then refusals that change nothing: unknown id, duplicate id.
  as!.send({ type: 'board', op: 'erase', ref: 'e1', strokeId: 'first' });
  as!.send({ type: 'board', op: 'erase', ref: 'e2', strokeId: 'first' });
  as!.send(draw(stroke(2, 'h-0'), 'dup'));
  await as!.until(() => as!.of('boardError').length === 3);
  assert.deepEqual(as!.of('boardError').slice(1).map((f) => [f.data.ref, f.data.code]), [['e2', 400], ['dup', 400]]);
  for (const x of [hs!, as!, bs!]) await x.until(() => x.of('board').length === 18);
  assert.deepEqual(bs!.of('board')[17].data, { op: 'erase', by: ann!.userId, strokeId: 'first' });
  assert.equal(bs!.of('board')[17].boardSeq, 18);

  const late2 = await joined(s.url, bob!);
  assert.deepEqual(late2.of('boardSnapshot')[0].boardSeq, 18);
  assert.deepEqual(boardOf(late2), boardOf(bs!), 'a late joiner sees what the others see');
  assert.equal(boardOf(late2).length, 16);
  await late2.close();

  // Revoking takes effect at once (checked per op against the room, not a token).
  await host!.board(ann!.userId, 0);
  as!.send(draw(stroke(), 'after-revoke'));
  await as!.until(() => as!.of('boardError').some((f) => f.data.ref === 'after-revoke'));
  assert.equal(as!.of('boardError').find((f) => f.data.ref === 'after-revoke').data.code, 403);

  hs!.send({ type: 'board', op: 'clear' });
  for (const x of [hs!, as!, bs!]) await x.until(() => x.of('board').at(-1)?.data.op === 'clear');
  assert.deepEqual(boardOf(bs!), []);
  const late3 = await joined(s.url, bob!);
  assert.deepEqual(late3.of('boardSnapshot').map((f) => [f.boardSeq, f.data.strokes.length]), [[19, 0]], 'cleared: nothing left to send');
  await late3.close();
  // The meeting's own messages are untouched: nobody got a meeting frame for a stroke.
  assert.ok(bs!.frames.every((f) => f.type !== 'channel' || f.cmd !== undefined));
});

test('a late joiner gets the whole board in pages of 100, then the live ops', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_BOARD_RATE: '0' });
  t.after(() => s.close());
  const [host, bob] = await room(s, 'pages', ['host', 'bob']);
  await host!.board(host!.userId, 1);
  const hs = await joined(s.url, host!);
  t.after(() => hs.close());
  const ids = Array.from({ length: 250 }, (_, i) => `p${i}`);
  for (const id of ids) hs.send(draw(stroke(20, id)));
  await hs.until(() => hs.of('board').length === 250, 10_000, '250 strokes');

  const late = await joined(s.url, bob!);
  t.after(() => late.close());
  const pages = late.of('boardSnapshot');
  assert.deepEqual(pages.map((p) => [p.boardSeq, p.data.page.index, p.data.page.total, p.data.strokes.length]), [
    [250, 0, 3, 100],
    [250, 1, 3, 100],
    [250, 2, 3, 50],
  ]);
  assert.deepEqual(boardOf(late), ids, 'every stroke, in drawing order');
  assert.equal(pages[0].data.strokes[0].by, host!.userId);
  assert.deepEqual(Object.keys(pages[0].data.strokes[0]).sort(), ['by', 'color', 'id', 'points', 'width']);
  const snapAt = late.frames.findIndex((f) => f.type === 'snapshot');
  assert.ok(snapAt >= 0 && snapAt < late.frames.findIndex((f) => f.type === 'boardSnapshot'), 'the meeting snapshot comes first');
  hs.send(draw(stroke(2, 'live')));
  await late.until(() => late.of('board').length === 1);
  assert.equal(late.of('board')[0].boardSeq, 251);
});

test('bad frames are refused one by one, the socket stays open; a frame over 32 KiB closes with 1009', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const [host, ann] = await room(s, 'junk', ['host', 'ann']);
  await host!.board(host!.userId, 1);
  const hs = await joined(s.url, host!);
  t.after(() => hs.close());
  const cases: [unknown, number, RegExp][] = [
    ['not json', 400, /not JSON/],
    [{ type: 'subscribe' }, 400, /unknown message type/],
    [[1, 2], 400, /object/],
    [{ type: 'board', op: 'paint', ref: 'r' }, 400, /op must be/],
    [draw({ ...stroke(), color: 'red' }, 'r'), 400, /color/],
    [draw({ ...stroke(), width: 51 }, 'r'), 400, /width/],
    [draw({ ...stroke(), id: 'has space' }, 'r'), 400, /id/],
    [draw({ ...stroke(), points: [] }, 'r'), 400, /points/],
    [draw({ ...stroke(), points: [[0.5, 1.5]] }, 'r'), 400, /0 to 1/],
    [draw({ ...stroke(), extra: 1 } as never, 'r'), 400, /unknown field/],
    [{ type: 'board', op: 'clear', ref: 'x'.repeat(41) }, 400, /ref/],
    [draw(stroke(501), 'big'), 413, /500 points/],
    [Buffer.from([1, 2, 3]), 400, /binary/],
  ];
  // Sent in small groups: the rate (20 a second with a burst of 20) is not what this test is about.
  for (const [frame] of cases) hs.send(frame);
  await hs.until(() => hs.of('boardError').length === cases.length, 5_000, 'one answer per bad frame');
  hs.of('boardError').forEach((f, i) => {
    assert.equal(f.data.code, cases[i]![1], `case ${i}: ${JSON.stringify(cases[i]![0]).slice(0, 80)}`);
    assert.match(f.data.msg, cases[i]![2], `case ${i}`);
  });
  assert.equal(hs.of('boardError')[11].data.ref, 'big');
  assert.equal(hs.ws.readyState, WebSocket.OPEN, 'still open');
  assert.equal(hs.of('board').length, 0, 'nothing was drawn');
  // A 500-point stroke at full precision fits in a frame, and the socket still draws.
  const full = { id: 'full', color: '#abcdef', width: 50, points: Array.from({ length: 500 }, () => [Math.random(), Math.random()]) };
  assert.ok(JSON.stringify(draw(full)).length > 4096 * 4);
  hs.send(draw(full));
  await hs.until(() => hs.of('board').length === 1);
  assert.equal(hs.of('board')[0].data.stroke.points.length, 500);

  hs.send('x'.repeat(32 * 1024 + 1));
  await hs.until(() => hs.closeCode !== null, 5_000, 'the close');
  assert.equal(hs.closeCode, 1009);
  // A socket without board=1 is the send-only socket of before: 4 KiB, frames ignored.
  const plain = await openBoard(s.url, host!.userToken, '');
  plain.send(draw(stroke()));
  await sleep(100);
  assert.deepEqual(plain.frames.map((f) => f.type), ['snapshot'], 'no board frames for a socket that did not ask');
  plain.send('x'.repeat(5000));
  await plain.until(() => plain.closeCode !== null);
  assert.equal(plain.closeCode, 1009);
  const bad = await openBoard(s.url, host!.userToken, '&board=yes');
  await bad.until(() => bad.closeCode !== null);
  assert.equal(bad.closeCode, 4400);
  // The board is authorized by the member's own boardToken: none, a forged one, or another
  // member's is refused (4401); the member's own is accepted (every test above uses it).
  const others = (await ann!.boardToken()).boardToken;
  for (const [why, query] of [
    ['no boardToken', '&board=1'],
    ['a forged boardToken', '&board=1&boardToken=e30.forged'],
    ["another member's boardToken", `&board=1&boardToken=${encodeURIComponent(others)}`],
  ]) {
    const refused = await openBoard(s.url, host!.userToken, query!);
    await refused.until(() => refused.closeCode !== null, 5_000, why);
    assert.equal(refused.closeCode, 4401, why);
  }
});

test('a flood is cut at the rate with 429, without closing the socket or slowing the room for others', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_BOARD_RATE: '20' });
  t.after(() => s.close());
  const [host, ann] = await room(s, 'flood', ['host', 'ann']);
  await host!.board(host!.userId, 1);
  const hs = await joined(s.url, host!);
  const as = await joined(s.url, ann!);
  t.after(() => Promise.all([hs.close(), as.close()]));

  // Ann's room info while the host floods: 1,500 draws of 500 points and 1,500 junk frames.
  const latencies: number[] = [];
  let flooding = true;
  const probe = (async () => {
    while (flooding) {
      const t0 = performance.now();
      await ann!.info();
      latencies.push(performance.now() - t0);
      await sleep(5);
    }
  })();
  // Encoded beforehand: the server under test runs in this process, and the probe should time it, not the encoding.
  const frames = Array.from({ length: 1500 }, (_, i) => JSON.stringify(draw(stroke(500, `f${i}`), `f${i}`)));
  const t0 = Date.now();
  for (let i = 0; i < 1500; i++) {
    hs.send(frames[i]);
    hs.send('{"junk":');
    if (i % 50 === 49) await sleep(2);
  }
  await hs.until(() => hs.of('boardError').length + hs.of('board').length >= 3000, 20_000, 'an answer to every frame');
  const elapsed = (Date.now() - t0) / 1000;
  flooding = false;
  await probe;
  const accepted = hs.of('board').length;
  const limited = hs.of('boardError').filter((f) => f.data.code === 429);
  // A burst of 20, then 20 a second (junk frames count too).
  assert.ok(accepted >= 10 && accepted <= 20 + 20 * elapsed + 2, `${accepted} accepted in ${elapsed.toFixed(1)} s`);
  assert.ok(limited.length >= 3000 - 2 * (20 + 20 * elapsed) - 2, `${limited.length} refused with 429`);
  assert.match(limited[0].data.msg, /at most 20 per second/);
  assert.ok(limited.some((f) => f.data.ref?.startsWith('f')), 'the ref comes back on a 429 too');
  assert.equal(hs.ws.readyState, WebSocket.OPEN, 'the flooder is not cut off');
  // The others' copies travel beside the flooder's echoes: the last may still be on its way.
  await as.until(() => as.of('board').length >= accepted, 5_000, 'the accepted ops at the others');
  await sleep(50);
  assert.equal(as.of('board').length, accepted, 'the others got exactly the accepted ops');
  latencies.sort((a, b) => a - b);
  const median = latencies[Math.floor(latencies.length / 2)]!;
  assert.ok(latencies.length >= 10, `${latencies.length} probes`);
  assert.ok(median < 50, `room info median ${median.toFixed(1)} ms during the flood (all: ${latencies.map((l) => l.toFixed(0)).join(' ')})`);

  // After a second the member may draw again.
  await sleep(1_100);
  hs.send(draw(stroke(2, 'again'), 'again'));
  await as.until(() => as.of('board').at(-1)?.data.stroke?.id === 'again');
});

test('strokes persist across a restart, in a board file next to the database', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'convene-board-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { CONVENE_DB: join(dir, 'convene.db'), CONVENE_PRESENCE_EXPIRY: 'off' };
  let s = await startTestServer(env);
  const [host] = await room(s, 'persist', ['host']);
  await host!.board(host!.userId, 1);
  let hs = await joined(s.url, host!);
  for (const id of ['k1', 'k2', 'k3']) hs.send(draw(stroke(5, id)));
  hs.send({ type: 'board', op: 'erase', strokeId: 'k2' });
  await hs.until(() => hs.of('board').length === 4);
  await hs.close();
  await s.close();
  if (process.env.CONVENE_TEST_BACKEND !== 'redis') assert.ok(existsSync(join(dir, 'convene-board.db')), 'the board has its own file');

  s = await startTestServer(env);
  t.after(() => s.close());
  // The same member on the restarted server (its port is new).
  (host!.opts as { baseUrl: string }).baseUrl = s.url;
  hs = await joined(s.url, host!);
  t.after(() => hs.close());
  assert.deepEqual(boardOf(hs), ['k1', 'k3']);
  assert.equal(hs.of('boardSnapshot')[0].boardSeq, 4);
  hs.send(draw(stroke(2, 'k4')));
  await hs.until(() => hs.of('board').length === 1);
  assert.equal(hs.of('board')[0].boardSeq, 5, 'the sequence goes on');
});

const redisLog = async (): Promise<BoardLog | string> => {
  const why = await redisSkip();
  if (why) return why;
  const redis = new Redis(SHARED_REDIS_URL);
  const prefix = uniquePrefix();
  const log = new RedisBoardLog(redis, singleSlice(prefix));
  return Object.assign(Object.create(log) as BoardLog, {
    close: async () => {
      await cleanupPrefix(redis, prefix);
      redis.disconnect();
    },
  });
};

for (const [name, open] of [
  ['SQLite', async () => new SqliteBoardLog(':memory:')],
  ['Redis', redisLog],
] as [string, () => Promise<BoardLog | string>][]) test(`a board goes with its meeting (${name}): purged with the ended room by retention, kept while it runs`, async (t) => {
  const log = await open();
  if (typeof log === 'string') return t.skip(log);
  const rooms = new Map<string, Partial<Room>>([
    ['ended', { ended: true, endedAt: 1_000 }],
    ['recent', { ended: true, endedAt: 9_000 }],
    ['running', { ended: false, endedAt: null }],
  ]);
  for (const id of ['ended', 'recent', 'running', 'purged']) {
    assert.equal((await log.append(id, { at: 500, by: 'u', op: 'draw', stroke: { id: 'x', color: '#000000', width: 1, points: [[0, 0]] } }, 10)).ok, true);
  }
  const purge = boardRetention(log, { room: async (id) => (rooms.get(id) as Room | undefined) ?? null }, () => 10_000);
  await purge.purgeEnded(5_000, 2);
  await purge.purgeEnded(5_000, 2);
  const heads = Object.fromEntries(await Promise.all(['ended', 'recent', 'running', 'purged'].map(async (id) => [id, (await log.head(id)).strokes])));
  assert.deepEqual(heads, { ended: 0, recent: 1, running: 1, purged: 0 });
  assert.deepEqual(await log.strokes('ended', 0, 10, 10), []);
  // The recent one is due when its meeting is: at the next look past 9,000.
  await purge.purgeEnded(9_500, 10);
  assert.equal((await log.head('recent')).strokes, 0);
  assert.equal((await log.head('running')).strokes, 1);
  await log.close();
});

test('two cluster nodes on Redis: a stroke drawn on A reaches B in order; a late joiner on B gets the board', { skip: await redisSkip(), timeout: 60_000 }, async (t) => {
  const { nodes, opts: on, prefix, redis } = await startRedisNodes(t, 2, { CONVENE_BOARD_RATE: '0' });
  const [A, B] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  const host = new MeetingClient(on(A));
  await host.enter({ roomName: 'c', roomUuid: 'c', userName: 'host', userUuid: 'c-host' });
  const bob = new MeetingClient(on(B));
  await bob.enter({ roomName: 'c', roomUuid: 'c', userName: 'bob', userUuid: 'c-bob' });
  await host.board(host.userId, 1);
  await host.board(bob.userId, 1);
  const ha = await joined(A.url, host);
  const bb = await joined(B.url, bob);
  t.after(() => Promise.all([ha.close(), bb.close()]));

  // Both draw at once, each on its own node: both sockets see one sequence.
  for (let i = 0; i < 60; i++) {
    ha.send(draw(stroke(10, `A${i}`)));
    bb.send(draw(stroke(10, `B${i}`)));
  }
  for (const x of [ha, bb]) await x.until(() => x.of('board').length === 120, 10_000, '120 ops on both nodes');
  const order = (x: TestSocket) => x.of('board').map((f) => `${f.boardSeq}:${f.data.stroke.id}`);
  assert.deepEqual(order(bb), order(ha));
  assert.deepEqual(bb.of('board').map((f) => f.boardSeq), Array.from({ length: 120 }, (_, i) => i + 1));
  ha.send({ type: 'board', op: 'erase', strokeId: 'B0' });
  await bb.until(() => bb.of('board').length === 121);
  assert.deepEqual(bb.of('board')[120].data, { op: 'erase', by: host.userId, strokeId: 'B0' });

  // A late joiner on B gets the whole board, as A's sockets see it.
  const late = await joined(B.url, bob);
  t.after(() => late.close());
  assert.equal(late.of('boardSnapshot')[0].boardSeq, 121);
  assert.deepEqual(late.of('boardSnapshot').map((p) => p.data.page), [{ index: 0, total: 2 }, { index: 1, total: 2 }]);
  assert.deepEqual(boardOf(late), boardOf(ha));
  assert.equal(boardOf(late).length, 119);
  // Nothing under the meeting's keys: the board lives under board:<roomId>.
  const keys = await redis.keys(`${prefix}board:*`);
  assert.ok(keys.length >= 3, keys.join(','));
});
