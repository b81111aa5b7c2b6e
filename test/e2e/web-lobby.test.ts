// The waiting room on the meeting page, in Chromium: the host turns it on; a guest's join waits on
// the lobby screen; the host is told and admits it from the page, and it is in the meeting; another
// is denied from the page and told why; the admin console lists who waits and admits from there.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { chromiumSkip, consoleOn, joinPage, launchBrowser, shot, type TestBrowser } from '../helpers/browser.ts';

const skip = chromiumSkip();
let s: TestServer;
let b: TestBrowser;
const ROOM = 'e2e-lobby';

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

async function join(name: string): Promise<Page> {
  const page = await joinPage(b, s.url, ROOM, name);
  return page;
}

test('a knock is admitted from the page, another denied with its reason', { skip, timeout: 60_000 }, async () => {
  const host = await join('Ann');
  await host.getByRole('heading', { name: 'Members' }).waitFor();
  await host.getByRole('button', { name: 'Turn the waiting room on' }).click();
  await host.getByText('Nobody is waiting.').waitFor();

  const guest = await join('Bob');
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

  const cat = await join('Cat');
  await cat.getByRole('heading', { name: 'Waiting for the host' }).waitFor();
  await host.getByRole('button', { name: 'Deny Cat' }).click();
  await cat.getByRole('alert').filter({ hasText: 'You were not let in: The host did not let you in.' }).waitFor();
  await cat.getByRole('button', { name: 'Join' }).waitFor();
  assert.equal(await cat.getByRole('textbox', { name: 'Room' }).inputValue(), ROOM, 'the form keeps the room, to knock again');
  await shot(cat, 'lobby-02-denied');
  assert.equal(await host.locator('li.member', { hasText: 'Cat' }).count(), 0);

  // The admin console shows who waits in the live room, and admits from there.
  const dan = await join('Dan');
  await dan.getByRole('heading', { name: 'Waiting for the host' }).waitFor();
  const admin = await consoleOn(b, s.url, s.bootstrapped, ROOM);
  await admin.getByRole('list', { name: 'Waiting room' }).locator('li', { hasText: 'Dan' }).waitFor();
  await shot(admin, 'lobby-03-console');
  await admin.getByRole('button', { name: 'Admit Dan' }).click();
  await dan.getByRole('heading', { name: 'Members' }).waitFor();
  await host.locator('li.member', { hasText: 'Dan' }).waitFor();
  await admin.locator('#audit li[data-action="lobby.admit"]', { hasText: `by key:${s.bootstrapped.accessKey} on Dan` }).waitFor();
});
