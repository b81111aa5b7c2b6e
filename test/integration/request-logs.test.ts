// Request logs of the real process (`convene serve` at CONVENE_LOG_LEVEL=info, its stdout read):
// one line per request with the method, the route pattern, the status, the duration and the
// request id (the caller's X-Request-Id if plain, echoed); no credential, token or secret sent in a
// request ever appears in them; a client's mistakes are logged below error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import Fastify from 'fastify';
import { spawnServer } from '../helpers/process.ts';
import { raw } from '../helpers/qiniu.ts';
import { callAgora } from '../../client/agora.ts';
import { qiniuAuthorization } from '../../src/tokens/qiniu.ts';
import { levelOf, loggerOptions } from '../../src/http/logging.ts';

interface Line {
  level: number;
  msg: string;
  reqId?: string;
  method?: string;
  route?: string | null;
  status?: number;
  ms?: number;
  code?: number;
  path?: string;
}

const secret = (what: string) => `${what}-${randomBytes(9).toString('base64url')}`;

test('request lines: method, route pattern, status, duration, request id; no secrets; mistakes below error', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'convene-logs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const srv = await spawnServer({ CONVENE_DATA_DIR: dir, CONVENE_LOG_LEVEL: 'info', CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => srv.kill());
  const appId = srv.printed('App ID')!;
  const customerId = srv.printed('Customer ID')!;
  const customerSecret = srv.printed('Customer Secret')!;
  const ak = srv.printed('Access Key')!;
  const sk = srv.printed('Secret Key')!;
  const basic = Buffer.from(`${customerId}:${customerSecret}`).toString('base64');
  const opts = { baseUrl: srv.url, appId, customerId, customerSecret };
  const base = `${srv.url}/apps/${appId}/v1/room`;
  const call = fetch;

  // The caller's (or its proxy's) id is kept and echoed; one that is not plain is replaced.
  const given = await call(`${srv.url}/healthz`, { headers: { 'x-request-id': 'trace-42.a' } });
  assert.equal(given.headers.get('x-request-id'), 'trace-42.a');
  const replaced: string[] = [];
  for (const id of ['two words', 'x'.repeat(129)]) {
    const r = await call(`${srv.url}/healthz`, { headers: { 'x-request-id': id } });
    const echoed = r.headers.get('x-request-id')!;
    assert.notEqual(echoed, id);
    assert.match(echoed, /^[0-9a-f]{8}-[0-9a-z]+$/);
    replaced.push(echoed);
  }
  assert.notEqual(replaced[0], replaced[1], 'each generated id is new');

  // A member: Basic credentials, a password in the entry's body, its userToken in a header and in
  // the query of the same request with another token (refused: a parameter given twice, code 400).
  const password = secret('pw');
  const entry = await callAgora<{ roomId: string; userToken: string }>(opts, 'POST', '/entry', {
    roomName: 'Logs',
    roomUuid: 'logs',
    userName: 'Ann',
    userUuid: 'ann',
    password,
  });
  assert.equal(entry.code, 0, entry.msg);
  const { roomId, userToken } = entry.data;
  const queryToken = secret('qt');
  const info = await call(`${base}/${roomId}?token=${queryToken}&token=${encodeURIComponent(userToken)}`, {
    headers: { authorization: `Basic ${basic}`, token: userToken, 'x-request-id': 'member-info' },
  });
  assert.equal(info.status, 200);
  // A plain room info (answered before Fastify: conf/room-info.ts) is logged as any other request.
  const plain = await call(`${base}/${roomId}`, { headers: { authorization: `Basic ${basic}`, token: userToken, 'x-request-id': 'plain-info' } });
  assert.equal(((await plain.json()) as { code: number }).code, 0);
  assert.equal(plain.headers.get('x-request-id'), 'plain-info');
  const ok = await call(`${base}/${roomId}?token=${encodeURIComponent(userToken)}`, { headers: { authorization: `Basic ${basic}`, 'x-request-id': 'by-query' } });
  assert.equal(((await ok.json()) as { code: number }).code, 0);
  // Client mistakes: wrong credentials (Agora 1001), the realtime path without an upgrade (Agora
  // 400), an unknown path (404), a wrong Qiniu signature (401).
  const wrongSecret = secret('cs');
  const refused = await call(`${base}/${roomId}/chat`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${customerId}:${wrongSecret}`).toString('base64')}`, token: userToken, 'content-type': 'application/json', 'x-request-id': 'bad-basic' },
    body: JSON.stringify({ message: 'hi' }),
  });
  assert.equal(((await refused.json()) as { code: number }).code, 1001);
  await call(`${srv.url}/v1/realtime?token=${encodeURIComponent(userToken)}`, { headers: { 'x-request-id': 'plain-realtime' } });
  assert.equal((await call(`${srv.url}/no/such/path?token=${queryToken}`, { headers: { 'x-request-id': 'unrouted' } })).status, 404);
  const port = Number(new URL(srv.url).port);
  const forged = qiniuAuthorization(ak, secret('sk'), { method: 'GET', target: '/v3/apps', host: 'rtc.qiniuapi.com', contentType: 'application/json', qiniuHeaders: [], body: Buffer.alloc(0) });
  const q401 = await raw(port, { method: 'GET', path: '/v3/apps', auth: forged, headers: { 'x-request-id': 'forged' } });
  assert.equal(q401.status, 401);
  assert.equal(q401.headers['x-request-id'], 'forged', 'echoed on answers the Qiniu API writes itself');
  // A signed UpdateApp with a callback secret in its body (answered with Qiniu's own status).
  const cbSecret = secret('cb');
  const update = await raw(port, {
    method: 'POST',
    path: `/v3/apps/${appId}`,
    body: JSON.stringify({ eventCbUrl: 'http://127.0.0.1:9/callback', eventCbSecret: cbSecret }),
    keys: { ak, sk },
    headers: { 'x-request-id': 'update-app' },
  });
  assert.equal(update.status, 200, update.body);
  const q612 = await raw(port, { method: 'GET', path: '/v3/apps/nosuchapp', keys: { ak, sk }, headers: { 'x-request-id': 'no-app' } });
  assert.equal(q612.status, 612);

  // Lines are written as answers finish: wait for the last one.
  const logLines = (): Line[] =>
    srv
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Line);
  const deadline = Date.now() + 5000;
  while (!logLines().some((l) => l.reqId === 'no-app') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const lines = logLines();
  const requestLines = lines.filter((l) => l.msg === 'request');
  const byId = (id: string) => {
    const found = requestLines.filter((l) => l.reqId === id);
    assert.equal(found.length, 1, `one line for ${id}`);
    return found[0]!;
  };

  /** A successful GET's whole line: its fields exactly, the varying ones (duration, time, pid, host) present. */
  const successLine = (id: string, route: string) => {
    const line = byId(id);
    assert.deepEqual({ ...line, ms: undefined, time: undefined, pid: undefined, hostname: undefined }, {
      level: 30,
      msg: 'request',
      reqId: id,
      method: 'GET',
      route,
      status: 200,
      ms: undefined,
      time: undefined,
      pid: undefined,
      hostname: undefined,
    });
    assert.ok(typeof line.ms === 'number' && line.ms >= 0 && line.ms < 5000, `duration ${line.ms}`);
    return line;
  };
  successLine('trace-42.a', '/healthz');
  for (const id of replaced) assert.equal(byId(id).route, '/healthz');
  const plainLine = successLine('plain-info', '/apps/:appId/v1/room/:roomId');
  assert.deepEqual(Object.keys(plainLine), Object.keys(byId('by-query')), 'the same fields, in the same order, as a line Fastify writes');
  assert.ok(requestLines.some((l) => l.method === 'POST' && l.route === '/apps/:appId/v1/room/entry' && l.status === 200 && !l.code));
  assert.deepEqual(pick(byId('member-info')), { method: 'GET', route: '/apps/:appId/v1/room/:roomId', status: 200, level: 30, code: 400 });
  assert.deepEqual(pick(byId('by-query')), { method: 'GET', route: '/apps/:appId/v1/room/:roomId', status: 200, level: 30 });
  assert.deepEqual(pick(byId('bad-basic')), { method: 'POST', route: '/apps/:appId/v1/room/:roomId/chat', status: 200, level: 30, code: 1001 });
  assert.deepEqual(pick(byId('plain-realtime')), { method: 'GET', route: '/v1/realtime', status: 200, level: 30 });
  assert.deepEqual(pick(byId('unrouted')), { method: 'GET', route: null, status: 404, level: 30, path: '/no/such/path' });
  assert.deepEqual(pick(byId('forged')), { method: 'GET', route: '/v3/apps', status: 401, level: 30 });
  assert.deepEqual(pick(byId('update-app')), { method: 'POST', route: '/v3/apps/:appId', status: 200, level: 30 });
  assert.deepEqual(pick(byId('no-app')), { method: 'GET', route: '/v3/apps/:appId', status: 612, level: 30 });
  // Nothing a caller got wrong is logged at error (the refused signature's own line is info too).
  for (const l of lines) assert.ok(l.level < 50, `below error: ${JSON.stringify(l)}`);
  assert.ok(lines.some((l) => l.msg === 'qiniu auth refused' && l.level === 30));

  // The credentials block of the first start is printed once by design; no log line holds a secret.
  const logText = lines.map((l) => JSON.stringify(l)).join('\n');
  const sessionSecret = userToken.split('.').pop()!;
  for (const [what, value] of Object.entries({ customerSecret, basic, wrongSecret, userToken, sessionSecret, queryToken, password, cbSecret, sk, forged: forged.split(':')[1]! })) {
    assert.ok(!logText.includes(value), `${what} is not in the logs`);
  }
  assert.ok(!logText.includes('token='), 'no query is logged');
});

function pick(l: Line) {
  const { method, route, status, level, code, path } = l;
  return { method, route, status, level, ...(code !== undefined ? { code } : {}), ...(path !== undefined ? { path } : {}) };
}

test('server faults are errors, an unreachable store a warning, a client mistake info', () => {
  assert.equal(levelOf(200, 0), 'info');
  assert.equal(levelOf(404, 0), 'info');
  assert.equal(levelOf(612, 0), 'info');
  assert.equal(levelOf(200, 1003), 'info');
  assert.equal(levelOf(500, 0), 'error');
  assert.equal(levelOf(200, 500), 'error');
  assert.equal(levelOf(503, 0), 'warn');
  assert.equal(levelOf(200, 503), 'warn');
});

test("a logged url loses its query (the handlers' error lines)", async () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  const app = Fastify({ logger: { ...loggerOptions('info'), stream: out } });
  app.log.warn({ url: '/v1/realtime?token=abc.def.secret&since=3' }, 'store unavailable');
  await app.close();
  assert.match(text, /"url":"\/v1\/realtime\?…"/);
  assert.doesNotMatch(text, /secret|since/);
});
