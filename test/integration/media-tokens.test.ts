// The minted RTC/RTM/screen tokens, parsed with agora-token's own AccessToken2 parser (its string
// fields come back as Buffers, hence String()).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startTestServer } from '../helpers/server.ts';
import { newApp, hex32 } from '../../src/service/apps.ts';
import { MeetingClient } from '../../client/agora.ts';

const require = createRequire(import.meta.url);
const { AccessToken2, ServiceRtc, ServiceRtm } = require('agora-token/src/AccessToken2.js');

interface Parsed {
  appId: string;
  issueTs: number;
  expire: number;
  salt: number;
  services: { __type: number; __privileges: Record<string, number>; __channel_name?: string; __uid?: string; __user_id?: string }[];
  verifySignature(cert: string): boolean;
}

function parse(token: string | null): Parsed {
  assert.equal(typeof token, 'string');
  assert.ok(token!.startsWith('007'), 'AccessToken2');
  const t = new AccessToken2();
  assert.equal(t.from_string(token), true, 'parses');
  return t as Parsed;
}

const RTC_PUBLISHER = [ServiceRtc.kPrivilegeJoinChannel, ServiceRtc.kPrivilegePublishAudioStream, ServiceRtc.kPrivilegePublishVideoStream, ServiceRtc.kPrivilegePublishDataStream];

function checkRtc(token: string | null, appId: string, cert: string, channel: string, uid: number, ttl: number) {
  const t = parse(token);
  const now = Date.now() / 1000;
  assert.equal(String(t.appId), appId);
  assert.ok(Math.abs(t.issueTs - now) < 60, 'issued now');
  assert.equal(t.expire, ttl, 'token lifetime');
  assert.equal(t.services.length, 1);
  const rtc = t.services[0]!;
  assert.equal(rtc.__type, 1, 'RTC service');
  assert.equal(String(rtc.__channel_name), channel);
  assert.equal(String(rtc.__uid), String(uid));
  assert.deepEqual(Object.keys(rtc.__privileges).map(Number).sort(), RTC_PUBLISHER.sort());
  for (const p of RTC_PUBLISHER) assert.equal(rtc.__privileges[p], ttl, `privilege ${p} expiry`);
  assert.equal(t.verifySignature(cert), true, 'signed with the app certificate');
  assert.equal(t.verifySignature(hex32()), false, 'not with another certificate');
  return t;
}

function checkRtm(token: string | null, appId: string, cert: string, userId: string, ttl: number) {
  const t = parse(token);
  assert.equal(String(t.appId), appId);
  assert.equal(t.expire, ttl);
  assert.equal(t.services.length, 1);
  const rtm = t.services[0]!;
  assert.equal(rtm.__type, 2, 'RTM service');
  assert.equal(String(rtm.__user_id), userId);
  assert.deepEqual(rtm.__privileges, { [ServiceRtm.kPrivilegeLogin]: ttl });
  assert.equal(t.verifySignature(cert), true);
  assert.equal(t.verifySignature(hex32()), false);
}

for (const ttl of [undefined, 3600]) {
  test(`RTC, RTM and screen tokens carry the app, channel, uid, privileges and ${ttl ?? 'default'} lifetime`, async (t) => {
    const s = await startTestServer(ttl ? { CONVENE_TOKEN_TTL: String(ttl) } : {});
    t.after(() => s.close());
    const life = ttl ?? 86_400;
    const { appId, appCertificate } = s.bootstrapped;
    const c = s.client();
    await c.enter({ roomName: 'r', roomUuid: 'r', userName: 'Ann', userUuid: 'ann' });
    const p = s.client();
    await p.enter({ roomName: 'r', roomUuid: 'r', userName: 'Bob', userUuid: 'bob' });
    for (const m of [c, p]) {
      const { room, user } = await m.info();
      checkRtc(user.rtcToken, appId, appCertificate!, room.channelName, user.uid, life);
      checkRtc(user.screenToken, appId, appCertificate!, room.channelName, user.screenId, life);
      checkRtm(user.rtmToken, appId, appCertificate!, String(user.uid), life);
      const fresh = await m.refreshTokens();
      const a = checkRtc(fresh.rtcToken, appId, appCertificate!, room.channelName, user.uid, life);
      checkRtc(fresh.screenToken, appId, appCertificate!, room.channelName, user.screenId, life);
      checkRtm(fresh.rtmToken, appId, appCertificate!, String(user.uid), life);
      // A refresh mints anew (a new salt), so it is not the cached token of room info.
      assert.notEqual(fresh.rtcToken, user.rtcToken);
      assert.notEqual(a.salt, parse(user.rtcToken).salt);
    }
  });
}

test('an app without certificate gets null tokens; a legacy app gets 006 tokens', async (t) => {
  const s = await startTestServer();
  t.after(() => s.close());
  const plain = newApp({ appId: hex32(), certificate: null }, Date.now());
  const legacy = newApp({ appId: hex32(), tokenVersion: '006' }, Date.now());
  await s.apps.put(plain);
  await s.apps.put(legacy);
  const a = new MeetingClient({ baseUrl: s.url, appId: plain.appId, customerId: plain.customerId, customerSecret: plain.customerSecret });
  await a.enter({ roomName: 'r', roomUuid: 'r', userName: 'Ann', userUuid: 'ann' });
  const { user } = await a.info();
  assert.deepEqual([user.rtcToken, user.rtmToken, user.screenToken], [null, null, null]);
  const b = new MeetingClient({ baseUrl: s.url, appId: legacy.appId, customerId: legacy.customerId, customerSecret: legacy.customerSecret });
  await b.enter({ roomName: 'r', roomUuid: 'r', userName: 'Ann', userUuid: 'ann' });
  const info = await b.info();
  for (const tok of [info.user.rtcToken, info.user.rtmToken, info.user.screenToken]) {
    assert.ok(tok?.startsWith(`006${legacy.appId}`), `legacy token ${tok?.slice(0, 40)}`);
  }
});
