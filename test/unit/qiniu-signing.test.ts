// Every signing and RoomToken vector of spec qiniu-rtc-v3 §5, plus tamper tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  hmacSha1,
  qboxAuthorization,
  qiniuAuthorization,
  signRoomToken,
  signingData,
  verifyQiniu,
  verifyRoomToken,
  type SignedRequest,
} from '../../src/tokens/qiniu.ts';

const raw = (s: string) => s.replace(/\\n/g, '\n');

test('plain HMAC-SHA1 vectors recompute exactly', () => {
  const vectors: [string, string, string, string][] = [
    ['ak', 'sk', 'hello', 'ak:NDN8cM0rwosxhHJ6QAcI7ialr0g='],
    ['ak', 'sk', 'GET \\nHost: \\nContent-Type: application/x-www-form-urlencoded\\n\\n{"name": "test"}', 'ak:0i1vKClRDWFyNkcTFzwcE7PzX74='],
    ['ak', 'sk', 'GET \\nHost: \\nContent-Type: application/json\\n\\n{"name": "test"}', 'ak:K1DI0goT05yhGizDFE5FiPJxAj4='],
    ['ak', 'sk', 'POST \\nHost: \\nContent-Type: application/json\\n\\n{"name": "test"}', 'ak:0ujEjW_vLRZxebsveBgqa3JyQ-w='],
    ['ak', 'sk', 'GET \\nHost: upload.qiniup.com\\nContent-Type: application/x-www-form-urlencoded\\n\\n{"name": "test"}', 'ak:GShw5NitGmd5TLoo38nDkGUofRw='],
    ['ak', 'sk', 'GET \\nHost: upload.qiniup.com\\nContent-Type: application/json\\nX-Qiniu-Aaa: \\nX-Qiniu-Bbb: \\n\\n{"name": "test"}', 'ak:-fB4yn26QtKrW3jb_owJha4-W1I='],
    ['ak', 'sk', 'GET \\nHost: upload.qiniup.com\\nContent-Type: application/x-www-form-urlencoded\\nX-Qiniu-Aaa: \\nX-Qiniu-Bbb: \\n\\nname=test&language=go', 'ak:PSssnOFa3sUvpEjTfACJ9WWKBS4='],
    ['ak', 'sk', '\\n', 'ak:qfWnqF1E_vfzjZnReCVkcSMl29M='],
    ['ak', 'sk', '\\nname=test&language=go', 'ak:h8gBb1Adb2Jgoys1N8sRVAnNvpw='],
    ['ak', 'sk', 'GET \\nHost: upload.qiniup.com\\nContent-Type: application/json\\nX-Qiniu-Aaa: DDD\\nX-Qiniu-Bbb: BBB\\n\\n{"name": "test"}', 'ak:DhNA1UCaBqSHCsQjMOLRfVn63GQ='],
    ['ak', 'sk', 'GET \\nHost: upload.qiniup.com\\nContent-Type: application/x-www-form-urlencoded\\nX-Qiniu-Aaa: DDD\\nX-Qiniu-Bbb: BBB\\n\\nname=test&language=go', 'ak:KUAhrYh32P9bv0COD8ugZjDCmII='],
    ['ak', 'sk', 'GET /mkfile/sdf.jpg\\nHost: upload.qiniup.com\\nContent-Type: application/x-www-form-urlencoded\\nX-Qiniu-Aaa: DDD\\nX-Qiniu-Bbb: BBB\\n\\nname=test&language=go', 'ak:fkRck5_LeyfwdkyyLk-hyNwGKac='],
    ['ak', 'sk', 'GET /mkfile/sdf.jpg?s=er3&df\\nHost: upload.qiniup.com\\nContent-Type: application/x-www-form-urlencoded\\nX-Qiniu-Aaa: DDD\\nX-Qiniu-Bbb: BBB\\n\\nname=test&language=go', 'ak:PUFPWsEUIpk_dzUvvxTTmwhp3p4='],
    ['abcdefghklmnopq', '1234567890', 'test', 'abcdefghklmnopq:mSNBTR7uS2crJsyFr2Amwv1LaYg='],
    ['MY_ACCESS_KEY', 'MY_SECRET_KEY', 'POST /move/bmV3ZG9jczpmaW5kX21hbi50eHQ=/bmV3ZG9jczpmaW5kLm1hbi50eHQ=\\nHost: rs.qiniu.com\\n\\n', 'MY_ACCESS_KEY:1uLvuZM6l6oCzZFqkJ6oI4oFMVQ='],
    ['ak', 'sk', 'POST /v3/apps\\nHost: 127.0.0.1:34571\\nContent-Type: application/x-www-form-urlencoded\\n\\nhub=h&title=t&maxUsers=10&noAutoKickUser=True', 'ak:DZaLqwwoAbEZkE1sFJWicEUL3jE='],
    ['ak', 'sk', 'GET /v3/apps/dxxxx1\\nHost: rtc.qiniuapi.com\\nContent-Type: application/x-www-form-urlencoded\\nX-Qiniu-Date: 20240101T000000Z\\n\\n', 'ak:ODHqYvsOLgCHmDirUTOaodbwbCo='],
    ['ak', 'sk', 'POST /v3/apps/dxxxx1/rooms/r1/message\\nHost: rtc.qiniuapi.com\\nContent-Type: application/json\\n\\n{"text":"hi","msgId":"m1","targets":[]}', 'ak:D_t36zJvJSX9gLSfboYN7qj4oEU='],
    ['ak', 'sk', 'GET /v3/apps/dxxxx1\\nHost: 127.0.0.1:8080\\nContent-Type: application/json\\n\\n', 'ak:Gak58AuBXoBdLaJtjAqu3l8ZA4s='],
  ];
  for (const [ak, sk, data, token] of vectors) assert.equal(`${ak}:${hmacSha1(sk, raw(data))}`, token, data);
});

