// The outbox sink of the apps' webhooks: a lane's endpoint is looked up in its app (removed: its
// rows are dropped), each row POSTed signed; every failure is retried until the attempts run out,
// then the row goes to the dead letters (resent from there by the operator).
import type { Config } from '../config.ts';
import type { OutboxSink } from '../outbox/dispatcher.ts';
import type { App } from '../store/store.ts';
import { sendWebhook } from './sender.ts';
import { signatureHeaders, signingKey } from './signature.ts';

/** The webhooks' settings (CONVENE_WEBHOOK_*), the apps to find endpoints in, and the metrics. */
export type WebhookSinkOptions = Config['webhooks'] & {
  apps: { get(appId: string): Promise<App | null> };
  /** Told of each attempt: delivered (2xx), failed (to be retried), abandoned (dead-lettered). */
  metrics?: { attempted(outcome: 'delivered' | 'failed' | 'abandoned', seconds: number): void };
};

export function webhookSink(o: WebhookSinkOptions): OutboxSink {
  return {
    concurrency: o.concurrency,
    maxAttempts: o.maxAttempts,
    backoffMs: o.backoffMs,
    backoffMaxMs: o.backoffMaxMs,
    timeoutMs: o.timeoutMs,
    deadLetters: true,
    async open(lane) {
      const app = await o.apps.get(lane.appId);
      const endpoint = app?.webhooks?.find((e) => e.id === lane.endpointId);
      if (!endpoint) return null;
      const key = signingKey(endpoint.secret);
      return {
        async send(head) {
          const headers = signatureHeaders(key, head.id, head.payload, Date.now());
          const r = await sendWebhook(endpoint.url, headers, head.payload, { timeoutMs: o.timeoutMs, allowPrivate: o.allowPrivate });
          return r.ok ? { ok: true } : { ok: false, error: r.error };
        },
      };
    },
    settled(_lane, _head, outcome, _attempt, seconds) {
      if (outcome !== 'dropped') o.metrics?.attempted(outcome, seconds);
    },
  };
}
