// Bad requests on every /v3 route: the right status, a JSON {"error"} body, an X-Reqid, never a
// 500, and nothing changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.ts';
import { raw, type RawResponse } from '../helpers/qiniu.ts';
import { qiniuAuthorization } from '../../src/tokens/qiniu.ts';

function isQiniuError(r: RawResponse, status: number, what: string) {
  assert.equal(r.status, status, `${what}: status (${r.body})`);
  assert.match(String(r.headers['content-type']), /^application\/json/, `${what}: JSON`);
  assert.equal(typeof r.json?.error, 'string', `${what}: {"error"} body`);
  assert.ok(r.json.error.length > 0);
  assert.match(String(r.headers['x-reqid']), /^[A-Za-z0-9_-]{16}$/, `${what}: X-Reqid`);
}

test('every /v3 route refuses bad requests cleanly and changes nothing', async (t) => {
  const s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  t.after(() => s.close());
  const port = Number(new URL(s.url).port);
  const keys = { ak: s.bootstrapped.accessKey, sk: s.bootstrapped.secretKey };
  const appId = s.bootstrapped.appId;
  const host = s.client();
  await host.enter({ roomName: 'R', roomUuid: 'room1', userName: 'Host', userUuid: 'host' });
  const m = s.client();
  await m.enter({ roomName: 'R', roomUuid: 'room1', userName: 'M', userUuid: 'member' });
  const snapshot = async () => {
    const room = await s.meeting.room(host.roomId);
    return JSON.stringify([room!.version, room!.seq, await s.apps.list(null)]);
  };
  const before = await snapshot();

  const routes: { method: string; path: string; body?: string }[] = [
    { method: 'POST', path: '/v3/apps', body: '{"title":"x"}' },
    { method: 'GET', path: '/v3/apps' },
    { method: 'GET', path: `/v3/apps/${appId}` },
    { method: 'POST', path: `/v3/apps/${appId}`, body: '{"title":"y"}' },
    { method: 'DELETE', path: `/v3/apps/${appId}` },
    { method: 'GET', path: `/v3/apps/${appId}/rooms?prefix=&offset=0&limit=10` },
    { method: 'DELETE', path: `/v3/apps/${appId}/rooms/room1` },
    { method: 'GET', path: `/v3/apps/${appId}/rooms/room1/users` },
    { method: 'DELETE', path: `/v3/apps/${appId}/rooms/room1/users/member` },
    { method: 'POST', path: `/v3/apps/${appId}/rooms/room1/message`, body: '{"text":"hi"}' },
  ];
  for (const r of routes) {
    const what = `${r.method} ${r.path}`;
    isQiniuError(await raw(port, { ...r, auth: null }), 401, `${what} without Authorization`);
    const good = qiniuAuthorization(keys.ak, keys.sk, {
      method: r.method,
      target: r.path,
      host: 'rtc.qiniuapi.com',
      contentType: 'application/json',
      qiniuHeaders: [],
      body: Buffer.from(r.body ?? ''),
    });
    isQiniuError(await raw(port, { ...r, auth: good.replace('Qiniu', 'QBox') }), 401, `${what} QBox`);
    isQiniuError(await raw(port, { ...r, auth: good.replace(keys.ak, 'unknown-key') }), 401, `${what} unknown key`);
    isQiniuError(await raw(port, { ...r, auth: good.slice(0, -4) + 'AAA=' }), 401, `${what} wrong signature`);
    isQiniuError(await raw(port, { ...r, auth: good, host: 'evil.example' }), 401, `${what} other Host`);
    isQiniuError(await raw(port, { ...r, auth: good, path: `${r.path}${r.path.includes('?') ? '&' : '?'}x=1` }), 401, `${what} other query`);
    isQiniuError(await raw(port, { ...r, auth: good, contentType: 'application/json; charset=utf-8' }), 401, `${what} other Content-Type`);
    if (r.body) isQiniuError(await raw(port, { ...r, auth: good, body: r.body.replace('}', ',"z":1}') }), 401, `${what} other body`);
    isQiniuError(await raw(port, { ...r, keys, headers: { 'X-Qiniu-Date': '20200101T000000Z' } }), 401, `${what} stale X-Qiniu-Date`);
  }

  // Signed but malformed.
  const signed = (method: string, path: string, body: string, contentType?: string) => raw(port, { method, path, body, keys, contentType });
  isQiniuError(await signed('POST', '/v3/apps', '{"title":'), 400, 'bad JSON');
  isQiniuError(await signed('POST', '/v3/apps', '[1,2]'), 400, 'JSON array');
  isQiniuError(await signed('POST', '/v3/apps', '{"title":5}'), 400, 'title: 5');
  isQiniuError(await signed('POST', '/v3/apps', '{"maxUsers":"x"}'), 400, 'maxUsers: "x"');
  isQiniuError(await signed('POST', '/v3/apps', '{"maxUsers":-1}'), 400, 'maxUsers: -1');
  isQiniuError(await signed('POST', '/v3/apps', '{"noAutoKickUser":"maybe"}'), 400, 'noAutoKickUser: "maybe"');
  isQiniuError(await signed('POST', `/v3/apps/${appId}`, '{"mergePublishRtmp":3}'), 400, 'mergePublishRtmp: 3');
  isQiniuError(await signed('POST', `/v3/apps/${appId}/rooms/room1/message`, '{"targets":["member"]}'), 400, 'text missing');
  isQiniuError(await signed('POST', `/v3/apps/${appId}/rooms/room1/message`, JSON.stringify({ text: 'x'.repeat(4001) })), 400, 'text too long');
  isQiniuError(await signed('POST', `/v3/apps/${appId}/rooms/room1/message`, '{"text":"x","targets":"member"}'), 400, 'targets: string');
  isQiniuError(await signed('POST', `/v3/apps/${appId}/rooms/room1/message`, 'text=x', 'application/x-www-form-urlencoded'), 400, 'form on message');
  isQiniuError(await signed('POST', '/v3/apps', JSON.stringify({ title: 'x'.repeat(1024 * 1024 + 10) })), 413, 'body over 1 MiB');

  // Unknown app, room and user.
  for (const [method, path] of [
    ['GET', '/v3/apps/nosuchapp'],
    ['POST', '/v3/apps/nosuchapp'],
    ['DELETE', '/v3/apps/nosuchapp'],
    ['GET', '/v3/apps/nosuchapp/rooms'],
    ['GET', '/v3/apps/nosuchapp/rooms/room1/users'],
    ['DELETE', '/v3/apps/nosuchapp/rooms/room1'],
    ['DELETE', '/v3/apps/nosuchapp/rooms/room1/users/member'],
    ['POST', '/v3/apps/nosuchapp/rooms/room1/message'],
  ] as const) {
    const r = await signed(method, path, method === 'POST' ? '{"text":"x"}' : '');
    isQiniuError(r, 612, `${method} ${path}`);
    assert.equal(r.json.error, 'app not found');
    assert.equal(r.reason, 'app not found', 'the reason phrase is the error text');
  }
  isQiniuError(await signed('DELETE', `/v3/apps/${appId}/rooms/noroom`, ''), 615, 'close an unknown room');
  isQiniuError(await signed('DELETE', `/v3/apps/${appId}/rooms/noroom/users/member`, ''), 615, 'kick in an unknown room');
  isQiniuError(await signed('DELETE', `/v3/apps/${appId}/rooms/room1/users/nobody`, ''), 612, 'kick an unknown user');
  isQiniuError(await signed('POST', `/v3/apps/${appId}/rooms/noroom/message`, '{"text":"x"}'), 615, 'message an unknown room');
  isQiniuError(await signed('POST', `/v3/apps/${appId}/rooms/room1/message`, '{"text":"x","targets":["nobody"]}'), 612, 'message an unknown user');

  // Unsupported and unknown routes.
  for (const [method, path] of [
    ['POST', `/v3/apps/${appId}/createroom`],
    ['POST', `/v3/apps/${appId}/rooms/room1/merge_job`],
    ['POST', `/v4/apps/${appId}/rooms/room1/jobs`],
    ['GET', '/v3/nothing'],
  ] as const) {
    const r = await signed(method, path, method === 'POST' ? '{}' : '');
    assert.equal(r.status, 404, `${method} ${path}`);
    assert.equal(typeof r.json?.error, 'string');
    if (path.startsWith('/v3')) assert.match(String(r.headers['x-reqid']), /^[A-Za-z0-9_-]{16}$/);
  }
  // Query junk is not an error: Node's SDK sends prefix=undefined literally.
  const junk = await signed('GET', `/v3/apps/${appId}/rooms?prefix=undefined&offset=abc&limit=-3`, '');
  assert.deepEqual([junk.status, junk.json], [200, { end: true, offset: 0, rooms: [] }]);

  assert.equal(await snapshot(), before, 'nothing changed');

  // A correctly signed chunked body without Content-Length (the Node SDK's framing) is accepted.
  const chunked = await raw(port, { method: 'POST', path: '/v3/apps', keys, body: '{"title":"chunked"}', chunked: true });
  assert.equal(chunked.status, 200, chunked.body);
  assert.equal(chunked.json.title, 'chunked');
});
