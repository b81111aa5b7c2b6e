// The RTM REST stand-in refuses what Agora refuses and accepts what Agora accepts: tokens minted by
// the real agora-token package, Basic customer credentials, the documented body and limits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import agoraToken from 'agora-token';
import { basicAuthorization, parseAccessToken2, accessToken2Signature, startRtmStandin, type RtmStandin } from '../helpers/rtm-standin.ts';

const require = createRequire(import.meta.url);
interface ParsedToken { from_string(t: string): boolean; verifySignature(cert: string): boolean }
interface Buildable { add_service(s: unknown): void; build(): string }
const token2 = require('agora-token/src/AccessToken2.js') as {
  AccessToken2: (new (appId: string, cert: string, issueTs: number, expire: number) => Buildable) & (new () => ParsedToken);
  ServiceRtm: new (uid: string) => { add_privilege(p: number, expire: number): void };
};

const APP = '0123456789abcdef0123456789abcdef';
const CERT = 'fedcba9876543210fedcba9876543210';
const OTHER_CERT = '00112233445566778899aabbccddeeff';
const CUSTOMER = { id: 'cust-id', secret: 'cust-secret' };
const BASIC = { authorization: basicAuthorization(CUSTOMER.id, CUSTOMER.secret) };
const rtmToken = (uid: string, cert = CERT, app = APP, expire = 600) => agoraToken.RtmTokenBuilder.buildToken(app, cert, uid, expire);
const tokenHeaders = (token: string, uid: string) => ({ 'x-agora-token': token, 'x-agora-uid': uid });

let rtm: RtmStandin;
before(async () => {
  rtm = await startRtmStandin({ appId: APP, appCertificate: CERT, customers: [CUSTOMER] });
});
after(() => rtm.close());

interface Call { kind?: 'peer' | 'channel'; sender?: string; app?: string; body?: unknown; raw?: string; headers?: Record<string, string>; query?: string; signal?: AbortSignal }
async function send(c: Call, on: RtmStandin = rtm): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const kind = c.kind ?? 'channel';
  const path = `/dev/v2/project/${c.app ?? APP}/rtm/users/${encodeURIComponent(c.sender ?? 'convene')}/${kind}_messages${c.query ?? ''}`;
  const res = await fetch(on.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(c.headers?.['x-agora-token'] ? {} : BASIC), ...c.headers },
    body: c.raw ?? JSON.stringify(c.body ?? { channel_name: 'room-1', enable_historical_messaging: false, payload: '{"cmd":1}' }),
    signal: c.signal,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {}, headers: res.headers };
}

async function refusedWith(status: number, c: Call, reason?: RegExp): Promise<void> {
  const before = rtm.accepted.length;
  const r = await send(c);
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.equal(rtm.accepted.length, before, 'a refused call must not be recorded as accepted');
  if (reason) assert.match(rtm.refused.at(-1)!.reason, reason);
}

