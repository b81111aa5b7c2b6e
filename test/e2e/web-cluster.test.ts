// The pages on a cluster, in a real browser: two Convene processes on the shared Redis (a key prefix
// of their own, removed afterwards), each serving the built pages. The host's page is on node A, the
// participant's on node B, the admin console on B: one meeting whichever node a page talks to.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { Redis } from 'ioredis';
import type { Page } from 'playwright-core';
import { MeetingClient } from '../../client/agora.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { cleanupPrefix, clusterEnv, redisSkip, SHARED_REDIS_URL, uniquePrefix } from '../helpers/redis.ts';
import { chromiumSkip, clickToShown, launchBrowser, shareBoardAndDraw, shot, type TestBrowser } from '../helpers/browser.ts';

const skip = chromiumSkip() ?? (await redisSkip());
const ROOM = 'e2e-cluster';
const creds = { appId: randomBytes(16).toString('hex'), customerId: 'web-cluster', customerSecret: randomBytes(12).toString('hex') };
const keys = { ak: 'web-cluster-ak', sk: randomBytes(12).toString('hex') };
const prefix = uniquePrefix();
const dir = mkdtempSync(joinPath(tmpdir(), 'convene-web-cluster-'));
const nodes: ServerProcess[] = [];
let A: ServerProcess;
let B: ServerProcess;
let b: TestBrowser;
let host: Page;
let guest: Page;
let admin: Page;

before(async () => {
  if (skip) return;
  const env = clusterEnv({ url: SHARED_REDIS_URL, prefix, dir, creds, keys, graceS: 20, nodeTimeoutS: 5 });
  for (let i = 0; i < 2; i++) nodes.push(await spawnServer(env));
  [A, B] = nodes as [ServerProcess, ServerProcess];
  b = await launchBrowser();
  const open = async () => {
    const page = await (await b.context()).newPage();
    page.on('pageerror', (err) => console.error('page error:', err.message));
    return page;
  };
  host = await open();
  guest = await open();
  admin = await open();
});
after(async () => {
  await b?.close();
  await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
  if (!skip) {
    const redis = new Redis(SHARED_REDIS_URL);
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
  }
  rmSync(dir, { recursive: true, force: true });
});

async function join(page: Page, node: ServerProcess, name: string): Promise<void> {
  await page.goto(`${node.url}/?room=${ROOM}`);
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  await page.getByRole('button', { name: 'Join' }).click();
  await page.getByRole('heading', { name: 'Members' }).waitFor();
  await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
}

const memberLine = (page: Page, name: string) => page.locator('li.member', { hasText: name });
const chat = (page: Page) => page.getByRole('log', { name: 'Chat' });

test('host on node A, participant on node B: mute all within 1 s, chat both ways, the board', { skip, timeout: 60_000 }, async () => {
  await join(host, A, 'Ann');
  await host.getByRole('heading', { name: 'Host controls' }).waitFor();
  await join(guest, B, 'Bob');
  await memberLine(host, 'Bob').filter({ hasText: 'participant' }).waitFor();
  await memberLine(guest, 'Ann').filter({ hasText: 'host' }).waitFor();
  assert.equal(new URL(host.url()).port, String(A.port));
  assert.equal(new URL(guest.url()).port, String(B.port));
  await shot(guest, 'cluster-01-join-participant-on-b');

  const muteAll = host.getByRole('button', { name: 'Mute all (members may not unmute)' });
  const took = await clickToShown(host, muteAll, guest, ['Unmute microphone', 'The host muted everyone. Raise your hand to speak.']);
  assert.ok(took <= 1000, `shown on node B after ${took} ms`);
  await memberLine(host, 'Bob').filter({ hasText: 'mic off' }).waitFor();
  await shot(guest, 'cluster-02-muted-all-on-b');

  // Each crossing is live (the Redis bus), not the nodes' periodic resync (every 2 s): within 1 s.
  await host.getByRole('textbox', { name: 'Message' }).fill('Hello from node A');
  await host.getByRole('button', { name: 'Send' }).click();
  await chat(host).getByText('Hello from node A').waitFor();
  await chat(guest).getByText('Hello from node A').waitFor({ timeout: 1000 });
  await guest.getByRole('textbox', { name: 'Message' }).fill('Hello from node B');
  await guest.getByRole('button', { name: 'Send' }).click();
  await chat(guest).getByText('Hello from node B').waitFor();
  await chat(host).getByText('Hello from node B').waitFor({ timeout: 1000 });

  await shareBoardAndDraw(host, guest);
  await guest.getByRole('img', { name: 'Whiteboard, 1 stroke' }).waitFor({ timeout: 1000 });
  await shot(guest, 'cluster-03-board-on-b');
});

test('the admin console on node B lists the room with its live member count and shows its state', { skip, timeout: 60_000 }, async () => {
  await admin.goto(`${B.url}/admin`);
  await admin.getByRole('textbox', { name: 'Access key' }).fill(keys.ak);
  await admin.getByLabel('Secret key').fill(keys.sk);
  await admin.getByRole('button', { name: 'Sign in' }).click();
  await admin.getByRole('heading', { name: 'Active rooms' }).waitFor();
  await admin.getByText(`${ROOM}: 2 members`).waitFor({ timeout: 5000 });

  // A third member enters through node A: the count on B follows without a reload.
  const cat = new MeetingClient({ baseUrl: A.url, ...creds });
  await cat.enter({ roomName: ROOM, roomUuid: ROOM, userName: 'Cat', userUuid: 'cat' });
  await admin.getByText(`${ROOM}: 3 members`).waitFor({ timeout: 5000 });
  await memberLine(guest, 'Cat').waitFor({ timeout: 3000 });
  await shot(admin, 'cluster-04-admin-on-b');

  await admin.getByRole('button', { name: `Open ${ROOM}` }).click();
  await admin.getByRole('heading', { name: `Room ${ROOM}` }).waitFor();
  await admin.getByText('State: open · mute all · Whiteboard').waitFor();
  await admin.getByRole('log', { name: 'Recent events' }).getByText('chatSent').first().waitFor();
  await shot(admin, 'cluster-05-admin-room-on-b');

  // Cat leaves: the count on B goes down again, and the participant's page on B follows.
  await cat.exit();
  await memberLine(guest, 'Cat').waitFor({ state: 'detached', timeout: 3000 });
  await admin.getByText(`${ROOM}: 2 members`).waitFor({ timeout: 5000 });
});