const H = 'rtc.qiniuapi.com';
const nodeSdk: [string, string, string, string][] = [
  ['POST', '/v3/apps', '{"hub":"h","title":"t","maxUsers":10,"noAutoKickUser":true}', 'Qiniu ak:mWkixVi1dYOnnnm4WMGYmqPaaMM='],
  ['GET', '/v3/apps/dxxxx1', '', 'Qiniu ak:Jg5SGbaC7PG_wXYMoSfaVx-KYOo='],
  ['POST', '/v3/apps/dxxxx1', '{"title":"t2"}', 'Qiniu ak:TsdKaMfn3P0u1SzDg2-KQnp18Z0='],
  ['DELETE', '/v3/apps/dxxxx1', '', 'Qiniu ak:ZE2RuUp0i4bMSCU0NYsNyzQ-iXA='],
  ['GET', '/v3/apps/dxxxx1/rooms/r1/users', '', 'Qiniu ak:lJPtGVIYVZaG_moxFEQZtXvgals='],
  ['DELETE', '/v3/apps/dxxxx1/rooms/r1/users/u1', '', 'Qiniu ak:ZZDbZxMcfTi7bCgyvv3CDKIRF7w='],
  ['GET', '/v3/apps/dxxxx1/rooms?prefix=r&offset=0&limit=10', '', 'Qiniu ak:1-oiB1ND-oMHXvi-iNq7TpDa8Wc='],
];

const req = (method: string, target: string, body: string, extra: Partial<SignedRequest> = {}): SignedRequest => ({
  method,
  target,
  host: H,
  contentType: 'application/json',
  qiniuHeaders: [],
  body: Buffer.from(body),
  ...extra,
});

test('requests captured from the Node SDK sign to the same Authorization', () => {
  for (const [m, target, body, auth] of nodeSdk) assert.equal(qiniuAuthorization('ak', 'sk', req(m, target, body)), auth);
});

test('canonical X-Qiniu headers: lower-case names, sorted, short names ignored', () => {
  const r = req('GET', '/v3/apps/dxxxx1', '', {
    contentType: 'application/x-www-form-urlencoded',
    qiniuHeaders: [['x-qiniu-date', '20240101T000000Z'], ['x-qiniu-', 'ignored']],
  });
  assert.equal(qiniuAuthorization('ak', 'sk', r), 'Qiniu ak:ODHqYvsOLgCHmDirUTOaodbwbCo=');
  assert.ok(signingData(r).toString().includes('X-Qiniu-Date: 20240101T000000Z'));
});

