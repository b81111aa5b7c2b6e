// Issue 18: `npm ci` on the Node the docs name must not warn that a dependency wants a newer one.
// Every package the lockfile installs (optional platform builds aside: npm skips those quietly)
// admits the oldest Node that package.json's `engines` (and docs/operations.md) allow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import semver from 'semver';

const read = (path: string) => JSON.parse(readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8'));

test("every installed package runs on the oldest Node this project's engines allow", () => {
  const pkg = read('package.json') as { engines: { node: string } };
  const oldest = semver.minVersion(pkg.engines.node)!.version;
  const lock = read('package-lock.json') as { packages: Record<string, { engines?: { node?: string }; optional?: boolean }> };
  const wanting = Object.entries(lock.packages)
    .filter(([path, p]) => path !== '' && !p.optional && p.engines?.node && !semver.satisfies(oldest, p.engines.node))
    .map(([path, p]) => `${path} wants node ${p.engines!.node}`);
  assert.deepEqual(wanting, [], `Node ${oldest} (engines ${pkg.engines.node})`);
  const docs = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
  assert.match(docs, new RegExp(`Convene needs Node ${semver.major(oldest)}\\.${semver.minor(oldest)} or later`), 'the docs name the same Node');
});
