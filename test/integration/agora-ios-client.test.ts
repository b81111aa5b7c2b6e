// What the shipped Agora Meeting iOS client (AgoraMeeting_iOS, v1) relies on, through Convene's HTTP
// API: the conventions its own code reads (createBoardUserId.integerValue, the board owner's E5/E6
// answers as MeetingVC sends them, app/version's config.multiLanguage for RoomManager's error
// texts, and HttpManager's x-agora-token / x-agora-uid headers where no Authorization is set).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import agoraToken from 'agora-token';
import { startTestServer } from '../helpers/server.ts';
import { members, rawCall } from '../helpers/agora-frames.ts';
import { hex32, newApp } from '../../src/service/apps.ts';
import { LANGUAGES } from '../../src/http/conf/codes.ts';
import { MeetingClient } from '../../client/agora.ts';

const require = createRequire(import.meta.url);
const { AccessToken2, ServiceRtm } = require('agora-token/src/AccessToken2.js');
const legacyRtm = require('agora-token/src/RtmTokenBuilder.js').RtmTokenBuilder;

/** NSString -integerValue: leading spaces, an optional sign, decimal digits; 0 when none. */
const integerValue = (s: string) => {
  const m = /^\s*([-+]?\d+)/.exec(s);
  return m ? parseInt(m[1]!, 10) : 0;
};

test('iOS: userIds are numeric strings: createBoardUserId.integerValue > 0 while a board is shared, 0 when none is', async (t) => {
  const s = await startTestServer();
  t.after(() => s.close());
  const [host, pat] = await members(s, 'ios-ids', ['Host', 'Pat']);
  for (const m of [host!, pat!]) {
    const { user, room } = await m.info();
    assert.match(user.userId, /^\d+$/, 'userId is decimal digits');
    assert.equal(integerValue(user.userId), user.uid, 'and reads back as the uid');
    assert.equal(integerValue(room.createBoardUserId), 0, 'no board: PIPVideoCell hides it');
  }
  await pat!.board(pat!.userId, 1);
  const shared = (await host!.info()).room.createBoardUserId;
  assert.ok(integerValue(shared) > 0, `board shared: integerValue(${JSON.stringify(shared)}) > 0 (BottomBar shows 'apply board')`);
  assert.equal(integerValue(shared), (await pat!.info()).user.uid);
  await pat!.board(pat!.userId, 0);
  assert.equal(integerValue((await host!.info()).room.createBoardUserId), 0);
});

test("iOS: the board's owner (a participant) accepts with E5 grantBoard and rejects with E6 type 3 action 2", async (t) => {
  const s = await startTestServer();
  t.after(() => s.close());
  const [, owner, q, r] = await members(s, 'ios-answers', ['Host', 'Owner', 'Q', 'R']);
  await owner!.board(owner!.userId, 1);
  await q!.apply(owner!.userId, 3, 1);
  // MeetingVC sureHandler: POST user/{Q} {grantBoard: 1}.
  assert.equal(await owner!.changeUser(q!.userId, { grantBoard: 1 }), true);
  assert.equal((await q!.info()).user.grantBoard, 1);
  assert.ok((await q!.info()).room.shareBoardUsers.some((m) => m.userId === q!.userId));
  // cancelHandler: host/invite {type: 3, action: 2}.
  await r!.apply(owner!.userId, 3, 1);
  assert.equal(await owner!.invite(r!.userId, 3, 2), true);
  // Nothing else: the board's owner is no host.
  await assert.rejects(owner!.changeUser(q!.userId, { enableAudio: 0 }), { code: 403 });
  await assert.rejects(owner!.changeUser(q!.userId, { grantBoard: 0, enableVideo: 0 }), { code: 403 });
  await assert.rejects(q!.changeUser(r!.userId, { grantBoard: 1 }), { code: 403 });
});

test('iOS: GET app/version carries data.config.multiLanguage {zh-cn, en-us}, the texts by code (RoomManager.httpErrorMessage)', async (t) => {
  const s = await startTestServer();
  t.after(() => s.close());
  for (const prefix of ['/v1', '/scenario/meeting/v1']) {
    const res = await fetch(`${s.url}${prefix}/app/version?appCode=conf-demo&osType=1&terminalType=1&appVersion=1.0.0`);
    const body = (await res.json()) as { code: number; data: { config: { multiLanguage: Record<string, Record<string, string>> } } };
    assert.equal(body.code, 0);
    const ml = body.data.config.multiLanguage;
    // MultiLanguageModel maps cn ← "zh-cn", en ← "en-us"; the app looks a text up by String(code).
    assert.deepEqual(Object.keys(ml).sort(), ['en-us', 'zh-cn']);
    assert.deepEqual(ml, LANGUAGES);
    for (const code of ['1002', '1003', '1004', '1005', '401']) {
      assert.ok(ml['zh-cn']![code] && ml['en-us']![code], `a text for ${code} in both`);
    }
  }
});

