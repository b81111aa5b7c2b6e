// The relay's figures on /metrics: its queue, what it sent, retried and dropped (by reason), and its
// lag from the commit to Agora's acceptance.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type DropReason = 'refused' | 'attempts' | 'too_large' | 'no_credentials';

export interface RelayMetrics {
  queueDepthFrom(read: () => Promise<number>): void;
  sent(lagSeconds: number): void;
  retried(): void;
  dropped(reason: DropReason): void;
}

const LAG_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function relayMetrics(registers: Registry[]): RelayMetrics {
  let read: (() => Promise<number>) | null = null;
  new Gauge({
    name: 'convene_rtm_relay_queue_depth',
    help: 'RTM messages waiting to be relayed',
    registers,
    async collect() {
      if (!read) return;
      try {
        this.set(await read());
      } catch {
        /* the store is unreachable: the last value stays */
      }
    },
  });
  const sent = new Counter({ name: 'convene_rtm_relay_sent_total', help: 'RTM messages accepted by Agora', registers });
  const retried = new Counter({ name: 'convene_rtm_relay_retried_total', help: 'RTM relay calls that failed and will be retried (408, 429, 5xx, no answer)', registers });
  const dropped = new Counter({
    name: 'convene_rtm_relay_dropped_total',
    help: 'RTM messages not relayed, by reason: refused (400, 401, 403, 415, 435), attempts (retries ran out), too_large (over 32 KB, not splittable), no_credentials',
    labelNames: ['reason'],
    registers,
  });
  const lag = new Histogram({ name: 'convene_rtm_relay_lag_seconds', help: 'From the commit of an event to Agora accepting its RTM message', buckets: LAG_BUCKETS, registers });
  for (const reason of ['refused', 'attempts', 'too_large', 'no_credentials'] as const) dropped.inc({ reason }, 0);
  return {
    queueDepthFrom: (fn) => void (read = fn),
    sent(s) {
      sent.inc();
      lag.observe(s);
    },
    retried: () => retried.inc(),
    dropped: (reason) => dropped.inc({ reason }),
  };
}
