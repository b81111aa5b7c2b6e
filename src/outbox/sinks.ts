// Which sinks the outbox feeds, from the configuration: the apps' webhooks always, the RTM relay and
// the Netless boards' bans when configured. The sources (what each commit writes) are the same for
// every process that commits — servers and the CLI — so that a change made anywhere reaches every sink.
import type { Config } from '../config.ts';
import type { RateLimiter } from '../limits/limiter.ts';
import type { WebhookMetrics } from '../ops/metrics.ts';
import type { App, Lane, WebhookOutbox } from '../store/store.ts';
import type { OutboxSource } from '../webhooks/outbox.ts';
import { webhookSink } from '../webhooks/sink.ts';
import { relaySink, relaySource, RTM_ENDPOINT } from '../relay/relay.ts';
import type { RelayMetrics } from '../relay/metrics.ts';
import { BOARD_ENDPOINT, boardBanSink, boardBanSource } from '../board/netless/bans.ts';
import type { NetlessClient } from '../board/netless/client.ts';
import { OutboxDispatcher, type OutboxSink } from './dispatcher.ts';

type Notice = (what: string, details: Record<string, unknown>) => void;

export function outboxSources(config: Config, hooks: { relayMetrics?: RelayMetrics; onNotice?: Notice } = {}): OutboxSource[] {
  const sources: OutboxSource[] = [];
  if (config.rtmRelay) sources.push(relaySource(config.rtmRelay, { metrics: hooks.relayMetrics, onNotice: hooks.onNotice }));
  if (config.netless) sources.push(boardBanSource);
  return sources;
}

export interface OutboxDeliveryOptions {
  config: Config;
  outbox: WebhookOutbox;
  apps: { get(appId: string): Promise<App | null> };
  limiter: RateLimiter;
  nodeId: string;
  netless: NetlessClient | null;
  webhookMetrics?: WebhookMetrics;
  relayMetrics?: RelayMetrics;
  onError?: (err: unknown, what: string) => void;
  onNotice?: Notice;
}

/** The dispatcher of the outbox with a sink for each endpoint kind, and the queue depths for /metrics. */
export function outboxDelivery(o: OutboxDeliveryOptions): OutboxDispatcher {
  const { config } = o;
  const hooks = webhookSink({ ...config.webhooks, apps: o.apps, metrics: o.webhookMetrics });
  const special = new Map<string, OutboxSink>();
  if (config.rtmRelay) special.set(RTM_ENDPOINT, relaySink({ config: config.rtmRelay, apps: o.apps, limiter: o.limiter, metrics: o.relayMetrics, onNotice: o.onNotice }));
  if (config.netless && o.netless) {
    const n = config.netless;
    special.set(BOARD_ENDPOINT, boardBanSink(o.netless, { retryMs: n.retryMs, maxRetryMs: 300_000, maxAttempts: 20, timeoutMs: n.timeoutMs, onNotice: o.onNotice }));
  }
  const sinks = [hooks, ...special.values()];
  // The webhooks' queue is everything but the other sinks' lanes.
  const others = [...special.keys()];
  o.webhookMetrics?.queueDepthFrom(async () => {
    let n = await o.outbox.waiting();
    for (const endpoint of others) n -= await o.outbox.waiting(endpoint);
    return n;
  });
  o.relayMetrics?.queueDepthFrom(() => o.outbox.waiting(RTM_ENDPOINT));
  return new OutboxDispatcher({
    outbox: o.outbox,
    // An endpoint id of these kinds is never a webhook's (theirs are `wh_…` and `eventcb`).
    sinkFor: (lane: Lane) => special.get(lane.endpointId) ?? hooks,
    perEndpoint: hooks.concurrency,
    caps: new Map([...special].map(([id, sink]) => [id, sink.concurrency])),
    timeoutMs: Math.max(...sinks.map((k) => k.timeoutMs)),
    // Due retries and rows committed by other processes are found by polling.
    pollMs: Math.min(500, Math.max(20, Math.min(...sinks.map((k) => k.backoffMs)))),
    nodeId: o.nodeId,
    onError: o.onError,
    onNotice: o.onNotice,
  });
}
