// What the RTM relay must have sent for a room, and what the RTM stand-in got: shared by the relay's tests.
import assert from 'node:assert/strict';
import type { RoomStore } from '../../src/store/store.ts';
import { agoraMessage } from '../../src/http/conf/views.ts';
import type { RtmStandin } from './rtm-standin.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A room's log as the apps parse it (the socket's envelope without `type` and `seq`, every member
 * listed in cmd 2 whatever the room's size): channel messages, and peer ones by recipient uid.
 */
export async function expectedRelay(store: Pick<RoomStore, 'loadRoom' | 'eventsSince'>, roomId: string) {
  const room = (await store.loadRoom(roomId))!;
  const { events } = await store.eventsSince(roomId, 0, 100_000);
  const channel: unknown[] = [];
  const peer = new Map<string, unknown[]>();
  for (const e of events) {
    const { type, cmd, data } = agoraMessage(e.event);
    const envelope = JSON.parse(JSON.stringify({ cmd, version: 1, timestamp: e.at, data })) as unknown;
    if (type === 'channel') channel.push(envelope);
    else if (type === 'peer') {
      const to = (e.event as { to: string }).to;
      const uid = String(room.members.find((m) => m.userId === to)!.uid);
      peer.set(uid, [...(peer.get(uid) ?? []), envelope]);
    }
  }
  return { room, channel, peer, count: channel.length + [...peer.values()].reduce((n, l) => n + l.length, 0) };
}

export async function waitForRelay(standin: RtmStandin, count: number, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (standin.accepted.length < count && Date.now() < deadline) await sleep(10);
  await sleep(100);
}

/** The relayed payloads, parsed: to one channel, and per peer. */
export function relayed(standin: RtmStandin, channelName: string) {
  const peer = new Map<string, unknown[]>();
  for (const [to, list] of standin.peer) peer.set(to, list.map((r) => JSON.parse(r.payload)));
  return { channel: (standin.channel.get(channelName) ?? []).map((r) => JSON.parse(r.payload) as unknown), peer };
}

/** A list without a message repeated right after itself (a call whose answer its node never read, made again). */
export function withoutRepeats(list: unknown[]): { list: unknown[]; repeats: number } {
  const out: unknown[] = [];
  for (const m of list) if (out.length === 0 || JSON.stringify(out.at(-1)) !== JSON.stringify(m)) out.push(m);
  return { list: out, repeats: list.length - out.length };
}

/** A node's relay settings against `standin`: short backoffs, the app's certificate, the default timeout. */
export function relaySettings(standin: RtmStandin, cert: string) {
  return {
    CONVENE_APP_CERTIFICATE: cert,
    CONVENE_RTM_RELAY_URL: standin.url,
    CONVENE_RTM_RELAY_BACKOFF_MS: '20',
    CONVENE_RTM_RELAY_BACKOFF_MAX_MS: '200',
    CONVENE_RTM_RELAY_MAX_ATTEMPTS: '1000',
  };
}

/**
 * The relay's settings with the app a node bootstraps, presence expiry off, chat unlimited, and a
 * 1 s timeout: a lease is 2 × (the timeout + 1 s) + 1 s, so a dead node's rooms wait 5 s for another.
 */
export function relayEnv(standin: RtmStandin, cert: string, creds: { appId: string; customerId: string; customerSecret: string }) {
  return {
    CONVENE_APP_ID: creds.appId,
    CONVENE_CUSTOMER_ID: creds.customerId,
    CONVENE_CUSTOMER_SECRET: creds.customerSecret,
    CONVENE_PRESENCE_EXPIRY: 'off',
    CONVENE_RATE_CHAT: '0',
    ...relaySettings(standin, cert),
    CONVENE_RTM_RELAY_TIMEOUT_MS: '1000',
  };
}

/** Each room's relayed channel messages are its log's, in order; repeats (at most one per room) are counted. */
export async function checkRooms(store: RoomStore, standin: RtmStandin, roomIds: string[], maxRepeats: number) {
  let repeats = 0;
  for (const roomId of roomIds) {
    const want = await expectedRelay(store, roomId);
    const got = withoutRepeats(relayed(standin, want.room.channelName).channel);
    assert.deepEqual(got.list, want.channel, `room ${roomId}: every channel message, in order`);
    assert.ok(got.repeats <= maxRepeats, `room ${roomId}: ${got.repeats} repeated`);
    repeats += got.repeats;
  }
  for (const [lane, n] of standin.laneHighWater) assert.ok(n <= 1, `one call in flight per RTM channel (${lane}: ${n})`);
  return repeats;
}
