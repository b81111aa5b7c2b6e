// The server process gives its heap's empty pages back once quiet after a burst (src/ops/heap.ts);
// each trim is logged with the heap's size before and after. (When, exactly: test/unit/heap-trim.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';

interface Trim {
  heapBeforeMb: number;
  heapAfterMb: number;
  pauseMs: number;
}

const trims = (server: ServerProcess): Trim[] =>
  server
    .stdout()
    .split('\n')
    .filter((l) => l.includes('heap trimmed'))
    .map((l) => JSON.parse(l) as Trim);

async function until<T>(what: string, f: () => T | undefined, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('the heap grown by a burst of entries is trimmed once the server has gone quiet', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'convene-heap-'));
  const server = await spawnServer({ CONVENE_DATA_DIR: dir, CONVENE_LOG_LEVEL: 'info', CONVENE_HEAP_TRIM_MB: '4', CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(async () => {
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  // A burst at once (the start is not quiet for long enough to bring a trim of its own): 2,000
  // entries into 20 rooms, as fast as they are answered.
  const auth = `Basic ${Buffer.from(`${server.printed('Customer ID')}:${server.printed('Customer Secret')}`).toString('base64')}`;
  const entry = `${server.url}/apps/${server.printed('App ID')}/v1/room/entry`;
  let n = 0;
  await Promise.all(
    Array.from({ length: 20 }, async (_, room) => {
      for (let m = 0; m < 100; m++) {
        const body = JSON.stringify({ roomName: `R${room}`, roomUuid: `trim-${room}`, userName: 'U', userUuid: `u-${room}-${m}` });
        const res = await fetch(entry, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body });
        assert.equal(((await res.json()) as { code: number }).code, 0);
        n++;
      }
    }),
  );
  assert.equal(n, 2000);
  assert.equal(trims(server).length, 0, 'no trim while the entries came');
  const trim = await until('a trim once quiet', () => trims(server)[0], 30_000);
  assert.ok(trim.heapBeforeMb - trim.heapAfterMb >= 4, `the burst's garbage is returned: ${JSON.stringify(trim)}`);
});
