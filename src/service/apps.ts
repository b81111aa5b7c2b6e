// Apps and access keys: who may use the client API (app + customer credentials) and who may
// use the admin API (access keys). Read from the store on every request, never cached here: an
// app changed, deleted or a key removed on one node (or by the CLI) is refused on every node at once.
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
  constructor(private readonly store: RoomStore) {}

  get(appId: string): Promise<App | null> {
    return this.store.getApp(appId);
  }

  put(app: App): Promise<void> {
    return this.store.putApp(app);
  }

  /** The apps' webhook deliveries (their dead letters, for the admin API). */
  get webhookOutbox(): WebhookOutbox {
    return this.store.outbox;
  }

  delete(appId: string): Promise<boolean> {
    return this.store.deleteApp(appId);
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