test('iOS: x-agora-token / x-agora-uid without Authorization are accepted when they verify with the app certificate (007 and 006)', async (t) => {
  const s = await startTestServer();
  t.after(() => s.close());
  const [host, pat] = await members(s, 'ios-headers', ['Host', 'Pat']);
  const { user } = await host!.info();
  const headers = { 'x-agora-token': user.rtmToken!, 'x-agora-uid': String(user.uid) };
  const appId = s.creds.appId;

  const info = await rawCall(s, appId, 'GET', `/${host!.roomId}`, { ...headers, token: host!.userToken });
  assert.equal(info.body.code, 0, info.body.msg);
  assert.equal(info.body.data.user.userId, host!.userId);
  // A call with a body (checked before the body arrives) and an app-level call.
  const mute = await rawCall(s, appId, 'POST', `/${host!.roomId}/user/${pat!.userId}`, { ...headers, token: host!.userToken }, { enableVideo: 0 });
  assert.equal(mute.body.code, 0, mute.body.msg);
  assert.equal((await rawCall(s, appId, 'GET', `/${host!.roomId}/simple`, headers)).body.code, 0);
  const entry = await rawCall(s, appId, 'POST', '/entry', headers, { roomName: 'Other', roomUuid: 'ios-other', userName: 'Host', userUuid: 'ios-host' });
  assert.equal(entry.body.code, 0, entry.body.msg);
  // A fresh token (token/refresh) is as good.
  const fresh = await host!.refreshTokens();
  assert.equal((await rawCall(s, appId, 'GET', `/${host!.roomId}`, { ...headers, 'x-agora-token': fresh.rtmToken!, token: host!.userToken })).body.code, 0);

  // A legacy (006) app: its members' 006 RTM tokens.
  const legacy = newApp({ appId: hex32(), tokenVersion: '006' }, Date.now());
  await s.apps.put(legacy);
  const l = new MeetingClient({ baseUrl: s.url, appId: legacy.appId, customerId: legacy.customerId, customerSecret: legacy.customerSecret });
  await l.enter({ roomName: 'r', roomUuid: 'r', userName: 'Ann', userUuid: 'ann' });
  const lu = (await l.info()).user;
  assert.ok(lu.rtmToken!.startsWith('006'));
  const ok006 = await rawCall(s, legacy.appId, 'GET', `/${l.roomId}`, { 'x-agora-token': lu.rtmToken!, 'x-agora-uid': String(lu.uid), token: l.userToken });
  assert.equal(ok006.body.code, 0, ok006.body.msg);
});

test('iOS: x-agora headers that do not verify are refused (1001) with a message saying what to send', async (t) => {
  const s = await startTestServer();
  t.after(() => s.close());
  const [host] = await members(s, 'ios-refused', ['Host']);
  const { user } = await host!.info();
  const { appId } = s.bootstrapped;
  const appCertificate = s.bootstrapped.appCertificate!;
  const uid = String(user.uid);
  const now = Math.floor(Date.now() / 1000);
  const expired = new AccessToken2(appId, appCertificate, now - 7200, 3600);
  const rtm = new ServiceRtm(uid);
  rtm.add_privilege(ServiceRtm.kPrivilegeLogin, 3600);
  expired.add_service(rtm);
  const otherApp = hex32();
  const cases: [string, Record<string, string>, RegExp][] = [
    ['no credentials at all', {}, /send Authorization: Basic .*x-agora-token/],
    ['a token without x-agora-uid', { 'x-agora-token': user.rtmToken! }, /x-agora-token needs x-agora-uid/],
    ['another uid', { 'x-agora-token': user.rtmToken!, 'x-agora-uid': String(user.uid + 2) }, /minted for RTM user/],
    ['another certificate', { 'x-agora-token': agoraToken.RtmTokenBuilder.buildToken(appId, hex32(), uid, 3600), 'x-agora-uid': uid }, /does not verify with this app's certificate/],
    ['another App ID', { 'x-agora-token': agoraToken.RtmTokenBuilder.buildToken(otherApp, appCertificate, uid, 3600), 'x-agora-uid': uid }, /issued for App ID/],
    ['expired', { 'x-agora-token': expired.build(), 'x-agora-uid': uid }, /expired/],
    ['an RTC token', { 'x-agora-token': user.rtcToken!, 'x-agora-uid': uid }, /no RTM privilege/],
    ['a legacy token of another certificate', { 'x-agora-token': legacyRtm.buildToken(appId, hex32(), uid, 1, now + 3600), 'x-agora-uid': uid }, /does not verify/],
    ['not a token', { 'x-agora-token': '007garbage', 'x-agora-uid': uid }, /not an Agora RTM token/],
  ];
  for (const [what, headers, msg] of cases) {
    for (const [method, body] of [['GET', undefined], ['POST', { enableVideo: 1 }]] as const) {
      const path = method === 'GET' ? `/${host!.roomId}` : `/${host!.roomId}/user/${host!.userId}`;
      const r = await rawCall(s, appId, method, path, { ...headers, token: host!.userToken }, body);
      assert.equal(r.body.code, 1001, `${what} (${method}): ${r.body.msg}`);
      assert.match(r.body.msg, msg, `${what} (${method})`);
      if (what !== 'no credentials at all') assert.match(r.body.msg, /Authorization: Basic/, `${what}: says what to send instead`);
    }
  }
  // An app without a certificate cannot check a token: Basic only.
  const plain = newApp({ appId: hex32(), certificate: null }, Date.now());
  await s.apps.put(plain);
  const r = await rawCall(s, plain.appId, 'POST', '/entry', { 'x-agora-token': user.rtmToken!, 'x-agora-uid': uid }, { roomName: 'r', roomUuid: 'r', userName: 'A', userUuid: 'a' });
  assert.equal(r.body.code, 1001);
  assert.match(r.body.msg, /no App Certificate/);
  // Authorization wins when both are sent (as HttpManager never does): a wrong Basic is refused.
  const both = await rawCall(s, appId, 'GET', `/${host!.roomId}`, { authorization: 'Basic d3Jvbmc6d3Jvbmc=', 'x-agora-token': user.rtmToken!, 'x-agora-uid': uid, token: host!.userToken });
  assert.equal(both.body.code, 1001);
});
