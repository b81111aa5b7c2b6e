// The HTTP edge as real clients and hostile ones meet it: `Upgrade: h2c` (Java's HttpClient,
// curl --http2), absolute-form targets, repeated parameters, connections reset at every stage, and
// Qiniu bodies the signature does not cover.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { spawnServer } from '../helpers/process.ts';
import { qiniuServer, raw } from '../helpers/qiniu.ts';
import { qiniuAuthorization, signRoomToken } from '../../src/tokens/qiniu.ts';
import type { MeetingClient } from '../../client/agora.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run a program without blocking the event loop (the server under test lives in this process). */
function run(file: string, args: string[], timeout = 60_000): Promise<{ error?: { code?: string | number | null; message: string }; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(file, args, { encoding: 'utf8', timeout }, (error, stdout, stderr) => resolve({ error: error ?? undefined, stdout, stderr })),
  );
}
const requireServices = process.env.CONVENE_REQUIRE_SERVICES === '1';

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Send bytes as they are and split what comes back into HTTP/1.1 answers. The last request should
 * say `Connection: close`; the connection is ended anyway after a second.
 */
function exchange(port: number, bytes: string | Buffer): Promise<RawAnswer[]> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(bytes);
      setTimeout(() => s.end(), 1000).unref();
    });
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => resolve(parseAnswers(Buffer.concat(chunks))));
  });
}

function parseAnswers(buf: Buffer): RawAnswer[] {
  const out: RawAnswer[] = [];
  let rest = buf;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [statusLine, ...lines] = rest.subarray(0, end).toString('latin1').split('\r\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const length = Number(headers['content-length'] ?? 0);
    out.push({ status: Number(statusLine!.split(' ')[1]), headers, body: rest.subarray(end + 4, end + 4 + length).toString() });
    rest = rest.subarray(end + 4 + length);
  }
  return out;
}

const H2C = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n';

async function room(s: TestServer): Promise<[MeetingClient, MeetingClient]> {
  const host = s.client();
  await host.enter({ roomName: 'Edge', roomUuid: 'edge', userName: 'Host', userUuid: 'host' });
  const pat = s.client();
  await pat.enter({ roomName: 'Edge', roomUuid: 'edge', userName: 'Pat', userUuid: 'pat' });
  return [host, pat];
}

