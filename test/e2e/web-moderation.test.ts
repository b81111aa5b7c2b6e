// Moderation on the meeting page, in Chromium, one server and one browser for both tests.
// The waiting room: the host turns it on; a guest's join waits on the lobby screen; the host is
// told and admits it from the page, and it is in the meeting; another is denied from the page and
// told why; the admin console lists who waits and admits from there. Breakout rooms: the host opens
// two rooms members choose from, with a countdown; a guest joins one from the page and sees its name
// and countdown; the host moves it to the other from the page (the admin console shows who is where),
// then closes them, and the guest is back in the main meeting.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { chromiumSkip, consoleOn, joinPage, launchBrowser, shot, type TestBrowser } from '../helpers/browser.ts';

const skip = chromiumSkip();
let s: TestServer;
let b: TestBrowser;
const LOBBY = 'e2e-lobby';
const BREAKOUTS = 'e2e-breakouts';

before(async () => {
  if (skip) return;
  s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_WEB_MESH_MAX: '1' });
  b = await launchBrowser();
});
after(async () => {
  if (skip) return;
  await b?.close();
  await s?.close();
});

const join = (room: string, name: string): Promise<Page> => joinPage(b, s.url, room, name);

/** Joined and in the meeting. */
async function joined(room: string, name: string): Promise<Page> {
  const page = await join(room, name);
  await page.getByRole('heading', { name: 'Members' }).waitFor();
  return page;
}

test('a knock is admitted from the page, another denied with its reason', { skip, timeout: 60_000 }, async () => {
  const host = await join(LOBBY, 'Ann');
  await host.getByRole('heading', { name: 'Members' }).waitFor();
  await host.getByRole('button', { name: 'Turn the waiting room on' }).click();
  await host.getByText('Nobody is waiting.').waitFor();

  const guest = await join(LOBBY, 'Bob');
  await guest.getByRole('heading', { name: 'Waiting for the host' }).waitFor();
  await host.locator('#notices li', { hasText: 'Bob is waiting to enter' }).waitFor();
  await host.locator('#lobby-list li', { hasText: 'Bob' }).waitFor();
  assert.equal(await host.locator('li.member', { hasText: 'Bob' }).count(), 0, 'a waiting member is not in the meeting');
  await shot(host, 'lobby-01-knock');
  await shot(guest, 'lobby-01-waiting');

  await host.getByRole('button', { name: 'Admit Bob' }).click();
  await guest.getByRole('heading', { name: 'Members' }).waitFor();
  await guest.locator('li.member', { hasText: 'Ann' }).waitFor();
  await host.locator('li.member', { hasText: 'Bob' }).waitFor();
  await host.getByText('Nobody is waiting.').waitFor();

  const cat = await join(LOBBY, 'Cat');
  await cat.getByRole('heading', { name: 'Waiting for the host' }).waitFor();
  await host.getByRole('button', { name: 'Deny Cat' }).click();
  await cat.getByRole('alert').filter({ hasText: 'You were not let in: The host did not let you in.' }).waitFor();
  await cat.getByRole('button', { name: 'Join' }).waitFor();
  assert.equal(await cat.getByRole('textbox', { name: 'Room' }).inputValue(), LOBBY, 'the form keeps the room, to knock again');
  await shot(cat, 'lobby-02-denied');
  assert.equal(await host.locator('li.member', { hasText: 'Cat' }).count(), 0);

  // The admin console shows who waits in the live room, and admits from there.
  const dan = await join(LOBBY, 'Dan');
  await dan.getByRole('heading', { name: 'Waiting for the host' }).waitFor();
  const admin = await consoleOn(b, s.url, s.bootstrapped, LOBBY);
  await admin.getByRole('list', { name: 'Waiting room' }).locator('li', { hasText: 'Dan' }).waitFor();
  await shot(admin, 'lobby-03-console');
  await admin.getByRole('button', { name: 'Admit Dan' }).click();
  await dan.getByRole('heading', { name: 'Members' }).waitFor();
  await host.locator('li.member', { hasText: 'Dan' }).waitFor();
  await admin.locator('#audit li[data-action="lobby.admit"]', { hasText: `by key:${s.bootstrapped.accessKey} on Dan` }).waitFor();
});

