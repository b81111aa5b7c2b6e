// Issue 18: F5 on the meeting page goes back into the meeting as the same member (its session
// token kept for the tab), not to the join form; leaving, or the meeting ending, forgets it, and
// another tab is another member.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { chromiumSkip, launchBrowser, shot, type TestBrowser } from '../helpers/browser.ts';

const skip = chromiumSkip();
let s: TestServer;
let b: TestBrowser;
const ROOM = 'e2e-reload';

before(async () => {
  if (skip) return;
  // Presence as in production: a reload is shorter than the grace period.
  s = await startTestServer();
  b = await launchBrowser();
});
after(async () => {
  if (skip) return;
  await b?.close();
  await s?.close();
});

const inMeeting = async (page: Page) => {
  await page.getByRole('heading', { name: 'Members' }).waitFor();
  await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
};
const present = async () => (await s.meeting.runningRoom(s.creds.appId, ROOM))!.members.filter((m) => m.present);

test('a reload rejoins the same meeting as the same member; leaving forgets it', { skip, timeout: 60_000 }, async () => {
  const page = await (await b.context()).newPage();
  page.on('pageerror', (err) => console.error('page error:', err.message));
  await page.goto(`${s.url}/?room=${ROOM}`);
  await page.getByRole('textbox', { name: 'Your name' }).fill('Ann');
  await page.getByRole('button', { name: 'Join' }).click();
  await inMeeting(page);
  const [before] = await present();
  assert.ok(before, 'Ann is in');

  await page.reload();
  await inMeeting(page);
  assert.equal(await page.getByRole('button', { name: 'Join' }).count(), 0, 'no join form');
  await page.locator('li.member', { hasText: 'Ann' }).waitFor();
  const room = (await s.meeting.runningRoom(s.creds.appId, ROOM))!;
  assert.equal(room.members.length, 1, 'no second member');
  assert.equal(room.members[0]!.userId, before!.userId);
  assert.equal(room.members[0]!.session, before!.session, 'the same session: not entered again');
  assert.equal(room.members[0]!.present, true);
  await shot(page, 'reload-01-back-in');

  // Another tab of the same browser is another member.
  const other = await page.context().newPage();
  await other.goto(`${s.url}/?room=${ROOM}`);
  await other.getByRole('button', { name: 'Join' }).waitFor();
  await other.close();

  await page.getByRole('button', { name: 'Leave' }).click();
  await page.getByRole('button', { name: 'Join' }).waitFor();
  await page.reload();
  await page.getByRole('button', { name: 'Join' }).waitFor();
  assert.equal((await present()).length, 0, 'left for good');
});