test('Upgrade: h2c is plain HTTP: raw requests (with bodies, pipelined), curl --http2, Java HttpClient', async (t) => {
  const { s, port, keys } = await qiniuServer(t);
  const [host] = await room(s);
  const basic = `Basic ${Buffer.from(`${s.creds.customerId}:${s.creds.customerSecret}`).toString('base64')}`;
  const entry = JSON.stringify({ roomName: 'Edge', roomUuid: 'edge', userName: 'Joe', userUuid: 'joe' });
  const chat = JSON.stringify({ message: 'over h2c', type: 1 });

  const [health, entered, chatted, second] = await exchange(
    port,
    `GET /healthz HTTP/1.1\r\nHost: x\r\n${H2C}\r\n` +
      `POST /apps/${s.creds.appId}/v1/room/entry HTTP/1.1\r\nHost: x\r\n${H2C}Authorization: ${basic}\r\nContent-Type: application/json\r\nContent-Length: ${entry.length}\r\n\r\n${entry}` +
      `POST /apps/${s.creds.appId}/v1/room/${host.roomId}/chat HTTP/1.1\r\nHost: x\r\n${H2C}Authorization: ${basic}\r\ntoken: ${host.userToken}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chat.length.toString(16)}\r\n${chat}\r\n0\r\n\r\n` +
      `GET /v1/multi/language HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
  );
  assert.equal(health?.status, 200);
  assert.equal(JSON.parse(health!.body).status, 'ok');
  assert.equal(JSON.parse(entered!.body).code, 0, entered?.body);
  assert.equal(JSON.parse(chatted!.body).code, 0, chatted?.body);
  assert.equal(JSON.parse(second!.body).code, 0, 'a pipelined request after them is served too');

  // A signed Qiniu call with the upgrade headers is verified and served as usual.
  const sign = qiniuAuthorization(keys.ak, keys.sk, { method: 'GET', target: '/v3/apps', host: 'rtc.qiniuapi.com', contentType: undefined, qiniuHeaders: [], body: Buffer.alloc(0) });
  const [apps] = await exchange(port, `GET /v3/apps HTTP/1.1\r\nHost: rtc.qiniuapi.com\r\n${H2C}Authorization: ${sign}\r\n\r\n`);
  assert.equal(apps?.status, 200, apps?.body);
  assert.ok(Array.isArray(JSON.parse(apps!.body)));

  // A WebSocket upgrade anywhere but the realtime path is plain HTTP as well.
  const [ws] = await exchange(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
  assert.equal(ws?.status, 200);
  // And a plain GET on the realtime path is told what it needs, in the Agora envelope.
  const [plain] = await exchange(port, `GET /v1/realtime?token=x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  assert.equal(plain?.status, 200);
  assert.match(JSON.parse(plain!.body).msg, /WebSocket upgrade/);

  const curl = await run('curl', ['--http2', '-s', '-i', `${s.url}/apps/${s.creds.appId}/v1/room/${host.roomId}`, '-H', `Authorization: ${basic}`, '-H', `token: ${host.userToken}`]);
  if (curl.error?.code === 'ENOENT') {
    if (requireServices) assert.fail(`curl is needed: ${curl.error.message}`);
    t.diagnostic('SKIPPED curl --http2: curl not found');
  } else {
    assert.match(curl.stdout, /^HTTP\/1\.1 200/, curl.stdout.slice(0, 200));
    assert.equal(JSON.parse(curl.stdout.slice(curl.stdout.indexOf('\r\n\r\n') + 4)).data.room.roomId, host.roomId);
  }

  const dir = mkdtempSync(join(tmpdir(), 'convene-java-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'H2c.java'),
    `import java.net.URI;
import java.net.http.*;
public class H2c {
  public static void main(String[] a) throws Exception {
    HttpClient client = HttpClient.newHttpClient(); // HTTP/2 by default: h2c upgrade on http://
    HttpResponse<String> get = client.send(HttpRequest.newBuilder(URI.create(a[0])).header("Authorization", a[2]).header("token", a[3]).GET().build(), HttpResponse.BodyHandlers.ofString());
    System.out.println(get.statusCode() + " " + get.body());
    HttpResponse<String> post = client.send(HttpRequest.newBuilder(URI.create(a[1])).header("Authorization", a[2]).header("token", a[3]).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(a[4])).build(), HttpResponse.BodyHandlers.ofString());
    System.out.println(post.statusCode() + " " + post.body());
  }
}
`,
  );
  const base = `${s.url}/apps/${s.creds.appId}/v1/room/${host.roomId}`;
  const java = await run('java', [join(dir, 'H2c.java'), base, `${base}/chat`, basic, host.userToken, chat]);
  if (java.error?.code === 'ENOENT') {
    if (requireServices) assert.fail(`java is needed: ${java.error.message}`);
    t.diagnostic('SKIPPED Java HttpClient: java not found');
  } else {
    const [getLine, postLine] = java.stdout.trim().split('\n');
    assert.match(getLine ?? '', /^200 \{"code":0/, java.stdout + java.stderr);
    assert.match(postLine ?? '', /^200 \{"code":0,"msg":"Success","data":true\}/, java.stdout + java.stderr);
  }
});

test('no reset connection ends the process: during an upgrade, mid-body, right after the request', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'convene-reset-'));
  const srv = await spawnServer({ CONVENE_DATA_DIR: dir });
  t.after(async () => {
    await srv.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const port = Number(new URL(srv.url).port);
  const resetAfter = (bytes: string, delayMs: number) =>
    new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write(bytes);
        setTimeout(() => {
          s.resetAndDestroy();
          resolve();
        }, delayMs);
      });
      s.on('error', () => resolve());
    });
  const ws = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
  const stages = [
    `GET /healthz HTTP/1.1\r\nHost: x\r\n${ws}\r\n`,
    `GET /nowhere HTTP/1.1\r\nHost: x\r\n${H2C}\r\n`,
    `POST /v1/multi/language HTTP/1.1\r\nHost: x\r\n${H2C}Content-Length: 100\r\n\r\n{"half":`,
    `GET /v1/realtime?token=x HTTP/1.1\r\nHost: x\r\n${ws}\r\n`,
    `GET /v1/realtime?token=x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n`,
    `POST /v3/apps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"title":`,
    `GET /v1/multi/language HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET /healthz HTTP/1.1\r\nHo`,
  ];
  for (let round = 0; round < 15; round++) {
    await Promise.all(stages.map((bytes, i) => resetAfter(bytes, (round + i) % 3)));
  }
  await sleep(200);
  assert.equal(srv.child.exitCode, null, `the server died: ${srv.stdout().slice(-2000)}`);
  const health = await fetch(`${srv.url}/healthz`);
  assert.equal(health.status, 200);
  assert.doesNotMatch(srv.stdout(), /Unhandled|ECONNRESET|EPIPE/, 'no error escaped');
});

