// The server process gives its heap's empty pages back once quiet (src/ops/heap.ts): after its
// start, and again after a burst of entries grew the heap; each trim is logged with the heap's
// size before and after.
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

test('the heap is trimmed when the server goes quiet after its start, and again after a burst grew it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'convene-heap-'));
  const server = await spawnServer({ CONVENE_DATA_DIR: dir, CONVENE_LOG_LEVEL: 'info', CONVENE_HEAP_TRIM_MB: '4', CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(async () => {
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const first = await until('the first trim', () => trims(server)[0], 20_000);
  assert.ok(first.heapAfterMb < first.heapBeforeMb, `the start's garbage is returned: ${JSON.stringify(first)}`);

  // A burst: entries into 20 rooms, as fast as they are answered.
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
  const second = await until('a trim after the burst', () => trims(server)[1], 30_000);
  assert.ok(second.heapBeforeMb - first.heapAfterMb >= 4, `only a heap grown by the margin: ${JSON.stringify({ first, second })}`);
  assert.ok(second.heapAfterMb < second.heapBeforeMb, `the burst's garbage is returned: ${JSON.stringify(second)}`);
});
