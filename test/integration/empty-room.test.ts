// A meeting nobody is in ends after the empty-room TTL, unless someone enters first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.ts';

test('an empty room ends after CONVENE_EMPTY_ROOM_TTL; an entry before that keeps it', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_EMPTY_ROOM_TTL: '1' });
  t.after(() => s.close());
  const a = s.client();
  await a.enter({ roomName: 'R', roomUuid: 'r', userName: 'A', userUuid: 'a' });
  await a.exit();
  await new Promise((r) => setTimeout(r, 400));
  const b = s.client();
  await b.enter({ roomName: 'R', roomUuid: 'r', userName: 'B', userUuid: 'b' });
  assert.equal(b.roomId, a.roomId, 'entered before the TTL: the same meeting');
  await b.exit();
  const deadline = Date.now() + 5000;
  while (!(await s.meeting.room(a.roomId))!.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await s.meeting.room(a.roomId))!.ended, true);
  const c = s.client();
  await c.enter({ roomName: 'R', roomUuid: 'r', userName: 'C', userUuid: 'c' });
  assert.notEqual(c.roomId, a.roomId, 'a later entry starts a new meeting');
});
