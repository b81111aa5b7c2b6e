// The built pages: each page's JavaScript is under 200 KB gzipped (the build prints the sizes and
// writes them to dist/web/bundle-size.json; they are measured again here), and nothing is loaded
// from another origin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { WEB_DIST } from '../../src/http/web.ts';

const LIMIT = 200 * 1024;

test('each page loads under 200 KB of gzipped JavaScript, all of it from this server', () => {
  assert.ok(existsSync(`${WEB_DIST}index.html`), 'the pages are built (npm run build:web; npm test runs it first)');
  const printed = JSON.parse(readFileSync(`${WEB_DIST}bundle-size.json`, 'utf8')) as { pages: Record<string, { files: string[]; gzipBytes: number }> };
  for (const [page, html] of [['meeting', 'index.html'], ['admin', 'admin/index.html']] as const) {
    const text = readFileSync(`${WEB_DIST}${html}`, 'utf8');
    assert.doesNotMatch(text, /(src|href)="(https?:)?\/\//, `${page}: no other origin`);
    const scripts = [...text.matchAll(/(?:src|href)="\/assets\/([^"]+\.js)"/g)].map((m) => m[1]!);
    assert.ok(scripts.length > 0, `${page}: its scripts are found`);
    const gzip = scripts.reduce((n, f) => n + gzipSync(readFileSync(`${WEB_DIST}assets/${f}`)).length, 0);
    assert.ok(gzip < LIMIT, `${page}: ${gzip} bytes gzipped`);
    assert.equal(printed.pages[page]?.gzipBytes, gzip, `${page}: the size the build printed`);
  }
  // Every script of the build is one of the pages' (nothing loaded later from elsewhere).
  const all = readdirSync(`${WEB_DIST}assets`).filter((f) => f.endsWith('.js'));
  const total = all.reduce((n, f) => n + gzipSync(readFileSync(`${WEB_DIST}assets/${f}`)).length, 0);
  assert.ok(total < LIMIT, `all scripts together: ${total} bytes gzipped`);
});
