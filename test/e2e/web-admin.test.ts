// The admin console in a real browser: sign in with the access key pair (requests signed in the
// page with Web Crypto), see the running room and its member count change live, open it (members,
// state, events), message it, and close it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { RealtimeClient } from '../../client/realtime.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { chromiumSkip, launchBrowser, shot, type TestBrowser } from '../helpers/browser.ts';

const skip = chromiumSkip();
let s: TestServer;
let b: TestBrowser;
let page: Page;

before(async () => {
  if (skip) return;
  s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  b = await launchBrowser();
  page = await (await b.context()).newPage();
});
after(async () => {
  if (skip) return;
  await b?.close();
  await s?.close();
});

test('the admin console signs in, lists the room live, shows it, messages it and closes it', { skip }, async () => {
  const ann = s.client();
  await ann.enter({ roomName: 'Board meeting', roomUuid: 'board-meeting', userName: 'Ann', userUuid: 'ann' });
  const socket = new RealtimeClient({ baseUrl: s.url, token: ann.userToken });
  await socket.connect();
  try {
    await page.goto(`${s.url}/admin`);
    // A wrong secret is refused by the server's signature check; the secret itself is never sent.
    const sent: string[] = [];
    page.on('request', (r) => sent.push(`${r.url()} ${JSON.stringify(r.headers())} ${r.postData() ?? ''}`));
    await page.getByRole('textbox', { name: 'Access key' }).fill(s.bootstrapped.accessKey);
    await page.getByLabel('Secret key').fill('not-the-secret');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: '401 bad token' }).waitFor();
    await page.getByLabel('Secret key').fill(s.bootstrapped.secretKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Active rooms' }).waitFor();
    await page.getByText('board-meeting: 1 members').waitFor();
    await shot(page, 'admin-01-rooms');

    // Live: a second member enters, the count follows without a reload.
    const bob = s.client();
    await bob.enter({ roomName: 'Board meeting', roomUuid: 'board-meeting', userName: 'Bob', userUuid: 'bob' });
    await page.getByText('board-meeting: 2 members').waitFor({ timeout: 5000 });

    await page.getByRole('button', { name: 'Open board-meeting' }).click();
    await page.getByRole('heading', { name: 'Room board-meeting' }).waitFor();
    await page.getByText('Ann (ann)').waitFor();
    // A room without any restriction reads as open, in both languages.
    await page.getByText('State: open', { exact: true }).waitFor();
    await page.getByRole('combobox', { name: 'Language' }).selectOption('zh');
    await page.getByText('状态：开放', { exact: true }).waitFor();
    await shot(page, 'admin-02-room-zh');
    await page.getByRole('combobox', { name: '语言' }).selectOption('en');
    await page.getByRole('log', { name: 'Recent events' }).getByText('membersChanged').first().waitFor();
    await shot(page, 'admin-02-room');

    await page.getByRole('textbox', { name: 'Message to the room' }).fill('Closing in 5 minutes');
    const message = socket.waitFor((m) => m.type === 'server');
    await page.getByRole('button', { name: 'Send message' }).click();
    await page.getByRole('alert').filter({ hasText: 'Message sent' }).waitFor();
    assert.equal(((await message).data as { text: string }).text, 'Closing in 5 minutes');

    await page.getByRole('button', { name: 'Remove Bob' }).click();
    await page.getByText('board-meeting: 1 members').waitFor({ timeout: 5000 });

    const ended = socket.waitFor((m) => m.type === 'channel' && m.cmd === 3 && m.data.state === 0);
    await page.getByRole('button', { name: 'Close room' }).click();
    await page.getByRole('button', { name: 'Confirm: close board-meeting' }).click();
    await page.getByRole('alert').filter({ hasText: 'Room board-meeting closed' }).waitFor();
    await page.getByText('No active rooms').waitFor();
    await shot(page, 'admin-03-closed');
    await ended;
    await assert.rejects(ann.info(), /401/, 'the meeting has ended');
    assert.ok(!sent.some((line) => line.includes(s.bootstrapped.secretKey)), 'the secret key is never sent');
  } finally {
    await socket.close();
  }
});