test('a channel message with valid Basic credentials is accepted and recorded', async () => {
  const r = await send({ body: { channel_name: 'room-basic', enable_historical_messaging: false, payload: 'hello' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.result, 'success');
  assert.equal(r.json.code, 'message_sent');
  assert.equal(typeof r.json.request_id, 'string');
  const got = rtm.channel.get('room-basic');
  assert.equal(got?.length, 1);
  assert.deepEqual([got![0].kind, got![0].sender, got![0].payload, got![0].auth], ['channel', 'convene', 'hello', 'basic']);
});

test('a peer message with a valid RTM token is accepted; wait_for_ack=true answers message_delivered', async () => {
  const body = { destination: '1042', enable_offline_messaging: false, enable_historical_messaging: false, payload: '{"cmd":7}' };
  const r = await send({ kind: 'peer', body, headers: tokenHeaders(rtmToken('convene'), 'convene'), query: '?wait_for_ack=true' });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.code, 'message_delivered');
  const got = rtm.peer.get('1042')!.at(-1)!;
  assert.deepEqual([got.kind, got.sender, got.target, got.auth, got.waitForAck], ['peer', 'convene', '1042', 'token', true]);
});

test('the signature check agrees with the agora-token package and catches a tampered token', () => {
  const good = rtmToken('convene');
  const parsed = new token2.AccessToken2();
  assert.ok(parsed.from_string(good));
  assert.ok(parsed.verifySignature(CERT));
  const t = parseAccessToken2(good);
  assert.deepEqual(accessToken2Signature(t, CERT), t.signature);
  assert.equal(t.rtm?.userId, 'convene');
  assert.notDeepEqual(accessToken2Signature(t, OTHER_CERT), t.signature);
  assert.equal(parsed.verifySignature(OTHER_CERT), false);
});

test('bad Basic credentials and missing credentials are refused with 401', async () => {
  await refusedWith(401, { headers: { authorization: basicAuthorization(CUSTOMER.id, 'wrong') } });
  await refusedWith(401, { headers: { authorization: basicAuthorization('someone-else', CUSTOMER.secret) } });
  await refusedWith(401, { headers: { authorization: 'Bearer abc' } });
  const res = await fetch(`${rtm.url}/dev/v2/project/${APP}/rtm/users/convene/channel_messages`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channel_name: 'r', payload: 'x' }),
  });
  assert.equal(res.status, 401);
});

async function tokenCall(token: string, uid: string, sender = uid): Promise<number> {
  const before = rtm.accepted.length;
  const res = await fetch(`${rtm.url}/dev/v2/project/${APP}/rtm/users/${sender}/channel_messages`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...tokenHeaders(token, uid) },
    body: JSON.stringify({ channel_name: 'room-token', payload: 'x' }),
  });
  await res.text();
  if (res.status !== 200) assert.equal(rtm.accepted.length, before);
  return res.status;
}

