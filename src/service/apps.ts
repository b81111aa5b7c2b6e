// Apps and access keys: who may use the client API (app + customer credentials) and who may
// use the admin API (access keys). Apps are read on every request, so they are cached briefly.
import { randomBytes } from 'node:crypto';
import type { AccessKey, App, MergePublishRtmp, RoomStore } from '../store/store.ts';

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

export class AppRegistry {
  private readonly cache = new Map<string, { app: App | null; at: number }>();

  constructor(
    private readonly store: RoomStore,
    /** How long a read app stays cached (ms); other nodes' changes show up within it. */
    private readonly ttlMs = 2_000,
    private readonly now: () => number = Date.now,
  ) {}

  async get(appId: string): Promise<App | null> {
    const hit = this.cache.get(appId);
    const now = this.now();
    if (hit && now - hit.at < this.ttlMs) return hit.app;
    const app = await this.store.getApp(appId);
    this.cache.set(appId, { app, at: now });
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!);
    return app;
  }

  async put(app: App): Promise<void> {
    await this.store.putApp(app);
    this.cache.delete(app.appId);
  }

  async delete(appId: string): Promise<boolean> {
    const deleted = await this.store.deleteApp(appId);
    this.cache.delete(appId);
    return deleted;
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
  async createAccessKey(now = Date.now()): Promise<AccessKey> {
    const key = { accessKey: randomBytes(15).toString('base64url'), secretKey: randomBytes(30).toString('base64url'), createdAt: now };
    await this.store.putAccessKey(key);
    return key;
  }
}
