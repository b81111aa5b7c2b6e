// The meeting page's reconnect indicator and silent resume, in a real browser: the participant's
// page reaches the server through a TCP relay; the relay resets its connections and refuses new ones
// for a while (a network cut). The page says "Reconnecting…", comes back to "Connected" by itself,
// and what happened meanwhile (a chat, mute all) appears: resumed from its last seq, nothing missed,
// nothing twice, without re-entering the meeting.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startRelay, type Relay } from '../helpers/proxy.ts';
import { chromiumSkip, launchBrowser, shot, type TestBrowser } from '../helpers/browser.ts';

const skip = chromiumSkip();
let s: TestServer;
let b: TestBrowser;
let relay: Relay;
let host: Page;
let guest: Page;
const ROOM = 'e2e-reconnect';
/** The realtime socket URLs the participant's page opened, in order. */
const sockets: string[] = [];

before(async () => {
  if (skip) return;
  // Presence as in production (a member whose socket is gone leaves after the grace period): the
  // cut is shorter than the grace, so the participant must stay without re-entering.
  s = await startTestServer();
  const { hostname, port } = new URL(s.url);
  relay = await startRelay({ host: hostname, port: Number(port) });
  b = await launchBrowser();
  host = await (await b.context()).newPage();
  guest = await (await b.context()).newPage();
  for (const p of [host, guest]) p.on('pageerror', (err) => console.error('page error:', err.message));
  guest.on('websocket', (ws) => sockets.push(ws.url()));
});
after(async () => {
  if (skip) return;
  await b?.close();
  await relay?.close();
  await s?.close();
});

async function join(page: Page, base: string, name: string): Promise<void> {
  await page.goto(`${base}/?room=${ROOM}`);
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  await page.getByRole('button', { name: 'Join' }).click();
  await page.getByRole('heading', { name: 'Members' }).waitFor();
  await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
}

const chat = (page: Page) => page.getByRole('log', { name: 'Chat' });
const connection = (page: Page) => page.getByRole('banner').getByRole('status');

async function say(text: string): Promise<void> {
  await host.getByRole('textbox', { name: 'Message' }).fill(text);
  await host.getByRole('button', { name: 'Send' }).click();
  await chat(host).getByText(text).waitFor();
}

test('a cut connection shows "Reconnecting…", then resumes by itself with nothing missed', { skip, timeout: 60_000 }, async () => {
  await join(host, s.url, 'Ann');
  await join(guest, relay.url, 'Bob');
  await host.locator('li.member', { hasText: 'Bob' }).waitFor();
  await say('Before the cut');
  await chat(guest).getByText('Before the cut').waitFor();
  assert.equal(sockets.length, 1);
  assert.doesNotMatch(sockets[0]!, /since=/, 'the first socket starts with a snapshot');

  relay.cut();
  await connection(guest).filter({ hasText: 'Reconnecting…' }).waitFor({ timeout: 3000 });
  await shot(guest, 'reconnect-01-cut');

  // While Bob is cut off: a chat and a room change.
  await say('While you were away');
  await host.getByRole('button', { name: 'Mute all (members may not unmute)' }).click();
  await host.getByRole('button', { name: 'Mute all (members may not unmute)', pressed: true }).waitFor();
  // Bob's page keeps trying (and is refused) without showing any of it yet.
  const deadline = Date.now() + 5000;
  while (relay.refused < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(relay.refused >= 2, `the page tried to reconnect during the cut (${relay.refused} refused)`);
  assert.equal(await chat(guest).getByText('While you were away').count(), 0, 'really cut off');
  assert.equal(await connection(guest).textContent(), 'Reconnecting…', 'still says so while refused');
  assert.equal(await guest.getByRole('button', { name: 'Mute microphone' }).count(), 1, 'still speaking here');

  relay.restore();
  await connection(guest).filter({ hasText: 'Connected' }).waitFor({ timeout: 10_000 });
  await chat(guest).getByText('While you were away').waitFor({ timeout: 3000 });
  await guest.getByRole('button', { name: 'Unmute microphone' }).waitFor({ timeout: 3000 });
  await shot(guest, 'reconnect-02-resumed');

  // Resumed from the last seq it had (not a fresh snapshot), each message once, still the same member.
  const resumed = sockets.at(-1)!;
  const since = Number(new URL(resumed).searchParams.get('since'));
  assert.ok(sockets.length >= 2 && since > 0, `the page resumed with since=${since} (${sockets.length} sockets opened)`);
  for (const text of ['Before the cut', 'While you were away']) assert.equal(await chat(guest).getByText(text).count(), 1, `"${text}" once`);
  assert.equal(await guest.getByRole('heading', { name: 'Join a meeting' }).count(), 0, 'never sent back to the join form');
  await host.locator('li.member', { hasText: 'Bob' }).waitFor();
  assert.equal(await guest.locator('li.member').count(), 2);

  // And it is live again: the next chat arrives as usual.
  await say('Welcome back');
  await chat(guest).getByText('Welcome back').waitFor({ timeout: 3000 });
});
