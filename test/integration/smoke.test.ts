import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.ts';

test('entry then room info over real HTTP', async (t) => {
  const s = await startTestServer();
  t.after(() => s.close());
  const host = s.client();
  await host.enter({ roomName: 'Daily', roomUuid: 'daily', userName: 'Ann', userUuid: 'ann' });
  const { room, user } = await host.info();
  assert.equal(room.roomUuid, 'daily');
  assert.equal(room.onlineUsers, 1);
  assert.equal(user.role, 1);
  assert.equal(room.hosts[0]?.userId, user.userId);
});
