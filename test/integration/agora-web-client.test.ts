// What the shipped Agora Meeting Web client (AgoraMeeting_Web, v1) relies on, through Convene's
// HTTP API and socket: the values its own code tests for (stores/room.ts, hooks/use-streams.ts,
// hooks/use-rtm.ts, utils/agora-rtm-client.ts). Each was found by running that code against Convene
// (shared/shipped-clients); here each is checked on the wire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.ts';
import { listen, members, type Frame } from '../helpers/agora-frames.ts';

const channel = (cmd: number) => (f: Frame) => f.type === 'channel' && f.cmd === cmd;

test("Web: createBoardUserId is \"0\" while no board is shared (use-streams shows a main view only then): room info, snapshot, cmd 5 when the board stops", async (t) => {
  const s = await startTestServer();
  t.after(() => s.close());
  const [host, pat] = await members(s, 'web-board', ['Host', 'Pat']);
  const w = await listen(s, host!.userToken);
  t.after(() => w.ws.close());

  assert.equal((await host!.info()).room.createBoardUserId, '0', 'room info before any board');
  assert.equal(w.snapshot().data.room.createBoardUserId, '0', "the socket's snapshot");

  await pat!.board(pat!.userId, 1);
  const start = (await w.until(channel(5))).at(-1)!;
  assert.equal(start.data.createBoardUserId, pat!.userId, 'while shared: its creator');
  assert.equal((await host!.info()).room.createBoardUserId, pat!.userId);

  await pat!.board(pat!.userId, 0);
  const stop = (await w.until(channel(5))).at(-1)!;
  assert.deepEqual(stop.data, { shareBoard: 0, createBoardUserId: '0', shareBoardUsers: [] }, 'cmd 5 after the board stops');
  assert.equal((await host!.info()).room.createBoardUserId, '0', 'room info after the board stops');

  // The creator leaving stops the board too: the same "0".
  await host!.board(host!.userId, 1);
  await w.until(channel(5));
  await pat!.exit();
  await host!.exit();
  const [again] = await members(s, 'web-board', ['Cat']);
  assert.equal((await again!.info()).room.createBoardUserId, '0', 'a board whose creator left');
});

test("Web: a screen share that starts sends the sharer's cmd 4 before cmd 6 (upsertUser lists the wrong sharer otherwise)", async (t) => {
  const s = await startTestServer();
  t.after(() => s.close());
  const [host, pat] = await members(s, 'web-screen', ['Host', 'Pat']);
  const w = await listen(s, host!.userToken);
  t.after(() => w.ws.close());

  await pat!.screen(pat!.userId, 1);
  const started = (await w.until(channel(6))).filter((f) => f.type === 'channel');
  assert.deepEqual(started.map((f) => f.cmd), [4, 6], 'cmd 4, then cmd 6');
  assert.equal(started[0]!.data.userId, pat!.userId);
  assert.equal(started[0]!.data.grantScreen, 1, "cmd 4 carries the sharer's new state");
  assert.deepEqual(started[1]!.data.shareScreenUsers.map((m: { uid: number }) => m.uid), [(await pat!.info()).user.uid]);

  // E16 (the Web client's own call) keeps the order.
  await pat!.screen(pat!.userId, 0);
  await w.until((f) => f.cmd === 4 && f.data.grantScreen === 0);
  const res = await fetch(`${s.url}/apps/${s.creds.appId}/v1/room/${host!.roomId}/screen`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${s.creds.customerId}:${s.creds.customerSecret}`).toString('base64')}`, token: host!.userToken, 'content-type': 'application/json' },
    body: JSON.stringify({ state: 1 }),
  });
  assert.equal(((await res.json()) as { code: number }).code, 0);
  const e16 = (await w.until(channel(6))).filter((f) => f.type === 'channel');
  assert.deepEqual(e16.map((f) => [f.cmd, f.cmd === 4 ? f.data.userId : f.data.shareScreen]), [[4, host!.userId], [6, 1]]);
});

test("Web: the board's owner answers a board application routed to it: E6 type 3 action 2 rejects, action 1 invites, E9 grants", async (t) => {
  const s = await startTestServer();
  t.after(() => s.close());
  const [, owner, applicant] = await members(s, 'web-apply', ['Host', 'Owner', 'Cat']);
  const ow = await listen(s, owner!.userToken);
  const aw = await listen(s, applicant!.userToken);
  t.after(() => (ow.ws.close(), aw.ws.close()));

  await owner!.board(owner!.userId, 1);
  // The Web client names the board's owner (createBoardUserId) when it applies for the board.
  await applicant!.apply(owner!.userId, 3, 1);
  const applied = (await ow.until((f) => f.type === 'peer' && f.cmd === 2)).at(-1)!;
  assert.deepEqual(applied.data, { userId: applicant!.userId, userName: 'Cat', type: 3, action: 1 }, "the owner's application dialog");

  await owner!.invite(applicant!.userId, 3, 2);
  const rejected = (await aw.until((f) => f.type === 'peer' && f.cmd === 1)).at(-1)!;
  assert.deepEqual(rejected.data, { userId: owner!.userId, userName: 'Owner', type: 3, action: 2 }, "the applicant's 'hostReject' dialog");

  await owner!.invite(applicant!.userId, 3, 1);
  const invited = (await aw.until((f) => f.type === 'peer' && f.cmd === 1)).at(-1)!;
  assert.equal(invited.data.action, 1);

  // hostAcceptApply → setGrantBoard: E9 on the applicant.
  await owner!.board(applicant!.userId, 1);
  assert.equal((await applicant!.info()).user.grantBoard, 1);
  // Only for the board, and only while it is the owner's.
  await assert.rejects(owner!.invite(applicant!.userId, 1, 1), { code: 403 });
  await owner!.board(owner!.userId, 0);
  await assert.rejects(owner!.invite(applicant!.userId, 3, 2), { code: 403 });
});

test('Web: uids are unique across the app, not per room (the RTM login is String(uid), app-wide); userId is String(uid)', async (t) => {
  const s = await startTestServer();
  t.after(() => s.close());
  const a = await members(s, 'web-uids-a', ['Ann', 'Bob', 'Cat']);
  const b = await members(s, 'web-uids-b', ['Dan', 'Eve', 'Fay']);
  // The same person (userUuid) in a second room at once is a second member, with uids of its own.
  const annAgain = s.client();
  await annAgain.enter({ roomName: 'web-uids-b', roomUuid: 'web-uids-b', userName: 'Ann', userUuid: 'web-uids-a-Ann' });
  const infos = await Promise.all([...a, ...b, annAgain].map((m) => m.info()));
  const uids = infos.flatMap((i) => [i.user.uid, i.user.screenId]);
  assert.equal(new Set(uids).size, uids.length, `no uid or screenId twice in the app: ${uids.join(',')}`);
  assert.notEqual(infos[0]!.room.roomId, infos[3]!.room.roomId, 'two rooms');
  for (const { user } of infos) {
    assert.equal(user.userId, String(user.uid), 'userId is the uid in decimal');
    assert.equal(user.screenId, user.uid + 1);
  }
  // A returning member keeps its uid.
  const before = infos[1]!.user;
  const [bobAgain] = await members(s, 'web-uids-a', ['Bob']);
  const after = (await bobAgain!.info()).user;
  assert.deepEqual([after.userId, after.uid, after.screenId], [before.userId, before.uid, before.screenId]);
});
