// Issue 18: the meeting page is a meeting. Three people in Chromium (fake camera and microphone)
// hear and see each other through the page's WebRTC mesh, signalled over Convene's socket; the
// room's rules are the media's (mute all stops every participant's outbound audio within a second,
// and it comes back when allowed); a shared screen reaches the others; a removed member's
// connections close on every page; a page of another room forging a signal is refused.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { chromiumSkip, FAKE_MEDIA, launchBrowser, shot, type TestBrowser } from '../helpers/browser.ts';

const skip = chromiumSkip();
let s: TestServer;
let b: TestBrowser;
let ann: Page;
let bob: Page;
let cat: Page;
const ROOM = 'e2e-media';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every RTCPeerConnection a page makes, kept where the test can read its stats. */
function recordPeerConnections(): void {
  const Original = window.RTCPeerConnection;
  const made: RTCPeerConnection[] = [];
  (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs = made;
  window.RTCPeerConnection = class extends Original {
    constructor(config?: RTCConfiguration) {
      super(config);
      made.push(this);
    }
  };
}

interface Rtp {
  mid: string;
  bytes: number;
}
interface PcStats {
  state: RTCPeerConnectionState;
  inbound: Rtp[];
  outbound: Rtp[];
}

/** Each live connection's RTP byte counts by media section (0 audio, 1 camera, 2 screen). */
async function stats(page: Page): Promise<PcStats[]> {
  return page.evaluate(async () => {
    const out: { state: RTCPeerConnectionState; inbound: { mid: string; bytes: number }[]; outbound: { mid: string; bytes: number }[] }[] = [];
    for (const pc of (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs) {
      if (pc.connectionState === 'closed') continue;
      const r = { state: pc.connectionState, inbound: [] as { mid: string; bytes: number }[], outbound: [] as { mid: string; bytes: number }[] };
      const report = await pc.getStats();
      report.forEach((x: { type: string; mid?: string; bytesReceived?: number; bytesSent?: number }) => {
        if (x.type === 'inbound-rtp') r.inbound.push({ mid: x.mid ?? '', bytes: x.bytesReceived ?? 0 });
        if (x.type === 'outbound-rtp') r.outbound.push({ mid: x.mid ?? '', bytes: x.bytesSent ?? 0 });
      });
      out.push(r);
    }
    return out;
  });
}

const sum = (list: PcStats[], dir: 'inbound' | 'outbound', mid: string) => list.map((p) => p[dir].filter((x) => x.mid === mid).reduce((n, x) => n + x.bytes, 0));

/** Every live connection of `page` receives rising bytes on the given media sections. */
async function receiving(page: Page, mids: string[], connections: number, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last = '';
  for (;;) {
    const a = await stats(page);
    await sleep(700);
    const z = await stats(page);
    const ok = z.length === connections && a.length === connections && z.every((p) => p.state === 'connected') && mids.every((mid) => sum(z, 'inbound', mid).every((n, i) => n > (sum(a, 'inbound', mid)[i] ?? 0)));
    if (ok) return;
    last = JSON.stringify(z.map((p) => ({ state: p.state, inbound: p.inbound })));
    if (Date.now() > deadline) assert.fail(`${what}: not every connection receives ${mids.join(', ')}; ${last}`);
  }
}

/** Outbound audio bytes of every live connection of a page. */
const audioSent = async (page: Page) => sum(await stats(page), 'outbound', '0');

async function join(page: Page, name: string, room = ROOM): Promise<void> {
  await page.goto(`${s.url}/?room=${room}`);
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  await page.getByRole('button', { name: 'Join' }).click();
  await page.getByRole('heading', { name: 'Members' }).waitFor();
}

before(async () => {
  if (skip) return;
  s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  b = await launchBrowser(FAKE_MEDIA);
  const pages: Page[] = [];
  for (let i = 0; i < 3; i++) {
    const context = await b.context({ permissions: ['camera', 'microphone'], viewport: { width: 1280, height: 900 } });
    await context.addInitScript(recordPeerConnections);
    const page = await context.newPage();
    page.on('pageerror', (err) => console.error('page error:', err.message));
    pages.push(page);
  }
  [ann, bob, cat] = pages as [Page, Page, Page];
  await join(ann, 'Ann');
  await join(bob, 'Bob');
  await join(cat, 'Cat');
  for (const p of [ann, bob, cat]) await p.getByRole('button', { name: 'Turn camera on' }).click();
});
after(async () => {
  if (skip) return;
  await b?.close();
  await s?.close();
});

test('three people each receive the other two\u2019s audio and video; the tiles play them', { skip, timeout: 90_000 }, async () => {
  for (const [p, name] of [[ann, 'Ann'], [bob, 'Bob'], [cat, 'Cat']] as const) await receiving(p, ['0', '1'], 2, `${name}'s page`);
  for (const p of [ann, bob, cat]) {
    await p.waitForFunction(() => {
      const videos = [...document.querySelectorAll<HTMLVideoElement>('.tile video')].filter((v) => !v.hidden);
      return videos.length === 3 && videos.every((v) => v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 5);
    }, undefined, { timeout: 15_000 });
    const frames = () => p.evaluate(() => [...document.querySelectorAll<HTMLVideoElement>('.tile video')].map((v) => v.getVideoPlaybackQuality().totalVideoFrames));
    const before = await frames();
    await sleep(500);
    const later = await frames();
    assert.ok(later.every((n, i) => n > before[i]!), `every tile's video keeps getting frames: ${before} → ${later}`);
    assert.equal(await p.locator('.tile').count(), 3);
    // Each remote member is heard (its audio element plays its stream), one's own voice never.
    const heard = await p.evaluate(() => [...document.querySelectorAll<HTMLAudioElement>('.tile audio')].filter((a) => a.srcObject && !a.muted).length);
    assert.equal(heard, 2);
  }
  await shot(ann, 'media-01-three-tiles-desktop');
  await bob.setViewportSize({ width: 390, height: 844 });
  await sleep(300);
  await shot(bob, 'media-02-three-tiles-phone');
  await bob.setViewportSize({ width: 1280, height: 900 });
});

test('mute all: every participant\u2019s outbound audio stops within 1 s, and resumes when allowed', { skip, timeout: 60_000 }, async () => {
  await ann.getByRole('button', { name: 'Mute all (members may not unmute)' }).click();
  await sleep(1000);
  const stopped = await Promise.all([bob, cat].map(audioSent));
  await sleep(800);
  const still = await Promise.all([bob, cat].map(audioSent));
  assert.deepEqual(still, stopped, 'no audio byte sent by Bob or Cat after the first second');
  // The host was not muted: its audio still flows.
  const hostBefore = await audioSent(ann);
  await sleep(500);
  assert.ok((await audioSent(ann)).every((n, i) => n > hostBefore[i]!), 'the host keeps speaking');
  // The others' pages no longer play Bob's audio either.
  assert.equal(await ann.evaluate(() => [...document.querySelectorAll<HTMLAudioElement>('.tile audio')].filter((a) => a.srcObject && !a.muted).length), 0);
  await bob.getByRole('button', { name: 'Unmute microphone' }).waitFor();
  assert.equal(await bob.getByRole('button', { name: 'Unmute microphone' }).isDisabled(), true, 'the microphone cannot be turned on');

  await ann.getByRole('button', { name: 'Lift mute all' }).click();
  await bob.getByRole('button', { name: 'Unmute microphone' }).click();
  await bob.getByRole('button', { name: 'Mute microphone' }).waitFor();
  await sleep(1000);
  const a = await audioSent(bob);
  await sleep(700);
  assert.ok((await audioSent(bob)).every((n, i) => n > a[i]!), 'Bob\u2019s audio flows again once allowed');
  await cat.getByRole('button', { name: 'Unmute microphone' }).click();
  await cat.getByRole('button', { name: 'Mute microphone' }).waitFor();
  await sleep(1000);
  const c = await audioSent(cat);
  await sleep(700);
  assert.ok((await audioSent(cat)).every((n, i) => n > c[i]!), 'Cat\u2019s too');
});

test('the host turns a member\u2019s camera off: its outbound video stops, its tile shows initials', { skip, timeout: 60_000 }, async () => {
  const session = (page: Page) => page.evaluate(() => JSON.parse(sessionStorage.getItem('convene.session')!) as { roomId: string; userId: string; userToken: string });
  const [a, c] = await Promise.all([session(ann), session(cat)]);
  const host = Object.assign(s.client(), { roomId: a.roomId, userId: a.userId, userToken: a.userToken });
  await host.changeUser(c.userId, { enableVideo: 0 });
  await sleep(1000);
  const videoSent = async () => sum(await stats(cat), 'outbound', '1');
  const stopped = await videoSent();
  await sleep(800);
  assert.deepEqual(await videoSent(), stopped, 'no video byte sent by Cat after the first second');
  await ann.locator(`.tile[data-user="${c.userId}"] .initials:not([hidden])`).waitFor({ timeout: 3000 });
  assert.equal(await ann.locator(`.tile[data-user="${c.userId}"] .initials`).textContent(), 'CA');
  await cat.getByRole('button', { name: 'Turn camera on' }).click();
  await ann.locator(`.tile[data-user="${c.userId}"] video:not([hidden])`).waitFor({ timeout: 10_000 });
});

test('a shared screen reaches the others, large', { skip, timeout: 60_000 }, async () => {
  await bob.getByRole('button', { name: 'Share screen' }).click();
  await bob.getByRole('button', { name: 'Stop sharing' }).waitFor();
  for (const p of [ann, cat]) {
    await p.waitForFunction(() => {
      const v = document.querySelector<HTMLVideoElement>('video.screen');
      return !!v && !v.hidden && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 3;
    }, undefined, { timeout: 15_000 });
  }
  await shot(ann, 'media-03-screen-share');
  await bob.getByRole('button', { name: 'Stop sharing' }).click();
  await ann.waitForFunction(() => document.querySelector<HTMLVideoElement>('video.screen')!.hidden, undefined, { timeout: 5_000 });
});

test('a fourth page, in another room, forging a signal to a member here is refused by the server', { skip, timeout: 60_000 }, async () => {
  const dan = await (await b.context({ permissions: ['camera', 'microphone'] })).newPage();
  await join(dan, 'Dan', 'e2e-media-other');
  const target = await ann.evaluate(() => JSON.parse(sessionStorage.getItem('convene.session')!).userId as string);
  const pcsBefore = await ann.evaluate(() => (window as unknown as { __pcs: unknown[] }).__pcs.length);
  const refusal = await dan.evaluate(async (to) => {
    const token = JSON.parse(sessionStorage.getItem('convene.session')!).userToken as string;
    const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/v1/realtime?token=${encodeURIComponent(token)}&media=1`);
    return new Promise<unknown>((resolve) => {
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data as string);
        if (m.type === 'snapshot') ws.send(JSON.stringify({ type: 'signal', to, ref: 'forged', signal: { pc: 'x', description: { type: 'offer', sdp: 'v=0' } } }));
        if (m.type === 'signalError') resolve(m.data);
      };
      setTimeout(() => resolve(null), 5000);
    });
  }, target);
  assert.deepEqual(refusal, { ref: 'forged', to: target, code: 404, msg: `no member ${JSON.stringify(target)} in this room` });
  await sleep(300);
  assert.equal(await ann.evaluate(() => (window as unknown as { __pcs: unknown[] }).__pcs.length), pcsBefore, 'Ann\u2019s page made no connection for it');
  await dan.close();
});

test('a removed member\u2019s connections close on every page', { skip, timeout: 60_000 }, async () => {
  const catId = await cat.evaluate(() => JSON.parse(sessionStorage.getItem('convene.session')!).userId as string);
  await ann.locator('li.member', { hasText: 'Cat' }).getByRole('button', { name: 'Remove Cat' }).click();
  await ann.getByRole('button', { name: 'Confirm: remove Cat' }).click();
  await cat.waitForFunction(() => (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs.every((pc) => pc.connectionState === 'closed'), undefined, { timeout: 5_000 });
  for (const p of [ann, bob]) {
    await p.waitForFunction((id) => !document.querySelector(`.tile[data-user="${id}"]`), catId, { timeout: 5_000 });
    const live = await stats(p);
    assert.equal(live.length, 1, 'only the connection between Ann and Bob is left');
  }
  await receiving(ann, ['0', '1'], 1, 'Ann still hears and sees Bob');
});
