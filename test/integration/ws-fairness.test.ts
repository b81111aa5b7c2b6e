// Catch-ups share the event loop fairly: a storm of resumes far back in the log, or snapshots of a
// huge room to sockets that never read, neither delays another member's calls nor grows the
// server's memory without bound. The server runs in a process of its own: its latencies and its
// resident memory are measured from outside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { agoraCaller, inParallel, percentile, rawUpgrade, rssOf, type AgoraCall } from '../helpers/load.ts';
import { RealtimeClient } from '../../client/realtime.ts';

async function serverFor(t: { after: (f: () => unknown) => void }, env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'convene-fair-'));
  const server = await spawnServer({ CONVENE_DATA_DIR: dir, CONVENE_PRESENCE_EXPIRY: 'off', CONVENE_MAX_CONNECTIONS_PER_IP: '0', ...env });
  t.after(async () => {
    await server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const creds = { appId: server.printed('App ID')!, customerId: server.printed('Customer ID')!, customerSecret: server.printed('Customer Secret')! };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  t.after(() => agent.destroy());
  return { server, creds, call: agoraCaller(server.url, creds, agent) };
}

async function enter(call: AgoraCall, roomUuid: string, userUuid: string): Promise<{ roomId: string; userToken: string }> {
  const r = await call('POST', '/entry', { roomName: roomUuid, roomUuid, userName: userUuid, userUuid });
  assert.equal(r.code, 0, r.msg);
  return r.data;
}

/** Read room info back to back on a connection of its own until `stop()`; latencies in ms. */
function roomInfoReader(call: AgoraCall, roomId: string, token: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  let reading = true;
  const loop = (async () => {
    while (reading) {
      const t0 = performance.now();
      const r = await call('GET', `/${roomId}`, undefined, token, agent);
      latencies.push(performance.now() - t0);
      assert.equal(r.code, 0);
      await new Promise((res) => setTimeout(res, 5));
    }
  })();
  return {
    async stop() {
      reading = false;
      await loop;
      agent.destroy();
      return latencies.sort((a, b) => a - b);
    },
  };
}

const EVENTS = 5_000;
const SOCKETS = 50;

test('a resume storm: 50 sockets replaying 5,000 events each; another member’s room info p99 under 100 ms', { timeout: 120_000 }, async (t) => {
  // The socket cap would refuse most of this storm; here the pacing alone must hold it.
  const { server, call } = await serverFor(t, { CONVENE_RATE_CHAT: '0', CONVENE_MAX_SOCKETS_PER_MEMBER: '100' });
  const host = await enter(call, 'storm', 'host');
  const attacker = await enter(call, 'storm', 'attacker');
  const other = await enter(call, 'storm', 'other');
  // Replay from here: the seq of a snapshot taken before the chats.
  const since = await snapshotSeq(server, host.userToken);
  // The log: EVENTS chat messages of about 300 bytes each.
  const text = 'x'.repeat(200);
  await inParallel(EVENTS, 50, async (i) => {
    const r = await call('POST', `/${host.roomId}/chat`, { message: `${i} ${text}`, type: 1 }, host.userToken);
    assert.equal(r.code, 0, r.msg);
  });
  // Warm up the reads, then measure them through the storm.
  for (let i = 0; i < 50; i++) await call('GET', `/${other.roomId}`, undefined, other.userToken);
  const reader = roomInfoReader(call, other.roomId, other.userToken);
  await new Promise((r) => setTimeout(r, 200));

  const base = server.url.replace('http', 'ws');
  const received = new Array<number>(SOCKETS).fill(0);
  const started = performance.now();
  const sockets = Array.from({ length: SOCKETS }, (_, i) => {
    const ws = new WebSocket(`${base}/v1/realtime?token=${encodeURIComponent(attacker.userToken)}&since=${since}`);
    ws.on('message', () => received[i]!++);
    ws.on('error', () => {});
    return ws;
  });
  t.after(() => sockets.forEach((ws) => ws.terminate()));

  // New connections in the middle of the storm are accepted and answered at once (Node accepts one
  // connection per turn of its event loop: the turns must stay short). A bare handshake first, then
  // a client that waits for its snapshot, which queues behind the storm's catch-ups.
  await new Promise((r) => setTimeout(r, 300));
  const port = Number(new URL(server.url).port);
  const r0 = performance.now();
  const raw = await rawUpgrade(port, `/v1/realtime?token=${encodeURIComponent(other.userToken)}&since=${since}`);
  const handshakeMs = performance.now() - r0;
  assert.match(raw.head, /^HTTP\/1.1 101 /);
  raw.sock.destroy();
  const newcomer = new RealtimeClient({ baseUrl: server.url, token: other.userToken, reconnect: false });
  const t0 = performance.now();
  const snapshot = newcomer.waitFor((m) => m.type === 'snapshot', 30_000);
  await newcomer.connect();
  const openMs = performance.now() - t0;
  await snapshot;
  const snapshotMs = performance.now() - t0;
  t.after(() => newcomer.close());

  const deadline = Date.now() + 60_000;
  while (received.some((n) => n < EVENTS) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const stormMs = performance.now() - started;
  const latencies = await reader.stop();
  assert.deepEqual(received, new Array(SOCKETS).fill(EVENTS), 'every socket got the whole replay');
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  t.diagnostic(
    `${SOCKETS} × ${EVENTS} events replayed in ${stormMs.toFixed(0)} ms; ${latencies.length} room-info reads: ` +
      `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms; ` +
      `new sockets: a handshake in ${handshakeMs.toFixed(0)} ms, another opened in ${openMs.toFixed(0)} ms and had its snapshot after ${snapshotMs.toFixed(0)} ms`,
  );
  assert.ok(p99 < 100, `room info p99 ${p99.toFixed(1)} ms during the storm`);
  assert.ok(handshakeMs < 250 && openMs < 250, `new sockets' handshakes took ${handshakeMs.toFixed(0)} and ${openMs.toFixed(0)} ms`);
  // One member's storm holds a quarter of the catch-up slots at most: another member's snapshot
  // does not wait for it (it waited 2.1 s when catch-ups were served in arrival order).
  assert.ok(snapshotMs < 1000, `another member's snapshot came ${snapshotMs.toFixed(0)} ms after its socket opened`);
});

/** The room's seq now, as a fresh socket's snapshot says it. */
async function snapshotSeq(server: ServerProcess, token: string): Promise<number> {
  const rt = new RealtimeClient({ baseUrl: server.url, token, reconnect: false });
  const snap = rt.waitFor((m) => m.type === 'snapshot', 10_000);
  await rt.connect();
  const m = await snap;
  await rt.close();
  return m.seq;
}

const MEMBERS = 10_000;

test('a 10,000-member room’s snapshot to sockets that never read: the server’s memory stays bounded', { timeout: 180_000 }, async (t) => {
  const { server, call } = await serverFor(t, { CONVENE_MAX_SOCKETS_PER_MEMBER: '100' });
  const host = await enter(call, 'huge', 'host');
  // Each member with an avatar URL of 1,000 characters: about 1.2 KB on the wire, the whole
  // snapshot about 12 MB, more than the kernel's socket buffers hold for a socket that never reads.
  const avatar = `https://example.com/avatars/${'a'.repeat(972)}`;
  const entering = performance.now();
  await inParallel(MEMBERS - 1, 256, async (i) => {
    const r = await call('POST', '/entry', { roomName: 'huge', roomUuid: 'huge', userName: `member ${i}`, userUuid: `m${i}`, avatar });
    assert.equal(r.code, 0, r.msg);
  });
  t.diagnostic(`${MEMBERS} members entered in ${(performance.now() - entering).toFixed(0)} ms`);
  const info = await call('GET', `/${host.roomId}`, undefined, host.userToken);
  assert.equal(info.data.room.onlineUsers, MEMBERS);

  // One reading socket first: its snapshot holds the first page, the host and the counts; the rest
  // is paged from the member list (E4) from the snapshot's cursor.
  const reader = new RealtimeClient({ baseUrl: server.url, token: host.userToken, reconnect: false });
  const snap = reader.waitFor((m) => m.type === 'snapshot', 30_000);
  await reader.connect();
  t.after(() => reader.close());
  const first = await snap;
  assert.ok(first.type === 'snapshot');
  assert.deepEqual(first.data.membersPage, { count: 100, total: MEMBERS, nextId: first.data.membersPage.nextId });
  assert.equal(first.data.members.length, 100, 'the first page (the host is in it)');
  assert.equal(reader.state.onlineUsers, MEMBERS);
  assert.equal(reader.state.membersComplete, false);
  const ids = new Set(first.data.members.map((m) => m.userId));
  for (let nextId = first.data.membersPage.nextId; ; ) {
    const page = await call('GET', `/${host.roomId}/user/page?nextId=${nextId}`, undefined, host.userToken);
    assert.equal(page.code, 0, page.msg);
    if (page.data.list.length === 0) break;
    for (const m of page.data.list as { userId: string }[]) ids.add(m.userId);
    nextId = page.data.nextId;
  }
  assert.equal(ids.size, MEMBERS, 'the snapshot and the pages after it make the whole member list');

  // Settle, then measure: N sockets that never read a byte after the handshake.
  await new Promise((r) => setTimeout(r, 1000));
  const before = rssOf(server.child.pid!);
  const N = 50;
  const port = Number(new URL(server.url).port);
  const socks = await Promise.all(
    Array.from({ length: N }, async () => {
      const { sock } = await rawUpgrade(port, `/v1/realtime?token=${encodeURIComponent(host.userToken)}`);
      sock.pause();
      return sock;
    }),
  );
  t.after(() => socks.forEach((s) => s.destroy()));
  let peak = before;
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 250));
    peak = Math.max(peak, rssOf(server.child.pid!));
  }
  const growth = peak - before;
  t.diagnostic(`RSS before ${(before / 1048576).toFixed(0)} MB, peak with ${N} non-reading sockets ${(peak / 1048576).toFixed(0)} MB (+${(growth / 1048576).toFixed(0)} MB)`);
  // What a socket can hold unsent is bounded (the buffer limit, not the snapshot's size).
  assert.ok(growth < 150 * 1048576, `RSS grew by ${(growth / 1048576).toFixed(0)} MB with ${N} non-reading sockets`);
  // And the server still answers promptly.
  const t0 = performance.now();
  assert.equal((await call('GET', `/${host.roomId}`, undefined, host.userToken)).code, 0);
  assert.ok(performance.now() - t0 < 1000);
});
