// Issue 18: while the host has muted everyone and participants may not unmute themselves
// (muteAllAudio 2), the host's invitation to speak (E6, type 1) is the host's permission: the
// member accepts it by turning its own audio on (E5, as the shipped apps do). Without an
// invitation, after refusing it (E7 action 2), after a new mute-all, or a second time, the same
// call is still refused with 1005.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.ts';
import { AgoraApiError } from '../../client/agora.ts';

const AUDIO = 1;
const INVITE = 1;
const REJECT = 2;

async function refused(p: Promise<unknown>, code: number, what: string) {
  await assert.rejects(p, (e: unknown) => e instanceof AgoraApiError && e.code === code, what);
}

test("accepting the host's invitation to speak works while participants may not unmute themselves", { timeout: 30_000 }, async (t) => {
  const srv = await startTestServer();
  t.after(() => srv.close());
  const host = srv.client();
  await host.enter({ roomName: 'Speak', roomUuid: 'speak', userName: 'Host', userUuid: 'host' });
  const ann = srv.client();
  await ann.enter({ roomName: 'Speak', roomUuid: 'speak', userName: 'Ann', userUuid: 'ann' });
  const bob = srv.client();
  await bob.enter({ roomName: 'Speak', roomUuid: 'speak', userName: 'Bob', userUuid: 'bob' });
  const audio = async (c: typeof ann) => (await c.info()).user.enableAudio;

  await host.changeRoom({ muteAllAudio: 2 });
  await refused(ann.changeUser(ann.userId, { enableAudio: 1 }), 1005, 'no invitation: refused');

  // Invited: accepting works, once.
  await host.invite(ann.userId, AUDIO, INVITE);
  await ann.changeUser(ann.userId, { enableAudio: 1 });
  assert.equal(await audio(ann), 1, 'the invited member speaks');
  assert.equal(await audio(bob), 0, 'the others stay muted');
  await refused(bob.changeUser(bob.userId, { enableAudio: 1 }), 1005, 'an invitation is for its member only');
  await ann.changeUser(ann.userId, { enableAudio: 0 });
  await refused(ann.changeUser(ann.userId, { enableAudio: 1 }), 1005, 'an invitation is used once');

  // Refused invitation: no permission left.
  await host.invite(bob.userId, AUDIO, INVITE);
  await bob.apply(host.userId, AUDIO, REJECT);
  await refused(bob.changeUser(bob.userId, { enableAudio: 1 }), 1005, 'after refusing it');

  // A new mute-all overrides an invitation made before it.
  await host.invite(ann.userId, AUDIO, INVITE);
  await host.changeRoom({ muteAllAudio: 2 });
  await refused(ann.changeUser(ann.userId, { enableAudio: 1 }), 1005, 'after a new mute-all');

  // An invitation does not outlive its member's leaving.
  await host.invite(bob.userId, AUDIO, INVITE);
  await bob.changeUser(bob.userId, { enableVideo: 1 });
  await host.invite(ann.userId, AUDIO, INVITE);
  assert.deepEqual((await srv.meeting.room(ann.roomId))?.speakInvites, [bob.userId, ann.userId], 'pending invitations are kept in the room');
  await ann.exit(ann.userId);
  assert.deepEqual((await srv.meeting.room(ann.roomId))?.speakInvites, [bob.userId], "a member's invitation goes when it leaves");
  await bob.changeUser(bob.userId, { enableAudio: 1 });
  assert.equal(await audio(bob), 1);
  assert.equal((await srv.meeting.room(bob.roomId))?.speakInvites, undefined, 'none left');
});
