// A real browser for the web pages: Debian's Chromium (apt-get install chromium; .ci/run installs
// it), driven by playwright-core. No browser is ever downloaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CONVENE_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = new URL('../artifacts/', import.meta.url).pathname;

/**
 * The `skip` option for tests that need Chromium: a visible reason when it is not installed,
 * undefined when it is. With CONVENE_REQUIRE_SERVICES=1 a missing Chromium is a failure instead.
 */
export function chromiumSkip(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  if (process.env.CONVENE_REQUIRE_SERVICES === '1') {
    test(`Chromium is installed at ${CHROMIUM}`, () => assert.fail(`no ${CHROMIUM} (apt-get install -y chromium), and CONVENE_REQUIRE_SERVICES=1`));
  }
  return `Chromium is not installed (${CHROMIUM}; apt-get install -y chromium)`;
}

export interface TestBrowser {
  browser: Browser;
  /** A fresh context (its own storage, like another person's browser). */
  context(opts?: Parameters<Browser['newContext']>[0]): Promise<BrowserContext>;
  close(): Promise<void>;
}

/** Chromium's fake camera and microphone (a test pattern and a beep), granted without asking. */
export const FAKE_MEDIA = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required'];

export async function launchBrowser(extraArgs: string[] = []): Promise<TestBrowser> {
  // launch() gives the browser a fresh, temporary profile of its own (removed on close).
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      ...extraArgs,
    ],
  });
  return {
    browser,
    context: (opts) => browser.newContext({ locale: 'en-US', ...opts }),
    async close() {
      await browser.close();
    },
  };
}

/** Screenshot of a step, under test/artifacts/ (ignored by git). */
export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/**
 * The host shares the whiteboard (the guest is told it may only watch) and draws one stroke with the
 * mouse; resolves once the host's own board shows it (the server's echo, not only what it drew).
 */
export async function shareBoardAndDraw(host: Page, guest: Page): Promise<void> {
  await host.getByRole('button', { name: 'Share whiteboard' }).click();
  await host.getByText('You can draw.').waitFor();
  await guest.getByText('View only: the host or the board owner can let you draw.').waitFor();
  const canvas = host.getByRole('img', { name: /^Whiteboard/ });
  await canvas.scrollIntoViewIfNeeded();
  const box = (await canvas.boundingBox())!;
  await host.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.3);
  await host.mouse.down();
  for (let i = 1; i <= 20; i++) await host.mouse.move(box.x + box.width * (0.2 + i * 0.02), box.y + box.height * (0.3 + i * 0.01));
  await host.mouse.up();
  await host.getByRole('img', { name: 'Whiteboard, 1 stroke' }).waitFor({ timeout: 3000 });
}

/**
 * How long after the click on `button` (in page `from`) the page `to` shows every one of `texts`,
 * measured by the browser itself: both pages run in one browser on one clock, so the figure is the
 * server's and the pages' time, not the test process's event loop or Playwright's polling (on a
 * loaded CI machine those alone took half a second). Fails if `to` shows them before the click.
 */
export async function clickToShown(from: Page, button: Locator, to: Page, texts: string[], timeoutMs = 5000): Promise<number> {
  // Sent as source text: tsx would wrap named functions in a helper the page does not have.
  const watch = `(() => {
    const wanted = ${JSON.stringify(texts)};
    const shows = () => wanted.every((text) => document.body.innerText.includes(text));
    if (shows()) return false;
    window.convShownAt = new Promise((resolve) => {
      const seen = new MutationObserver(() => {
        if (!shows()) return;
        seen.disconnect();
        resolve(Date.now());
      });
      seen.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
      setTimeout(() => (seen.disconnect(), resolve(null)), ${timeoutMs});
    });
    return true;
  })()`;
  assert.ok(await to.evaluate(watch), `${texts.join(' / ')} shown before the click`);
  await from.evaluate(`(() => {
    delete window.convClickedAt;
    document.addEventListener('click', () => (window.convClickedAt = Date.now()), { capture: true, once: true });
  })()`);
  await button.click();
  const clickedAt = (await from.evaluate('window.convClickedAt')) as number | undefined;
  const shownAt = (await to.evaluate('window.convShownAt')) as number | null;
  assert.ok(clickedAt !== undefined, 'the click reached the page');
  assert.ok(shownAt !== null, `${texts.join(' / ')} not shown within ${timeoutMs} ms of the click`);
  return shownAt - clickedAt;
}

/** A person's own browser on the meeting page, joining `room` as `name` (the join form submitted). */
export async function joinPage(b: TestBrowser, baseUrl: string, room: string, name: string): Promise<Page> {
  const page = await (await b.context()).newPage();
  page.on('pageerror', (err) => console.error('page error:', err.message));
  await page.goto(`${baseUrl}/?room=${room}`);
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  await page.getByRole('button', { name: 'Join' }).click();
  return page;
}

/** The admin console signed in with an access key pair, `room` opened. */
export async function consoleOn(b: TestBrowser, baseUrl: string, keys: { accessKey: string; secretKey: string }, room: string): Promise<Page> {
  const admin = await (await b.context()).newPage();
  await admin.goto(`${baseUrl}/admin`);
  await admin.getByRole('textbox', { name: 'Access key' }).fill(keys.accessKey);
  await admin.getByLabel('Secret key').fill(keys.secretKey);
  await admin.getByRole('button', { name: 'Sign in' }).click();
  await admin.getByRole('button', { name: `Open ${room}` }).click();
  return admin;
}
