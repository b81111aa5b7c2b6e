// An app's webhook endpoints, as the admin API, the CLI and UpdateApp's eventCb* fields change them:
// checked here once for all three, stored with the app. A secret is shown once, when the endpoint
// is made (as an access key's); lists never show it.
import { randomBytes } from 'node:crypto';
import type { App, DeadLetter, RoomStore, WebhookEndpoint } from '../store/store.ts';
import { ALL_WEBHOOK_EVENTS, DEFAULT_WEBHOOK_EVENTS, WEBHOOK_EVENT_TYPES } from './events.ts';
import { isPrivateAddress, literalAddress } from './sender.ts';
import { newWebhookSecret, secretProblem } from './signature.ts';

/** The endpoint the Qiniu UpdateApp fields eventCbUrl / eventCbSecret / eventCbVersion set. */
export const EVENT_CALLBACK_ID = 'eventcb';

/** Endpoints one app may have. */
export const MAX_ENDPOINTS = 20;

/** A setting the caller got wrong: each edge answers it in its envelope (Qiniu 400, CLI exit 2). */
export class WebhookConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookConfigError';
  }
}

export interface EndpointInput {
  url: string;
  secret?: string;
  /** Types, or `*`; absent: every type but chat. */
  events?: string[];
}

/** An endpoint as lists show it: never its secret. */
export interface EndpointView {
  id: string;
  url: string;
  events: string[];
  createdAt: string;
}

export function endpointView(e: WebhookEndpoint): EndpointView {
  return { id: e.id, url: e.url, events: e.events, createdAt: new Date(e.createdAt).toISOString() };
}

/** The URL if it is one Convene may post to; else a WebhookConfigError saying why. */
export function checkUrl(url: string, allowPrivate: boolean): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new WebhookConfigError(`url must be an absolute http:// or https:// URL, not ${JSON.stringify(url.slice(0, 100))}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new WebhookConfigError(`url must be http:// or https://, not ${u.protocol}`);
  if (url.length > 2048) throw new WebhookConfigError('url must be at most 2048 characters');
  const literal = literalAddress(u.hostname);
  // Names are checked again on every delivery (what they resolve to may change); literals and
  // localhost can be refused at once.
  if (!allowPrivate && ((literal && isPrivateAddress(literal)) || u.hostname === 'localhost' || u.hostname.endsWith('.localhost'))) {
    throw new WebhookConfigError(`url ${u.host} is not a public address, and CONVENE_WEBHOOK_ALLOW_PRIVATE=0 refuses those`);
  }
  return url;
}

export function checkEvents(events: string[] | undefined): string[] {
  if (events === undefined || events.length === 0) return [...DEFAULT_WEBHOOK_EVENTS];
  const known = new Set<string>([...WEBHOOK_EVENT_TYPES, ALL_WEBHOOK_EVENTS]);
  const unknown = events.filter((e) => !known.has(e));
  if (unknown.length > 0) {
    throw new WebhookConfigError(`unknown event type ${JSON.stringify(unknown[0])}: use ${ALL_WEBHOOK_EVENTS} or some of ${WEBHOOK_EVENT_TYPES.join(', ')}`);
  }
  return [...new Set(events)];
}

export function checkSecret(secret: string | undefined): string {
  if (secret === undefined || secret === '') return newWebhookSecret();
  const problem = secretProblem(secret);
  if (problem) throw new WebhookConfigError(problem);
  return secret;
}

/**
 * The app's endpoints after UpdateApp set its eventCb* fields: `eventcb` posts to eventCbUrl,
 * signed with eventCbSecret (one is made when none was ever given, and kept in the app);
 * an empty eventCbUrl removes it.
 */
export function withEventCallback(app: App, allowPrivate: boolean, now: number): App {
  const cb = app.eventCallback;
  const others = (app.webhooks ?? []).filter((e) => e.id !== EVENT_CALLBACK_ID);
  if (!cb || cb.url === '') return { ...app, webhooks: others };
  const url = checkUrl(cb.url, allowPrivate);
  const secret = checkSecret(cb.secret);
  const current = app.webhooks?.find((e) => e.id === EVENT_CALLBACK_ID);
  const endpoint: WebhookEndpoint = { id: EVENT_CALLBACK_ID, url, secret, events: current?.events ?? [...DEFAULT_WEBHOOK_EVENTS], createdAt: current?.createdAt ?? now };
  return { ...app, eventCallback: { ...cb, secret }, webhooks: [...others, endpoint] };
}

export class WebhookEndpoints {
  constructor(
    private readonly store: Pick<RoomStore, 'putApp' | 'outbox'>,
    private readonly opts: { allowPrivate: boolean },
  ) {}

  list(app: App): EndpointView[] {
    return (app.webhooks ?? []).map(endpointView);
  }

  /** Adds an endpoint; the answer holds its secret (the only time it is shown). */
  async add(app: App, input: EndpointInput, now = Date.now()): Promise<WebhookEndpoint> {
    const endpoints = app.webhooks ?? [];
    if (endpoints.length >= MAX_ENDPOINTS) throw new WebhookConfigError(`an app may have at most ${MAX_ENDPOINTS} webhook endpoints: remove one first`);
    const endpoint: WebhookEndpoint = {
      id: `wh_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`,
      url: checkUrl(input.url, this.opts.allowPrivate),
      secret: checkSecret(input.secret),
      events: checkEvents(input.events),
      createdAt: now,
    };
    await this.store.putApp({ ...app, webhooks: [...endpoints, endpoint], updatedAt: now });
    return endpoint;
  }

  /**
   * Removes an endpoint with its dead letters; its pending deliveries are dropped by the
   * dispatcher when it next finds them. False when the app has no such endpoint.
   */
  async remove(app: App, endpointId: string, now = Date.now()): Promise<boolean> {
    const endpoints = app.webhooks ?? [];
    if (!endpoints.some((e) => e.id === endpointId)) return false;
    const next: App = { ...app, webhooks: endpoints.filter((e) => e.id !== endpointId), updatedAt: now };
    if (endpointId === EVENT_CALLBACK_ID) next.eventCallback = null;
    await this.store.putApp(next);
    await this.store.outbox.forget(app.appId, endpointId);
    return true;
  }

  dead(appId: string, endpointId: string | null, limit: number): Promise<DeadLetter[]> {
    return this.store.outbox.dead(appId, endpointId, limit);
  }

  resend(appId: string, endpointId: string | null, ids: string[] | null): Promise<number> {
    return this.store.outbox.resend(appId, endpointId, ids);
  }
}

/** A dead letter as lists show it: what it was, where it stopped, why. */
export function deadView(d: DeadLetter) {
  let type = '';
  let roomUuid = '';
  try {
    const body = JSON.parse(d.payload) as { type?: string; data?: { roomUuid?: string } };
    type = body.type ?? '';
    roomUuid = body.data?.roomUuid ?? '';
  } catch {
    /* a payload is always JSON: left blank otherwise */
  }
  return {
    id: d.id,
    endpointId: d.endpointId,
    type,
    roomId: d.roomId,
    roomUuid,
    seq: d.seq,
    attempts: d.attempts,
    lastError: d.lastError ?? '',
    deadAt: new Date(d.deadAt).toISOString(),
  };
}
