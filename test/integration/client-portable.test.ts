// The typed client runs where there is no Node Buffer and no `ws` package, as in a browser: a Node
// started with --experimental-websocket has only the standard WebSocket, and the client uses it to
// enter, receive, resume after a drop and keep its meeting state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startTestServer } from '../helpers/server.ts';

test('the typed client works on the standard WebSocket alone (as in a browser): enter, snapshot, chat, resume after a drop', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const child = spawn(
    process.execPath,
    ['--experimental-websocket', '--no-warnings', '--import', 'tsx', 'test/helpers/standard-client.ts', s.url, s.creds.appId, s.creds.customerId, s.creds.customerSecret],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, err);
  const seen = JSON.parse(out.trim().split('\n').at(-1)!) as { opened: number; seqBefore: number; lastSeq: number; chat: string[]; online: number };
  assert.ok(seen.opened >= 2, `the platform's WebSocket was used for the connection and the resume (${seen.opened})`);
  assert.ok(seen.lastSeq > seen.seqBefore);
  assert.deepEqual(seen.chat, ['before the drop', 'while away'], 'nothing missed across the drop');
  assert.equal(seen.online, 1);
});