test('QBox vectors', () => {
  assert.equal(qboxAuthorization('ak', 'sk', '', 'application/json', Buffer.from('{"name": "test"}')), 'QBox ak:qfWnqF1E_vfzjZnReCVkcSMl29M=');
  assert.equal(qboxAuthorization('abcdefghklmnopq', '1234567890', '?go=1', '', Buffer.from('test')), 'QBox abcdefghklmnopq:cFyRVoWrE3IugPIMP5YJFTO-O-Y=');
  assert.equal(
    qboxAuthorization('abcdefghklmnopq', '1234567890', '?go=1', 'application/x-www-form-urlencoded', Buffer.from('test')),
    'QBox abcdefghklmnopq:svWRNcacOE-YMsc70nuIYdaa1e4=',
  );
  const cb = 'name=sunflower.jpg&hash=Fn6qeQi4VDLQ347NiRm-RlQx_4O2&location=Shanghai&price=1500.00&uid=123';
  assert.equal(
    qboxAuthorization('abcdefghklmnopq', '1234567890', '/callback', 'application/x-www-form-urlencoded', Buffer.from(cb)),
    'QBox abcdefghklmnopq:T7F-SjxX7X2zI4Fc1vANiNt1AUE=',
  );
  assert.equal(
    qiniuAuthorization('abcdefghklmnopq', '1234567890', {
      method: 'GET',
      target: '/callback',
      host: 'test.qiniu.com',
      contentType: 'application/x-www-form-urlencoded',
      qiniuHeaders: [['X-Qiniu-Bbb', 'BBB']],
      body: Buffer.from(cb),
    }),
    'Qiniu abcdefghklmnopq:ZqS7EZuAKrhZaEIxqNGxDJi41IQ=',
  );
});

const secretOf = async (ak: string) => (ak === 'ak' ? 'sk' : null);
const verify = (auth: string | undefined, r: SignedRequest, now = Date.now()) => verifyQiniu(auth, r, { secretOf, now, maxSkewMs: 15 * 60_000 });

test('verification accepts the genuine request and refuses each signed part changed', async () => {
  const body = '{"hub":"h","title":"t","maxUsers":10,"noAutoKickUser":true}';
  const good = req('POST', '/v3/apps', body);
  const auth = 'Qiniu ak:mWkixVi1dYOnnnm4WMGYmqPaaMM=';
  assert.deepEqual(await verify(auth, good), { ok: true, accessKey: 'ak' });
  assert.equal((await verify(auth.replace('Qiniu', 'qiniu'), good)).ok, true, 'scheme is case-insensitive');
  const tampered: [string, SignedRequest | null, string | undefined][] = [
    ['method', { ...good, method: 'PUT' }, auth],
    ['path', { ...good, target: '/v3/appz' }, auth],
    ['query', { ...good, target: '/v3/apps?x=1' }, auth],
    ['host', { ...good, host: 'rtc.qiniuapi.com:80' }, auth],
    ['content type', { ...good, contentType: 'application/json; charset=utf-8' }, auth],
    ['content type removed', { ...good, contentType: undefined }, auth],
    ['body', { ...good, body: Buffer.from(body.replace('10', '11')) }, auth],
    ['added X-Qiniu header', { ...good, qiniuHeaders: [['X-Qiniu-Extra', '1']] }, auth],
    ['signature', null, 'Qiniu ak:mWkixVi1dYOnnnm4WMGYmqPaaMN='],
    ['access key', null, 'Qiniu ak2:mWkixVi1dYOnnnm4WMGYmqPaaMM='],
    ['QBox scheme', null, 'QBox ak:mWkixVi1dYOnnnm4WMGYmqPaaMM='],
    ['missing header', null, undefined],
    ['empty sign', null, 'Qiniu ak:'],
  ];
  for (const [what, r, a] of tampered) assert.equal((await verify(a, r ?? good)).ok, false, what);
});

