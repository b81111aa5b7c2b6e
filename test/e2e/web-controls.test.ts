// Issue 18, the meeting page's everyday defects, as a person meets them in Chromium: buttons say
// what they will do; notices go away, do not repeat, and follow the language; chat cannot be typed
// while it is off; the host's "Remove" asks first, and an armed confirmation disarms by itself.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { chromiumSkip, launchBrowser, shot, type TestBrowser } from '../helpers/browser.ts';

const skip = chromiumSkip();
let s: TestServer;
let b: TestBrowser;
let host: Page;
let guest: Page;
const ROOM = 'e2e-controls';

before(async () => {
  if (skip) return;
  // A mesh of one: the two members here are a room the page's own media does not connect.
  s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_WEB_MESH_MAX: '1' });
  b = await launchBrowser();
  host = await (await b.context()).newPage();
  guest = await (await b.context()).newPage();
  for (const p of [host, guest]) p.on('pageerror', (err) => console.error('page error:', err.message));
  for (const [page, name] of [[host, 'Ann'], [guest, 'Bob']] as const) {
    await page.goto(`${s.url}/?room=${ROOM}`);
    await page.getByRole('textbox', { name: 'Your name' }).fill(name);
    await page.getByRole('button', { name: 'Join' }).click();
    await page.getByRole('heading', { name: 'Members' }).waitFor();
  }
  await host.locator('li.member', { hasText: 'Bob' }).waitFor();
});
after(async () => {
  if (skip) return;
  await b?.close();
  await s?.close();
});

test('above the mesh size the page says the room needs an RTC service', { skip, timeout: 30_000 }, async () => {
  await guest.getByText('This room has 2 members: the page connects audio and video for up to 1. A room this size needs an RTC service', { exact: false }).waitFor();
  assert.equal(await guest.evaluate(() => document.querySelectorAll('.tile').length), 2, 'a tile per member still (initials)');
});

test('the own controls say what they will do', { skip, timeout: 30_000 }, async () => {
  await guest.getByRole('button', { name: 'Mute microphone' }).click();
  await guest.getByRole('button', { name: 'Unmute microphone' }).waitFor();
  await guest.getByRole('button', { name: 'Turn camera on' }).click();
  await guest.getByRole('button', { name: 'Turn camera off' }).waitFor();
  await guest.getByRole('button', { name: 'Share screen' }).click();
  await guest.getByRole('button', { name: 'Stop sharing' }).click();
  await guest.getByRole('button', { name: 'Share screen' }).waitFor();
  await guest.getByRole('button', { name: 'Turn camera off' }).click();
});

test('notices: one per message, in the chosen language, gone after a while', { skip, timeout: 40_000 }, async () => {
  for (const level of ['Mute all (members may not unmute)', 'Lift mute all', 'Mute all (members may not unmute)']) {
    await host.getByRole('button', { name: level }).click();
    await new Promise((r) => setTimeout(r, 300));
  }
  const forbid = guest.locator('#notices li', { hasText: 'The host muted everyone. Raise your hand to speak.' });
  await forbid.waitFor();
  assert.equal(await forbid.count(), 1, 'the same notice is not repeated');
  assert.ok((await guest.locator('#notices li').count()) <= 4);
  await guest.getByRole('combobox', { name: 'Language' }).selectOption('zh');
  assert.equal(await guest.locator('#notices li', { hasText: 'The host muted everyone' }).count(), 0, 'no English left');
  assert.ok((await guest.locator('#notices li').count()) >= 1, 'the notices are there, in Chinese');
  await shot(guest, 'controls-01-notices-zh');
  await guest.getByRole('combobox', { name: '语言' }).selectOption('en');
  await guest.locator('#notices li').first().waitFor({ state: 'detached', timeout: 12_000 });
  assert.equal(await guest.locator('#notices li').count(), 0, 'notices clear by themselves');
  await host.getByRole('button', { name: 'Lift mute all' }).click();
});

test('chat cannot be typed while it is off for the member', { skip, timeout: 30_000 }, async () => {
  const input = guest.getByRole('textbox', { name: 'Message' });
  assert.equal(await input.isDisabled(), false);
  await host.getByRole('button', { name: 'Turn chat off for everyone' }).click();
  await guest.waitForFunction(() => (document.getElementById('chat-input') as HTMLInputElement).disabled, undefined, { timeout: 3000 });
  assert.equal(await guest.locator('.chat-form button[type="submit"]').isDisabled(), true);
  await host.getByRole('button', { name: 'Turn chat on for everyone' }).click();
  await guest.waitForFunction(() => !(document.getElementById('chat-input') as HTMLInputElement).disabled, undefined, { timeout: 3000 });
});

test('a raised hand can be lowered; the host sees the queue and answers it', { skip, timeout: 30_000 }, async () => {
  await guest.getByRole('button', { name: 'Raise hand' }).click();
  await guest.getByRole('button', { name: 'Lower hand' }).waitFor();
  await host.locator('#hands li', { hasText: 'Bob' }).waitFor();
  await guest.getByRole('button', { name: 'Lower hand' }).click();
  await guest.getByRole('button', { name: 'Raise hand' }).waitFor();
  await host.locator('#hands-box').waitFor({ state: 'hidden' });
  // Raised again and answered by the host: an invitation to speak, and the hand is down.
  await guest.getByRole('button', { name: 'Raise hand' }).click();
  await host.getByRole('button', { name: 'Let Bob speak' }).click();
  await guest.getByRole('button', { name: 'Raise hand' }).waitFor();
  await guest.locator('#requests-box', { hasText: 'Accept' }).waitFor();
  await shot(host, 'controls-03-hands');
});

test('Remove asks first, and an armed confirmation disarms by itself', { skip, timeout: 30_000 }, async () => {
  await host.getByRole('button', { name: 'Remove Bob' }).click();
  const confirm = host.getByRole('button', { name: 'Confirm: remove Bob' });
  await confirm.waitFor();
  await shot(host, 'controls-02-remove-armed');
  await confirm.waitFor({ state: 'detached', timeout: 8000 });
  await host.getByRole('button', { name: 'Remove Bob' }).waitFor();
  await host.getByRole('button', { name: 'End meeting' }).click();
  await host.getByRole('button', { name: 'Confirm: end the meeting for everyone' }).waitFor({ state: 'detached', timeout: 8000 });
  // Nobody was removed and nothing ended by the arming alone.
  const room = await s.meeting.runningRoom(s.creds.appId, ROOM);
  assert.equal(room?.members.filter((m) => m.present).length, 2);
});
