// A presence-expiry storm: 2,000 members enter one room and never connect (policy `always`), so all
// of them leave at about the same time, 4 s after their entry. Their departures are committed in batches (one cmd 2 for
// many members), and another member's room info stays fast all along.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer } from '../helpers/process.ts';
import { MeetingClient } from '../../client/agora.ts';
import { RealtimeClient, type RealtimeMessage } from '../../client/realtime.ts';

const N = 2_000;

test('2,000 members expiring together: batched departures, room info p99 under 100 ms', { timeout: 60_000 }, async (t) => {
  // The server in a process of its own: the load generator here must not add to its latencies.
  const dir = mkdtempSync(join(tmpdir(), 'convene-storm-'));
  const server = await spawnServer({ CONVENE_DATA_DIR: dir, CONVENE_PRESENCE_EXPIRY: 'always', CONVENE_PRESENCE_GRACE: '4', CONVENE_MAX_CONNECTIONS_PER_IP: '0' });
  t.after(async () => {
    await server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const creds = { appId: server.printed('App ID')!, customerId: server.printed('Customer ID')!, customerSecret: server.printed('Customer Secret')! };
  const s = { url: server.url, creds };
  const host = new MeetingClient({ baseUrl: server.url, ...creds });
  await host.enter({ roomName: 'Storm', roomUuid: 'storm', userName: 'Host', userUuid: 'host' });
  const watcher = new RealtimeClient({ baseUrl: s.url, token: host.userToken, reconnect: false });
  const frames: RealtimeMessage[] = [];
  watcher.on((m) => frames.push(m));
  await watcher.connect();
  t.after(() => watcher.close());

  const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
  // The reader has a connection of its own: it must not queue behind the entries in the client.
  const readerAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => {
    agent.destroy();
    readerAgent.destroy();
  });
  const auth = `Basic ${Buffer.from(`${s.creds.customerId}:${s.creds.customerSecret}`).toString('base64')}`;
  const call = (method: string, path: string, body?: unknown, token?: string, via = agent) =>
    new Promise<{ code: number }>((resolve, reject) => {
      const text = body === undefined ? '' : JSON.stringify(body);
      const req = http.request(
        `${s.url}/apps/${s.creds.appId}/v1/room${path}`,
        { method, agent: via, headers: { authorization: auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...(token ? { token } : {}) } },
        (res) => {
          let out = '';
          res.on('data', (d) => (out += d));
          res.on('end', () => resolve(JSON.parse(out)));
        },
      );
      req.on('error', reject);
      req.end(text);
    });

  // Warm up first (the server compiles and loads some code on first use): an entry that expires,
  // and some reads; the storm is measured after.
  assert.equal((await call('POST', '/entry', { roomName: 'Warm', roomUuid: 'warm', userName: 'w', userUuid: 'w' })).code, 0);
  for (let i = 0; i < 50; i++) await call('GET', `/${host.roomId}`, undefined, host.userToken);
  await new Promise((r) => setTimeout(r, 5_500));

  let next = 0;
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (next < N) {
        const i = next++;
        const r = await call('POST', '/entry', { roomName: 'Storm', roomUuid: 'storm', userName: `m${i}`, userUuid: `m${i}` });
        assert.equal(r.code, 0);
      }
    }),
  );
  // The entries are in (within the grace period): another member keeps reading room info
  // through the expiry storm.
  const latencies: number[] = [];
  let reading = true;
  const reader = (async () => {
    while (reading) {
      const t0 = performance.now();
      const r = await call('GET', `/${host.roomId}`, undefined, host.userToken, readerAgent);
      latencies.push(performance.now() - t0);
      assert.equal(r.code, 0);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();

  // Everyone but the host (who holds a socket) leaves after the grace period.
  const deadline = Date.now() + 30_000;
  while ((await host.info()).room.onlineUsers > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  reading = false;
  await reader;
  assert.equal((await host.info()).room.onlineUsers, 1, 'all expired');

  // In a room of more than 100, cmd 2 counts the changes (`omitted`) without listing them: the
  // departures are the messages whose total went down (the entries all came before).
  const leaves: RealtimeMessage[] = [];
  let departed = 0;
  let total = 0;
  for (const m of frames) {
    if (m.type === 'snapshot') total = m.data.room.onlineUsers;
    if (m.type !== 'channel' || m.cmd !== 2) continue;
    const d = m.data as { total: number; list: { state: number }[]; omitted?: number };
    if (d.total < total) {
      leaves.push(m);
      departed += d.list.filter((x) => x.state === 0).length + (d.omitted ?? 0);
      assert.equal(total - d.total, d.list.length + (d.omitted ?? 0), 'each message counts its departures');
    }
    total = d.total;
  }
  assert.equal(departed, N, 'every departure announced once');
  assert.ok(leaves.length <= N / 10, `departures batched: ${leaves.length} cmd 2 messages for ${N} members`);
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
  t.diagnostic(`${latencies.length} room-info reads during the storm: p50 ${latencies[Math.floor(latencies.length / 2)]!.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; ${N} departures in ${leaves.length} messages`);
  assert.ok(p99 < 100, `room info p99 ${p99.toFixed(1)} ms`);
});
