// What the shipped Agora Meeting Android client (AgoraMeeting_Android, v1) relies on, through
// Convene's socket: its own rule for chat (MeetingViewModel.updateRoomState zeroes every
// participant's enableChat on a cmd 3 with muteAllChat != 0 and restores nothing when it goes back
// to 0; RtmEventHandler takes a member's state only from cmd 4 and cmd 2) must end, after chat is
// turned back on for everyone, in the enableChat Convene says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.ts';
import { listen, members, type Frame } from '../helpers/agora-frames.ts';
import type { MeetingClient } from '../../client/agora.ts';

/** The Android app's view of enableChat: me and every other member by userId, fed frame by frame. */
class AndroidChatView {
  readonly enableChat = new Map<string, number>();
  private muteAllChat: number | null = null;
  constructor(
    private readonly me: string,
    private readonly myRole: () => number,
    private readonly roles: Map<string, number>,
  ) {}

  apply(f: Frame): void {
    if (f.type !== 'channel') return;
    if (f.cmd === 3 && f.data.muteAllChat !== this.muteAllChat) {
      // updateRoomState: only a change, and only towards muted, touches the members.
      if (f.data.muteAllChat !== 0) {
        if (this.myRole() !== 1) this.enableChat.set(this.me, 0);
        for (const [id, role] of this.roles) if (id !== this.me && role === 2) this.enableChat.set(id, 0);
      }
      this.muteAllChat = f.data.muteAllChat;
    }
    // onUserInfoUpdated: the member (or me) is replaced by the cmd 4 member.
    if (f.cmd === 4) this.enableChat.set(f.data.userId, f.data.enableChat);
  }
}

test("Android: chat turned back on for everyone restates each participant whose chat is on (cmd 4 after cmd 3), so the app's enableChat is Convene's again", async (t) => {
  const s = await startTestServer();
  t.after(() => s.close());
  const [host, pa, pb] = (await members(s, 'android-chat', ['HA', 'PA', 'PB'])) as [MeetingClient, MeetingClient, MeetingClient];
  // PB's own chat is off (the host's E5): it must stay 0 after chat reopens.
  await host.changeUser(pb.userId, { enableChat: 0 });
  const sockets = await Promise.all([host, pa, pb].map((m) => listen(s, m.userToken)));
  t.after(() => sockets.forEach((w) => w.ws.close()));
  const roles = new Map([[host.userId, 1], [pa.userId, 2], [pb.userId, 2]]);
  const views = [host, pa, pb].map((m) => new AndroidChatView(m.userId, () => roles.get(m.userId)!, roles));

  await host.changeRoom({ muteAllChat: 1 });
  for (const [i, w] of sockets.entries()) for (const f of await w.until((x) => x.cmd === 3)) views[i]!.apply(f);
  assert.equal(views[1]!.enableChat.get(pa.userId), 0, "while muted, the app shows its own rule's 0 (PA's own view)");

  await host.changeRoom({ muteAllChat: 0 });
  for (const [i, w] of sockets.entries()) {
    const got = await w.until((x) => x.cmd === 4 && x.data.userId === pa.userId);
    // The cmd 3 comes first, then the participants restated, PA only (PB's chat is off, the host's untouched).
    assert.deepEqual(got.filter((f) => f.type === 'channel').map((f) => [f.cmd, f.cmd === 4 ? f.data.userId : f.data.muteAllChat]), [[3, 0], [4, pa.userId]]);
    for (const f of got) views[i]!.apply(f);
  }
  const said = new Map((await host.page()).list.map((m) => [m.userId, m.enableChat]));
  for (const [i, view] of views.entries()) {
    for (const [id, chat] of view.enableChat) assert.equal(chat, said.get(id), `member ${i}'s app: enableChat of ${id} is Convene's`);
  }
  assert.equal(said.get(pa.userId), 1);
  assert.equal(said.get(pb.userId), 0);

  // Chat still open: a further cmd 3 (mute audio) restates nobody.
  await host.changeRoom({ muteAllAudio: 1 });
  const after = (await sockets[0]!.until((x) => x.cmd === 3)).filter((f) => f.type === 'channel');
  assert.deepEqual(after.map((f) => f.cmd), [3]);
});