test('X-Qiniu-Date is checked when present, repeated X-Qiniu headers are refused', async () => {
  const now = Date.UTC(2024, 0, 1, 0, 10, 0);
  const r = req('GET', '/v3/apps/dxxxx1', '', { qiniuHeaders: [['x-qiniu-date', '20240101T000000Z']] });
  const auth = qiniuAuthorization('ak', 'sk', r);
  assert.equal((await verify(auth, r, now)).ok, true);
  assert.equal((await verify(auth, r, now + 10 * 60_000)).ok, false, '20 minutes of skew');
  const bad = req('GET', '/v3/apps/dxxxx1', '', { qiniuHeaders: [['x-qiniu-date', 'yesterday']] });
  assert.equal((await verify(qiniuAuthorization('ak', 'sk', bad), bad, now)).ok, false);
  const twice = req('GET', '/v3/apps/dxxxx1', '', { qiniuHeaders: [['x-qiniu-a', '1'], ['X-Qiniu-A', '1']] });
  assert.equal((await verify(qiniuAuthorization('ak', 'sk', twice), twice, now)).ok, false);
});

test('RoomToken vectors verify, from compact and from spaced JSON', async () => {
  const access = { appId: 'appid', roomName: 'room1', userId: 'user1', expireAt: 1700000000, permission: 'user' as const };
  const node = 'ak:E0zcHCaLI9CFVKxJSq5D46_tNTU=:eyJhcHBJZCI6ImFwcGlkIiwicm9vbU5hbWUiOiJyb29tMSIsInVzZXJJZCI6InVzZXIxIiwiZXhwaXJlQXQiOjE3MDAwMDAwMDAsInBlcm1pc3Npb24iOiJ1c2VyIn0=';
  const py = 'ak:Y6DBPbMLVQLE_z6MN-zF7qQW-Ow=:eyJhcHBJZCI6ICJhcHBpZCIsICJyb29tTmFtZSI6ICJyb29tMSIsICJ1c2VySWQiOiAidXNlcjEiLCAiZXhwaXJlQXQiOiAxNzAwMDAwMDAwLCAicGVybWlzc2lvbiI6ICJ1c2VyIn0=';
  assert.equal(signRoomToken('ak', 'sk', access), node);
  assert.equal(`abcdefghklmnopq:${hmacSha1('1234567890', 'dGVzdA==')}:dGVzdA==`, 'abcdefghklmnopq:-jP8eEV9v48MkYiBGs81aDxl60E=:dGVzdA==');
  const before = 1699999999_000;
  for (const t of [node, py]) {
    const r = await verifyRoomToken(t, { appId: 'appid', roomName: 'room1', userId: 'user1' }, secretOf, before);
    assert.deepEqual(r, { ok: true, accessKey: 'ak', access });
  }
  // Expired, other user/room/app, tampered signature or payload, unknown key: all refused.
  const expect = { appId: 'appid', roomName: 'room1', userId: 'user1' };
  assert.equal((await verifyRoomToken(node, expect, secretOf, 1700000000_000)).ok, false);
  assert.equal((await verifyRoomToken(node, { ...expect, userId: 'user2' }, secretOf, before)).ok, false);
  assert.equal((await verifyRoomToken(node, { ...expect, roomName: 'room2' }, secretOf, before)).ok, false);
  assert.equal((await verifyRoomToken(node, { ...expect, appId: 'other' }, secretOf, before)).ok, false);
  assert.equal((await verifyRoomToken(node.replace('E0zc', 'E0zd'), expect, secretOf, before)).ok, false);
  assert.equal((await verifyRoomToken(node.slice(0, -3) + 'Q==', expect, secretOf, before)).ok, false);
  assert.equal((await verifyRoomToken(node.replace(/^ak/, 'zz'), expect, secretOf, before)).ok, false);
  assert.equal((await verifyRoomToken('nonsense', expect, secretOf, before)).ok, false);
  const admin = signRoomToken('ak', 'sk', { ...access, permission: 'admin' });
  const a = await verifyRoomToken(admin, expect, secretOf, before);
  assert.equal(a.ok && a.access.permission, 'admin');
});
