// The webhook rows of a commit, written by the store in the same transaction (script) as its
// events: one row per event and endpoint that wants it. An app without webhooks gets none, and its
// commits carry only the empty stamp the store checks. The apps' endpoints are kept here per app;
// a commit made from an outdated copy is refused by the store (`webhooksChanged`), and the copy is
// read again, so no node writes rows from a stale view.
import type { LoggedEvent } from '../domain/events.ts';
import type { Room } from '../domain/room.ts';
import { webhookStamp, type App, type CommitOutbox, type OutboxRow, type WebhookEndpoint } from '../store/store.ts';
import { ALL_WEBHOOK_EVENTS, webhookEventId, webhookEvents, type WebhookEvent } from './events.ts';

interface AppWebhooks {
  app: App | null;
  /** When it was read (ms): other sources' view of the app (its certificate, say) is read again after APP_TTL_MS. */
  readAt: number;
  stamp: string;
  endpoints: WebhookEndpoint[];
}

/** Another sink of committed events written in the same outbox (the RTM relay): its rows of a commit. */
export interface OutboxSource {
  rowsFor(app: App | null, before: Room | null, room: Room, logged: LoggedEvent[]): OutboxRow[];
}

const NONE: CommitOutbox = Object.freeze({ stamp: '', rows: Object.freeze([]) as unknown as OutboxRow[] });

/** Apps remembered at most; the cache restarts empty beyond (a miss costs one read of the app). */
const MAX_APPS = 10_000;
/** How long a read of an app serves the other sources (the webhooks' view is kept exact by the stamp). */
const APP_TTL_MS = 10_000;

/** The JSON body of a webhook event (docs/qiniu-api.md, Webhooks). */
export function webhookPayload(room: Pick<Room, 'appId' | 'roomId' | 'roomUuid'>, e: WebhookEvent): string {
  return JSON.stringify({
    id: webhookEventId(room.roomId, e.seq, e.idx),
    type: e.type,
    timestamp: new Date(e.at).toISOString(),
    data: { appId: room.appId, roomId: room.roomId, roomUuid: room.roomUuid, seq: e.seq, member: e.member, ...e.data },
  });
}

export function wants(endpoint: Pick<WebhookEndpoint, 'events'>, type: string): boolean {
  return endpoint.events.includes(type) || endpoint.events.includes(ALL_WEBHOOK_EVENTS);
}

export class OutboxWriter {
  private readonly apps = new Map<string, AppWebhooks>();
  /** Called after a commit that wrote rows. */
  written: () => void = () => {};

  constructor(
    private readonly store: { getApp(appId: string): Promise<App | null> },
    private readonly sources: readonly OutboxSource[] = [],
  ) {}

  /** The outbox of a commit of `logged` (undefined: none to check, the commit has no events). */
  async rowsFor(before: Room | null, room: Room, logged: LoggedEvent[]): Promise<CommitOutbox | undefined> {
    if (logged.length === 0) return undefined;
    const cached = this.apps.get(room.appId);
    const app = cached && (this.sources.length === 0 || Date.now() - cached.readAt < APP_TTL_MS) ? cached : await this.load(room.appId);
    const rows: OutboxRow[] = [];
    for (const source of this.sources) for (const row of source.rowsFor(app.app, before, room, logged)) rows.push(row);
    if (app.endpoints.length === 0) return app.stamp === '' && rows.length === 0 ? NONE : { stamp: app.stamp, rows };
    for (const e of webhookEvents(before, room, logged)) {
      let payload: string | undefined;
      for (const endpoint of app.endpoints) {
        if (!wants(endpoint, e.type)) continue;
        payload ??= webhookPayload(room, e);
        rows.push({ endpointId: endpoint.id, id: webhookEventId(room.roomId, e.seq, e.idx), seq: e.seq, idx: e.idx, payload });
      }
    }
    return { stamp: app.stamp, rows };
  }

  /** The store refused a commit's stamp: the app's webhooks changed; read them again. */
  forget(appId: string): void {
    this.apps.delete(appId);
  }

  private async load(appId: string): Promise<AppWebhooks> {
    const app = await this.store.getApp(appId);
    const entry = { app, readAt: Date.now(), stamp: webhookStamp(app), endpoints: app?.webhooks ?? [] };
    if (this.apps.size >= MAX_APPS) this.apps.clear();
    this.apps.set(appId, entry);
    return entry;
  }
}
