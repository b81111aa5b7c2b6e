// The RTM relay: a source and a sink of the outbox beside the webhooks. Each commit writes the
// relay's rows (one per RTM message, relay/messages.ts) in its outbox; the dispatcher delivers them
// lane by lane, so a room's messages leave in seq order, one in flight per room, by one node at a
// time, and a dead node's backlog is taken over. Calls are held to the app's rate (shared by the
// cluster's nodes): a burst waits its turn, it is not dropped.
import type { OutboxSink } from '../outbox/dispatcher.ts';
import type { RateLimiter } from '../limits/limiter.ts';
import type { App } from '../store/store.ts';
import type { OutboxSource } from '../webhooks/outbox.ts';
import { authHeaders, postMessage, rtmPath, SenderTokens } from './agora.ts';
import { relayTargetFor, type RtmRelayConfig } from './config.ts';
import { kindOfRow, payloadOf, relayRows } from './messages.ts';
import type { RelayMetrics } from './metrics.ts';

export { RTM_ENDPOINT } from './messages.ts';

type Notice = (what: string, details: Record<string, unknown>) => void;

/** The relay's rows of each commit: written by every process that commits (servers and the CLI). */
export function relaySource(config: RtmRelayConfig, hooks: { metrics?: RelayMetrics; onNotice?: Notice } = {}): OutboxSource {
  /** Apps already said to have no credentials (said once per app and process). */
  const unauthenticated = new Set<string>();
  const relays = (app: App | null, appId: string): boolean => {
    const target = relayTargetFor(config, appId);
    if (!target) return false;
    if (target.customerId || app?.certificate) return true;
    if (!unauthenticated.has(appId)) {
      unauthenticated.add(appId);
      hooks.onNotice?.('RTM relay: this app has no App Certificate and no customer credentials are set; its messages stay on the socket', { appId });
    }
    hooks.metrics?.dropped('no_credentials');
    return false;
  };
  const tooLarge = (what: { roomId: string; seq: number; cmd: number; bytes: number }) => {
    hooks.metrics?.dropped('too_large');
    hooks.onNotice?.('RTM message over 32 KB and not splittable: left to the socket', what);
  };
  return { rowsFor: (app, _before, room, logged) => (relays(app, room.appId) ? relayRows(room, logged, { tooLarge }) : []) };
}

export interface RelaySinkOptions {
  config: RtmRelayConfig;
  apps: { get(appId: string): Promise<App | null> };
  limiter: RateLimiter;
  metrics?: RelayMetrics;
  onNotice?: Notice;
  now?: () => number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends a room's rows to Agora: the app's target and credentials looked up when its lane is taken. */
export function relaySink(o: RelaySinkOptions): OutboxSink {
  const c = o.config;
  const tokens = new SenderTokens();
  const now = o.now ?? Date.now;
  return {
    concurrency: c.concurrency,
    maxAttempts: c.maxAttempts,
    backoffMs: c.backoffMs,
    backoffMaxMs: c.backoffMaxMs,
    // An attempt may first wait for the app's rate (a second at most, as a rule), then the call.
    timeoutMs: c.timeoutMs + 1_000,
    deadLetters: false,
    async open(lane) {
      const app = await o.apps.get(lane.appId);
      const target = relayTargetFor(c, lane.appId);
      const headers = app && target ? authHeaders(target, app, tokens) : null;
      // Turned off for the app, or it lost its credentials: what waited can go nowhere.
      if (!target || !headers) return null;
      return {
        send: async (head) => {
          await turn(o.limiter, lane.appId, target.rate);
          return postMessage(`${target.url}${rtmPath(lane.appId, target.sender, kindOfRow(head.id))}`, headers, head.payload, c.timeoutMs);
        },
      };
    },
    settled(lane, head, outcome, attempt) {
      const m = o.metrics;
      if (outcome === 'delivered') return m?.sent(Math.max(0, (now() - payloadOf(head.payload).timestamp) / 1000));
      if (outcome === 'failed') return m?.retried();
      m?.dropped(outcome === 'dropped' ? 'refused' : 'attempts');
      o.onNotice?.('RTM message not relayed', { ...lane, id: head.id, attempts: head.attempts + 1, error: attempt.ok ? '' : attempt.error });
    },
  };
}

/**
 * Waits until the app's rate allows one more call. Counted in tenths of a second, each allowed
 * rate/11 calls: any second, wherever it starts, then spans at most 11 tenths, so Agora's quota
 * (counted by the second) is never exceeded, at the cost of a tenth of it. A low rate is counted by the second.
 */
async function turn(limiter: RateLimiter, appId: string, rate: number): Promise<void> {
  const [limit, windowMs] = rate >= 11 ? [Math.floor(rate / 11), 100] : [rate, 1_000];
  for (;;) {
    const v = await limiter.hit(`rtm:${appId}`, limit, windowMs);
    if (v.ok) return;
    await sleep(Math.max(1, v.retryAfterMs) + Math.random() * 3);
  }
}