test('forged tokens are refused: another uid, another certificate, another app, expired, not 007', async () => {
  assert.equal(await tokenCall(rtmToken('convene'), 'convene'), 200);
  assert.equal(await tokenCall(rtmToken('1042'), 'convene'), 401, 'token minted for another uid');
  assert.match(rtm.refused.at(-1)!.reason, /minted for user 1042/);
  assert.equal(await tokenCall(rtmToken('1042'), '1042', 'convene'), 403, 'x-agora-uid differs from the sender in the path');
  assert.equal(await tokenCall(rtmToken('convene', OTHER_CERT), 'convene'), 401, 'signed with another certificate');
  assert.match(rtm.refused.at(-1)!.reason, /signature/);
  assert.equal(await tokenCall(rtmToken('convene', CERT, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'), 'convene'), 401, 'issued for another app');
  const stale = (tokenExpire: number, loginExpire: number) => {
    const t = new token2.AccessToken2(APP, CERT, Math.floor(Date.now() / 1000) - 3600, tokenExpire);
    const svc = new token2.ServiceRtm('convene');
    svc.add_privilege(1, loginExpire);
    t.add_service(svc);
    return t.build();
  };
  assert.equal(await tokenCall(stale(7200, 7200), 'convene'), 200, 'issued an hour ago, valid for two');
  assert.equal(await tokenCall(stale(600, 7200), 'convene'), 401, 'the token expired an hour ago');
  assert.match(rtm.refused.at(-1)!.reason, /x-agora-token has expired/);
  assert.equal(await tokenCall(stale(7200, 600), 'convene'), 401, 'the login privilege lapsed');
  assert.match(rtm.refused.at(-1)!.reason, /login privilege/);
  assert.equal(await tokenCall('006' + rtmToken('convene').slice(3), 'convene'), 401, 'not an AccessToken2');
  assert.equal(await tokenCall('007!!!not-base64', 'convene'), 401, 'unreadable');
});

test('payload limits: exactly 32768 UTF-8 bytes pass, one byte more (or 33 KB) is refused', async () => {
  assert.equal((await send({ body: { channel_name: 'room-size', payload: 'a'.repeat(32768) } })).status, 200);
  await refusedWith(400, { body: { channel_name: 'room-size', payload: 'a'.repeat(33 * 1024) } }, /32768/);
  await refusedWith(400, { body: { channel_name: 'room-size', payload: '€'.repeat(10923) } }, /32769 bytes/);
  await refusedWith(400, { body: { channel_name: 'room-size', payload: '' } });
  await refusedWith(435, { raw: '{"channel_name":"room-size","payload":"\\ud800x"}' });
});

test('wrong content type, bad JSON and missing or mistyped fields are refused', async () => {
  await refusedWith(415, { headers: { 'content-type': 'text/plain' } });
  await refusedWith(400, { raw: '{"channel_name": "room-1", "payload": ' });
  await refusedWith(400, { raw: '["room-1"]' });
  await refusedWith(400, { body: { channel_name: 'room-1' } }, /payload/);
  await refusedWith(400, { body: { payload: 'x' } }, /channel_name/);
  await refusedWith(400, { body: { channel_name: 'room-1', payload: 'x', enable_historical_messaging: 'no' } });
  await refusedWith(400, { body: { channel_name: 'room/1', payload: 'x' } }, /character/);
  await refusedWith(400, { body: { channel_name: 'r'.repeat(65), payload: 'x' } });
  await refusedWith(400, { kind: 'peer', body: { payload: 'x' } }, /destination/);
  await refusedWith(400, { kind: 'peer', body: { destination: 1042, payload: 'x' } }, /destination/);
  await refusedWith(400, { kind: 'peer', body: { destination: '1042', payload: 'x' }, query: '?wait_for_ack=yes' });
  await refusedWith(400, { sender: ' convene' });
  await refusedWith(403, { app: 'ffffffffffffffffffffffffffffffff' });
  await refusedWith(404, { app: `${APP}/extra` });
});

test('the per-App-ID quota answers 429 with Retry-After', async () => {
  const limited = await startRtmStandin({ appId: APP, customers: [CUSTOMER], ratePerSecond: 3 });
  try {
    while (Date.now() % 1000 > 300) await new Promise((r) => setTimeout(r, 20)); // start early in a window
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const r = await send({}, limited);
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get('retry-after');
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.equal(retryAfter, '1');
    assert.equal(limited.accepted.length, 3);
  } finally {
    await limited.close();
  }
});

test('injected faults: 503 twice, 429 with Retry-After, 408, a hang, and a rule by call index', async () => {
  const before = rtm.accepted.length;
  rtm.fail({ status: 503, times: 2 });
  assert.equal((await send({})).status, 503);
  assert.equal((await send({})).status, 503);
  assert.equal((await send({})).status, 200);
  rtm.fail({ status: 429, times: 1, retryAfter: 2 });
  const r429 = await send({});
  assert.deepEqual([r429.status, r429.headers.get('retry-after')], [429, '2']);
  rtm.fail({ status: 408, times: 1 });
  assert.equal((await send({})).status, 408);
  rtm.fail({ timeout: true, times: 1 });
  await assert.rejects(send({ signal: AbortSignal.timeout(300) }), /abort|timeout/i);
  const next = rtm.calls;
  const remove = rtm.failWhere((c) => c.call === next + 1, { status: 500 });
  assert.deepEqual([(await send({})).status, (await send({})).status, (await send({})).status], [200, 500, 200]);
  remove();
  assert.equal(rtm.accepted.length, before + 3, 'faulted calls are never recorded as accepted');
  assert.ok(rtm.injected.some((i) => i.answer === 'timeout'));
});

test('in-flight marks count overlapping calls per channel', async () => {
  rtm.latencyMs = 150;
  try {
    const body = (ch: string) => ({ channel_name: ch, payload: 'x' });
    await Promise.all([send({ body: body('room-pair') }), send({ body: body('room-pair') })]);
    await send({ body: body('room-single') });
    await send({ body: body('room-single') });
    assert.equal(rtm.laneHighWater.get('channel:room-pair'), 2);
    assert.equal(rtm.laneHighWater.get('channel:room-single'), 1);
  } finally {
    rtm.latencyMs = 0;
  }
});
