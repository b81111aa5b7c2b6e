// The meeting page in a real browser (Debian's Chromium through playwright-core): a host and a
// participant in two browser contexts (a third joins later), every control found by its role and
// accessible name, a screenshot of each step under test/artifacts/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BrowserContext, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { chromiumSkip, clickToShown, launchBrowser, shareBoardAndDraw, shot, type TestBrowser } from '../helpers/browser.ts';

const skip = chromiumSkip();
let s: TestServer;
let b: TestBrowser;
let host: Page;
let guest: Page;
let late: Page;
const contexts: BrowserContext[] = [];
const ROOM = 'e2e-standup';

before(async () => {
  if (skip) return;
  s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  b = await launchBrowser();
  const open = async (opts?: Parameters<TestBrowser['context']>[0]) => {
    const c = await b.context(opts);
    contexts.push(c);
    const page = await c.newPage();
    page.on('pageerror', (err) => console.error('page error:', err.message));
    return page;
  };
  host = await open();
  // The participant reads the page at a phone's width.
  guest = await open({ viewport: { width: 390, height: 844 } });
  late = await open();
});
after(async () => {
  if (skip) return;
  await b?.close();
  await s?.close();
});

async function join(page: Page, name: string, room = ROOM): Promise<void> {
  await page.goto(`${s.url}/?room=${room}`);
  assert.equal(await page.getByRole('textbox', { name: 'Room' }).inputValue(), room, 'the link fills the room');
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  await page.getByRole('button', { name: 'Join' }).click();
  await page.getByRole('heading', { name: 'Members' }).waitFor();
  await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
}

const members = (page: Page) => page.getByRole('list').filter({ has: page.locator('li.member') }).first();
const memberLine = (page: Page, name: string) => page.locator('li.member', { hasText: name });

test('join: the host and a participant enter through the page and see each other', { skip }, async () => {
  await join(host, 'Ann');
  await host.getByRole('heading', { name: 'Host controls' }).waitFor();
  await join(guest, 'Bob');
  await memberLine(host, 'Bob').filter({ hasText: 'participant' }).waitFor();
  await memberLine(guest, 'Ann').filter({ hasText: 'host' }).waitFor();
  assert.equal(await guest.getByRole('heading', { name: 'Host controls' }).count(), 0, 'no host controls for a participant');
  assert.equal(await guest.getByRole('button', { name: 'Mute microphone' }).count(), 1, 'the participant speaks');
  assert.ok(await members(host).isVisible());
  await shot(host, 'meeting-01-join-host');
  await shot(guest, 'meeting-01-join-participant-phone');
});

test('mute all: the participant page shows it within 1 s, and the microphone cannot be turned on (it says why)', { skip }, async () => {
  const muteAll = host.getByRole('button', { name: 'Mute all (members may not unmute)' });
  const took = await clickToShown(host, muteAll, guest, ['Unmute microphone', 'The host muted everyone. Raise your hand to speak.']);
  assert.ok(took <= 1000, `shown after ${took} ms`);
  const mic = guest.getByRole('button', { name: 'Unmute microphone' });
  await memberLine(host, 'Bob').filter({ hasText: 'mic off' }).waitFor();
  assert.equal(await mic.isDisabled(), true, 'not clickable while it cannot work');
  await guest.getByText('The host has muted everyone: raise your hand to speak.').waitFor();
  await shot(guest, 'meeting-02-muted-all-participant');
});

test('chat both ways', { skip }, async () => {
  await host.getByRole('textbox', { name: 'Message' }).fill('Hello from Ann');
  await host.getByRole('button', { name: 'Send' }).click();
  await guest.getByRole('log', { name: 'Chat' }).getByText('Hello from Ann').waitFor();
  await guest.getByRole('textbox', { name: 'Message' }).fill('Hi Ann, Bob here');
  await guest.getByRole('textbox', { name: 'Message' }).press('Enter');
  await host.getByRole('log', { name: 'Chat' }).getByText('Hi Ann, Bob here').waitFor();
  await shot(host, 'meeting-03-chat-host');
  await shot(guest, 'meeting-03-chat-participant');
});