test('breakouts opened, joined, moved and closed from the page, with the countdown', { skip, timeout: 90_000 }, async (t) => {
  const host = await joined(BREAKOUTS, 'Ann');
  const guest = await joined(BREAKOUTS, 'Bob');
  // What each page showed when a step failed.
  t.after(async () => {
    await shot(host, 'breakouts-last-host');
    await shot(guest, 'breakouts-last-guest');
  });
  await host.locator('li.member', { hasText: 'Bob' }).waitFor();

  await host.getByLabel('How members are placed').selectOption('choose');
  await host.getByRole('spinbutton', { name: 'Minutes (0: until closed)' }).fill('10');
  await host.getByRole('button', { name: 'Open breakout rooms' }).click();
  await host.getByRole('timer').filter({ hasText: /ends in (10:00|9:[0-5]\d)/ }).waitFor();

  await guest.getByRole('button', { name: 'Join Room 1' }).click();
  const banner = guest.locator('#bo-banner');
  await banner.filter({ hasText: 'Breakout room: Room 1' }).waitFor();
  await banner.filter({ hasText: /ends in (10:00|9:[0-5]\d)/ }).waitFor();
  // The countdown runs on its own.
  const first = await banner.textContent();
  await guest.waitForFunction((was) => document.querySelector('#bo-banner')?.textContent !== was, first, { timeout: 5000 });
  await host.locator('#bo-rooms li', { hasText: 'Room 1' }).filter({ hasText: 'Bob' }).waitFor();
  await shot(guest, 'breakouts-01-in-room');
  await shot(host, 'breakouts-01-host');

  // Chat in the breakout stays there.
  await guest.getByRole('textbox', { name: 'Message' }).fill('hello room 1');
  await guest.getByRole('button', { name: 'Send' }).click();
  await guest.getByRole('log', { name: 'Chat' }).getByText('hello room 1').waitFor();
  assert.equal(await host.getByRole('log', { name: 'Chat' }).getByText('hello room 1').count(), 0);

  await host.getByLabel('Move Bob').selectOption({ label: 'Room 2' });
  await banner.filter({ hasText: 'Breakout room: Room 2' }).waitFor();
  await host.locator('#bo-rooms li', { hasText: 'Room 2' }).filter({ hasText: 'Bob' }).waitFor();

  // The admin console shows the live room's breakouts: who is in each, and the time left.
  const admin = await consoleOn(b, s.url, s.bootstrapped, BREAKOUTS);
  const rooms = admin.getByRole('list', { name: 'Breakout rooms' });
  await rooms.locator('li', { hasText: 'Room 2' }).filter({ hasText: 'web-' }).waitFor();
  await rooms.locator('li', { hasText: 'Room 1' }).filter({ hasText: 'nobody yet' }).waitFor();
  await admin.getByRole('timer').filter({ hasText: /ends in \d+:\d\d/ }).waitFor();
  await shot(admin, 'breakouts-03-console');
  await admin.close();

  await host.getByRole('button', { name: 'Message all rooms' }).waitFor();
  await host.locator('#bo-message').fill('two minutes left');
  await host.getByRole('button', { name: 'Message all rooms' }).click();
  // Said as a notice, and kept on show in the room while the round lasts.
  await guest.locator('#bo-banner-box .announcement', { hasText: 'To all rooms from Ann: two minutes left' }).waitFor();

  await host.getByRole('button', { name: 'Close breakout rooms' }).click();
  await guest.locator('#bo-banner-box').waitFor({ state: 'hidden' });
  await guest.locator('li.member', { hasText: 'Ann' }).waitFor();
  await host.getByRole('button', { name: 'Open breakout rooms' }).waitFor();
  await shot(guest, 'breakouts-02-back');
  assert.equal(await guest.getByRole('heading', { name: BREAKOUTS }).count(), 1, 'back in the main meeting');
});
