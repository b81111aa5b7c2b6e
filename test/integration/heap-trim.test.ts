// The server process gives its heap's empty pages back once quiet after a burst (src/ops/heap.ts);
// each trim is logged with the heap's size before and after. (When, exactly: test/unit/heap-trim.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverOnOwnDir, type ServerProcess } from '../helpers/process.ts';
import { until } from '../helpers/frames.ts';

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

test('the heap grown by a burst of entries is trimmed once the server has gone quiet', async (t) => {
  const { server } = await serverOnOwnDir(t, 'convene-heap-', { CONVENE_LOG_LEVEL: 'info', CONVENE_HEAP_TRIM_MB: '4' });
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
  await until(() => trims(server).length > 0, 'a trim once quiet', 30_000);
  const trim = trims(server)[0]!;
  assert.ok(trim.heapBeforeMb - trim.heapAfterMb >= 4, `the burst's garbage is returned: ${JSON.stringify(trim)}`);
});