test('whiteboard: a stroke drawn by the host appears on the participant page, and a member joining later sees it', { skip }, async () => {
  await shareBoardAndDraw(host, guest);
  await guest.getByRole('img', { name: 'Whiteboard, 1 stroke' }).waitFor({ timeout: 3000 });
  // The host's own copy is the server's echo, not only what it drew.
  await join(late, 'Cat');
  await late.getByRole('img', { name: 'Whiteboard, 1 stroke' }).waitFor({ timeout: 3000 });
  await shot(guest, 'meeting-04-board-participant');
  await shot(late, 'meeting-04-board-late-joiner');
});

test('raise hand: the host accepts and the participant is unmuted', { skip }, async () => {
  await guest.getByRole('button', { name: 'Raise hand' }).click();
  await guest.getByText('You raised your hand. Waiting for the host…').waitFor();
  await host.getByText('Bob asks to speak').waitFor();
  await shot(host, 'meeting-05-hand-raised-host');
  await host.getByRole('button', { name: 'Accept Bob' }).click();
  await guest.getByRole('button', { name: 'Mute microphone' }).waitFor({ timeout: 3000 });
  await memberLine(host, 'Bob').filter({ hasText: 'mic on' }).waitFor();
  await shot(guest, 'meeting-05-unmuted-participant');
});

test('invite: the host invites, the participant declines, and the host is told', { skip }, async () => {
  await host.getByRole('button', { name: 'Invite Cat to speak' }).click();
  await late.getByText('Ann invites you to speak').waitFor();
  await late.getByRole('button', { name: 'Decline invitation' }).click();
  await host.getByText('Cat declined the invitation.').waitFor();
});

test('transfer host: the participant becomes host, the former host a participant', { skip }, async () => {
  await host.getByRole('button', { name: 'Make Bob host' }).click();
  await guest.getByText('You are the host now.').waitFor();
  await guest.getByRole('heading', { name: 'Host controls' }).waitFor();
  await host.getByRole('heading', { name: 'Host controls' }).waitFor({ state: 'detached' });
  await memberLine(host, 'Bob').filter({ hasText: 'host' }).waitFor();
  await shot(guest, 'meeting-06-new-host-phone');
});

test('kick: the new host removes a member, whose page says so', { skip }, async () => {
  await guest.getByRole('button', { name: 'Remove Cat' }).click();
  await guest.getByRole('button', { name: 'Confirm: remove Cat' }).click();
  await late.getByRole('alert').filter({ hasText: 'You were removed from the meeting.' }).waitFor();
  await memberLine(guest, 'Cat').waitFor({ state: 'detached' });
  await shot(late, 'meeting-07-kicked');
});

test('end meeting: the host ends it (with a confirmation) and the other page says so', { skip }, async () => {
  await guest.getByRole('button', { name: 'End meeting' }).click();
  await guest.getByRole('button', { name: 'Confirm: end the meeting for everyone' }).click();
  await host.getByRole('alert').filter({ hasText: 'The meeting has ended.' }).waitFor();
  await guest.getByRole('alert').filter({ hasText: 'The meeting has ended.' }).waitFor();
  await shot(host, 'meeting-08-ended');
});

test('refusals on the join form: a wrong password, in the page language', { skip }, async () => {
  const c = s.client();
  await c.enter({ roomName: 'locked', roomUuid: 'with-password', userName: 'Owner', userUuid: 'owner', password: 'secret' });
  await late.goto(`${s.url}/?room=with-password`);
  await late.getByRole('textbox', { name: 'Your name' }).fill('Eve');
  await late.getByLabel('Password (optional)').fill('wrong');
  await late.getByRole('button', { name: 'Join' }).click();
  await late.getByRole('alert').filter({ hasText: 'Wrong room password' }).waitFor();
  // Switched to Chinese: the form and the refusal in Chinese.
  await late.getByRole('combobox', { name: 'Language' }).selectOption('zh');
  await late.getByRole('button', { name: '加入' }).click();
  await late.getByRole('alert').filter({ hasText: '房间密码错误' }).waitFor();
  await shot(late, 'meeting-09-wrong-password-zh');
  await late.getByRole('combobox', { name: '语言' }).selectOption('en');
});