test('a query parameter given twice is a client error in the caller\'s envelope, on every API', async (t) => {
  const { s, port, keys } = await qiniuServer(t);
  const [host] = await room(s);
  const appId = s.creds.appId;
  const basic = `Basic ${Buffer.from(`${s.creds.customerId}:${s.creds.customerSecret}`).toString('base64')}`;

  for (const form of ['/apps/APP/v1/room', '/conf/v1/apps/APP/room', '/scenario/meeting/apps/APP/v1/room']) {
    const prefix = form.replace('APP', appId);
    for (const query of ['count=1&count=2', `token=${host.userToken}&token=${host.userToken}`, 'role=1&role=2']) {
      const r = await fetch(`${s.url}${prefix}/${host.roomId}/user/page?${query}`, { headers: { authorization: basic, token: host.userToken } });
      assert.equal(r.status, 200);
      const body = (await r.json()) as { code: number; msg: string; data: unknown };
      assert.deepEqual([body.code, body.data], [400, null], `${prefix} ?${query}`);
      assert.match(body.msg, /given more than once/);
    }
  }
  const version = await (await fetch(`${s.url}/v1/app/version?appVersion=1&appVersion=2`)).json();
  assert.equal((version as { code: number }).code, 400);

  const rooms = await raw(port, { method: 'GET', path: `/v3/apps/${appId}/rooms?prefix=a&prefix=b`, keys });
  assert.equal(rooms.status, 400);
  assert.match(rooms.json.error, /invalid args: query parameter "prefix" is given more than once/);
  assert.ok(rooms.headers['x-reqid']);
  const auth = await raw(port, { method: 'GET', path: `/v3/apps/${appId}/rooms/edge/auth?user=u&token=x&token=y`, auth: null });
  assert.equal(auth.status, 400);
  assert.match(auth.json.error, /"token" is given more than once/);
  assert.ok(auth.headers['x-reqid']);
});

test('absolute-form request targets are routed like any request, in the caller\'s envelope', async (t) => {
  const { s, port, keys } = await qiniuServer(t);
  const [host] = await room(s);
  const basic = `Basic ${Buffer.from(`${s.creds.customerId}:${s.creds.customerSecret}`).toString('base64')}`;
  const get = async (target: string, headers = '') => (await exchange(port, `GET ${target} HTTP/1.1\r\nHost: elsewhere\r\n${headers}Connection: close\r\n\r\n`))[0]!;

  const info = await get(`http://127.0.0.1:${port}/apps/${s.creds.appId}/v1/room/${host.roomId}`, `Authorization: ${basic}\r\ntoken: ${host.userToken}\r\n`);
  assert.equal(info.status, 200);
  assert.equal(JSON.parse(info.body).data.room.roomId, host.roomId);
  const refused = await get(`http://h/scenario/meeting/apps/${s.creds.appId}/v1/room/${host.roomId}`, `Authorization: ${basic}\r\ntoken: nope\r\n`);
  assert.deepEqual([refused.status, JSON.parse(refused.body).code, JSON.parse(refused.body).data], [200, 401, null]);
  const unknown = await get(`http://h/apps/${s.creds.appId}/v1/nothing/here`);
  assert.deepEqual([unknown.status, JSON.parse(unknown.body).code], [200, 404]);

  const unsigned = await get('http://rtc.qiniuapi.com/v3/apps');
  assert.equal(unsigned.status, 401);
  assert.equal(JSON.parse(unsigned.body).error, 'bad token');
  assert.ok(unsigned.headers['x-reqid'], 'X-Reqid on /v3');
  const nowhere = await get('http://rtc.qiniuapi.com/v3/nothing');
  assert.deepEqual([nowhere.status, JSON.parse(nowhere.body).error], [404, 'not found']);
  assert.ok(nowhere.headers['x-reqid']);
  // Signed as the SDKs sign it: the path, and the host the target names.
  const sign = qiniuAuthorization(keys.ak, keys.sk, { method: 'GET', target: '/v3/apps', host: 'rtc.qiniuapi.com', contentType: undefined, qiniuHeaders: [], body: Buffer.alloc(0) });
  const signed = await get('http://rtc.qiniuapi.com/v3/apps', `Authorization: ${sign}\r\n`);
  assert.equal(signed.status, 200, signed.body);
  const plain = await get(`http://h/nowhere`);
  assert.deepEqual([plain.status, JSON.parse(plain.body)], [404, { error: 'not found' }]);
});

