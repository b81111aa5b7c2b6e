// Apps and access keys: who may use the client API (app + customer credentials) and who may
// use the admin API (access keys). Read from the store on every request, never cached here: an
// app changed, deleted or a key removed on one node (or by the CLI) is refused on every node at once.
// Requests for one app while its read is in flight share that read (under load, one store round
// trip serves every request of a turn): what they see is at most that round trip older than their
// arrival, as if they had come a moment sooner; a change made through this registry starts a new read.
import { randomBytes } from 'node:crypto';
import type { AccessKey, App, MergePublishRtmp, RoomStore, WebhookOutbox } from '../store/store.ts';

export const DEFAULT_MERGE_PUBLISH_RTMP: MergePublishRtmp = {
  enable: false,
  audioOnly: false,
  height: 480,
  width: 640,
  fps: 25,
  kbps: 1000,
  url: '',
  streamTitle: '',
};

export function hex32(): string {
  return randomBytes(16).toString('hex');
}

export function newApp(fields: Partial<App> & { appId: string }, now: number): App {
  return {
    certificate: hex32(),
    tokenVersion: '007',
    customerId: randomBytes(12).toString('hex'),
    customerSecret: randomBytes(24).toString('base64url'),
    owner: null,
    hub: '',
    title: '',
    maxUsers: 0,
    noAutoKickUser: false,
    noAutoCloseRoom: false,
    noAutoCreateRoom: false,
    mergePublishRtmp: { ...DEFAULT_MERGE_PUBLISH_RTMP },
    createdAt: now,
    updatedAt: now,
    ...fields,
  };
}

export function newAccessKey(now: number, operator = false): AccessKey {
  const key: AccessKey = { accessKey: randomBytes(15).toString('base64url'), secretKey: randomBytes(30).toString('base64url'), createdAt: now };
  return operator ? { ...key, operator: true } : key;
}

export class AppRegistry {
  /** Reads of an app in flight, shared by the requests that come meanwhile. */
  private readonly reading = new Map<string, Promise<App | null>>();

  constructor(private readonly store: RoomStore) {}

  get(appId: string): Promise<App | null> {
    let read = this.reading.get(appId);
    if (!read) {
      read = this.store.getApp(appId);
      const shared = read;
      this.reading.set(appId, shared);
      const done = () => {
        if (this.reading.get(appId) === shared) this.reading.delete(appId);
      };
      shared.then(done, done);
    }
    return read;
  }

  put(app: App): Promise<void> {
    // A read sent before this write must not answer a request that comes after it.
    this.reading.delete(app.appId);
    return this.store.putApp(app).finally(() => this.reading.delete(app.appId));
  }

  /** The apps' webhook deliveries (their dead letters, for the admin API). */
  get webhookOutbox(): WebhookOutbox {
    return this.store.outbox;
  }

  delete(appId: string): Promise<boolean> {
    this.reading.delete(appId);
    return this.store.deleteApp(appId).finally(() => this.reading.delete(appId));
  }

  list(owner: string | null): Promise<App[]> {
    return this.store.listApps(owner);
  }

  accessKey(accessKey: string): Promise<AccessKey | null> {
    return this.store.getAccessKey(accessKey);
  }

  putAccessKey(key: AccessKey): Promise<void> {
    return this.store.putAccessKey(key);
  }

  listAccessKeys(): Promise<AccessKey[]> {
    return this.store.listAccessKeys();
  }

  deleteAccessKey(accessKey: string): Promise<boolean> {
    return this.store.deleteAccessKey(accessKey);
  }

  /** A new admin key pair; several may be active at once, so that keys can be rotated. */
  async createAccessKey(now = Date.now(), operator = false): Promise<AccessKey> {
    const key = newAccessKey(now, operator);
    await this.store.putAccessKey(key);
    return key;
  }
}
