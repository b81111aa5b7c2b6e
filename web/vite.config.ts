// Builds the meeting page (web/index.html → /) and the admin console (web/admin/index.html → /admin)
// into dist/web, served by the server itself (src/http/web.ts). Prints each page's JavaScript size,
// gzipped, and writes it to dist/web/bundle-size.json (test/e2e/web-bundle.test.ts checks it).
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const outDir = fileURLToPath(new URL('../dist/web', import.meta.url));

/** The JS each page loads, gzipped, summed per page. */
function bundleSize(): Plugin {
  return {
    name: 'convene-bundle-size',
    apply: 'build',
    closeBundle() {
      const sizes: Record<string, { files: string[]; gzipBytes: number }> = {};
      for (const [page, html] of [['meeting', 'index.html'], ['admin', 'admin/index.html']] as const) {
        const text = readFileSync(`${outDir}/${html}`, 'utf8');
        const files = [...text.matchAll(/(?:src|href)="\/assets\/([^"]+\.js)"/g)].map((m) => m[1]!);
        const gzipBytes = files.reduce((n, f) => n + gzipSync(readFileSync(`${outDir}/assets/${f}`)).length, 0);
        sizes[page] = { files, gzipBytes };
      }
      const all = readdirSync(`${outDir}/assets`).filter((f) => f.endsWith('.js'));
      writeFileSync(`${outDir}/bundle-size.json`, `${JSON.stringify({ limitBytes: 200 * 1024, pages: sizes, assets: all }, null, 1)}\n`);
      for (const [page, s] of Object.entries(sizes)) {
        console.log(`web bundle: ${page} page JavaScript ${(s.gzipBytes / 1024).toFixed(1)} KB gzip (limit 200 KB)`);
      }
    },
  };
}

export default defineConfig({
  root,
  base: '/',
  logLevel: 'warn',
  publicDir: false,
  plugins: [bundleSize()],
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: { meeting: `${root}index.html`, admin: `${root}admin/index.html` },
    },
  },
});