test('a Qiniu body the signature does not cover is refused and changes nothing', async (t) => {
  const { s, port, keys } = await qiniuServer(t);
  await room(s);
  const created = await raw(port, { method: 'POST', path: '/v3/apps', keys, body: JSON.stringify({ title: 'orig', maxUsers: 5 }) });
  assert.equal(created.status, 200);
  const appId = created.json.appId as string;
  const current = async () => (await raw(port, { method: 'GET', path: `/v3/apps/${appId}`, keys })).json;

  // raw() signs without the body when no Content-Type is sent: exactly a captured request replayed with another body.
  for (const contentType of [null, 'application/octet-stream']) {
    const r = await raw(port, { method: 'POST', path: `/v3/apps/${appId}`, keys, contentType, body: JSON.stringify({ title: 'pwned', maxUsers: 1 }) });
    assert.equal(r.status, 401, `${contentType}: ${r.body}`);
    assert.equal(r.json.error, 'bad token');
    assert.match(r.json.reason, /signature does not cover a body sent (without Content-Type|as application\/octet-stream)/);
    const after = await current();
    assert.deepEqual([after.title, after.maxUsers], ['orig', 5], 'nothing changed');
  }
  const message = await raw(port, { method: 'POST', path: `/v3/apps/${s.creds.appId}/rooms/edge/message`, keys, contentType: null, body: JSON.stringify({ text: 'forged' }) });
  assert.equal(message.status, 401);
  // A signed body of another type is verified but not taken: JSON (or a form for apps) only.
  const text = await raw(port, { method: 'POST', path: `/v3/apps/${appId}`, keys, contentType: 'text/plain', body: JSON.stringify({ title: 'text' }) });
  assert.equal(text.status, 400);
  assert.match(text.json.error, /unsupported Content-Type "text\/plain"/);
  assert.equal((await current()).title, 'orig');
  // The genuine request still works.
  const ok = await raw(port, { method: 'POST', path: `/v3/apps/${appId}`, keys, body: JSON.stringify({ title: 'new' }) });
  assert.equal(ok.status, 200);
  assert.equal((await current()).title, 'new');
});

test('a refused Qiniu signature says why; error stays "bad token"', async (t) => {
  const { s, port, keys } = await qiniuServer(t);
  const path = `/v3/apps/${s.creds.appId}`;
  const cases: [string, Parameters<typeof raw>[1], RegExp][] = [
    ['no header', { method: 'GET', path, auth: null }, /missing Authorization header/],
    ['QBox', { method: 'GET', path, auth: `QBox ${keys.ak}:abc=` }, /QBox tokens are not accepted/],
    ['other scheme', { method: 'GET', path, auth: 'Bearer abc' }, /unsupported Authorization/],
    ['unknown key', { method: 'GET', path, keys: { ak: 'nobody', sk: 'x' } }, /unknown access key/],
    ['wrong secret', { method: 'GET', path, keys: { ak: keys.ak, sk: 'wrong' } }, /signature mismatch/],
    ['stale date', { method: 'GET', path, keys, headers: { 'X-Qiniu-Date': '20200101T000000Z' } }, /X-Qiniu-Date is more than 900 s away/],
    ['bad date', { method: 'GET', path, keys, headers: { 'X-Qiniu-Date': 'yesterday' } }, /X-Qiniu-Date is not a date/],
  ];
  for (const [what, opts, reason] of cases) {
    const r = await raw(port, opts);
    assert.equal(r.status, 401, what);
    assert.equal(r.json.error, 'bad token', what);
    assert.match(r.json.reason, reason, what);
  }
});

test('the RoomToken check keeps an existing member\'s name', async (t) => {
  const { s, port, keys } = await qiniuServer(t);
  const alice = s.client();
  await alice.enter({ roomName: 'Standup', roomUuid: 'standup', userName: 'Alice Smith', userUuid: 'alice', avatar: 'https://a/x.png' });
  const token = signRoomToken(keys.ak, keys.sk, { appId: s.creds.appId, roomName: 'standup', userId: 'alice', expireAt: Math.floor(Date.now() / 1000) + 600, permission: 'user' });
  const r = await raw(port, { method: 'GET', path: `/v3/apps/${s.creds.appId}/rooms/standup/auth?user=alice&token=${encodeURIComponent(token)}`, auth: null });
  assert.equal(r.status, 200, r.body);
  const room = (await s.meeting.runningRoom(s.creds.appId, 'standup'))!;
  const m = room.members.find((x) => x.userUuid === 'alice')!;
  assert.deepEqual([m.userName, m.avatar], ['Alice Smith', 'https://a/x.png']);
  // A new member named only by the token is called by its user id.
  const bobToken = signRoomToken(keys.ak, keys.sk, { appId: s.creds.appId, roomName: 'standup', userId: 'bob', expireAt: Math.floor(Date.now() / 1000) + 600, permission: 'user' });
  await raw(port, { method: 'GET', path: `/v3/apps/${s.creds.appId}/rooms/standup/auth?user=bob&token=${encodeURIComponent(bobToken)}`, auth: null });
  const bob = (await s.meeting.runningRoom(s.creds.appId, 'standup'))!.members.find((x) => x.userUuid === 'bob')!;
  assert.equal(bob.userName, 'bob');
});
