// The two calls Convene makes to Netless' REST API (Agora Interactive Whiteboard, "Room management"):
// create a room (POST /v5/rooms) and ban it (PATCH /v5/rooms/{uuid} {"isBan": true}). Each call
// carries a fresh admin SDK token (`token` header, minted offline, short-lived as Netless advises)
// and the data centre (`region` header), both required by Netless.
import { sdkToken, NetlessRole, type NetlessKeys } from './tokens.ts';

export interface NetlessClientOptions extends NetlessKeys {
  /** e.g. https://api.netless.link */
  url: string;
  /** us-sv, sg, in-mum, eu, gb-lon or cn-hz. */
  region: string;
  /** One call's deadline, ms. */
  timeoutMs: number;
}

/** A room as Netless describes it (201 of POST /v5/rooms, 200 of PATCH). */
export interface NetlessRoom {
  uuid: string;
  teamUUID?: string;
  appUUID?: string;
  isBan?: boolean;
  createdAt?: string;
  limit?: number;
}

/** A call that failed: `status` null when no answer came (timeout, connection refused or reset). */
export class NetlessError extends Error {
  constructor(
    readonly status: number | null,
    message: string,
    /** Netless' Retry-After, seconds, when it gave one. */
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
    this.name = 'NetlessError';
  }

  /** Whether the same call may succeed later: no answer, 408, 429 and 5xx (4xx mean the call is wrong). */
  get retryable(): boolean {
    return this.status === null || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/** SDK tokens for Convene's own calls live this long: one call's worth, as Netless advises. */
const SDK_TOKEN_LIFESPAN_MS = 10 * 60_000;
/** Netless' room uuids (32 hex digits today); anything else is not a room we can hand out. */
const ROOM_UUID = /^[0-9A-Za-z_-]{1,128}$/;

export class NetlessClient {
  constructor(private readonly opts: NetlessClientOptions) {}

  /** A new room for a meeting's board (no recording; no cap on writers: the app decides who draws). */
  async createRoom(): Promise<NetlessRoom> {
    const body = await this.call('POST', '/v5/rooms', { isRecord: false, limit: 0 });
    const uuid = (body as { uuid?: unknown } | null)?.uuid;
    if (typeof uuid !== 'string' || !ROOM_UUID.test(uuid)) throw new NetlessError(201, 'Netless created a room but its answer had no room uuid');
    return body as NetlessRoom;
  }

  /** Bans a room: everyone in it is removed and nobody may join it again. */
  async banRoom(uuid: string): Promise<void> {
    await this.call('PATCH', `/v5/rooms/${encodeURIComponent(uuid)}`, { isBan: true });
  }

  private async call(method: 'POST' | 'PATCH', path: string, body: unknown): Promise<unknown> {
    const what = `${method} ${path}`;
    let res: Response;
    try {
      res = await fetch(this.opts.url.replace(/\/+$/, '') + path, {
        method,
        headers: {
          'content-type': 'application/json',
          token: sdkToken(this.opts, NetlessRole.admin, SDK_TOKEN_LIFESPAN_MS),
          region: this.opts.region,
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
    } catch (err) {
      const timedOut = (err as Error)?.name === 'TimeoutError';
      const why = timedOut ? `no answer within ${this.opts.timeoutMs} ms` : `unreachable (${String((err as Error)?.cause ?? err)})`;
      throw new NetlessError(null, `Netless ${what}: ${why}`);
    }
    const text = await res.text().catch(() => '');
    let parsed: unknown = null;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      // A gateway's HTML error page, say: the status tells enough.
    }
    if (res.status === 200 || res.status === 201) return parsed;
    // Netless' failures carry a `message` saying why (REST overview, "Status codes").
    const message = (parsed as { message?: unknown } | null)?.message;
    const retryAfter = Number(res.headers.get('retry-after'));
    throw new NetlessError(
      res.status,
      `Netless ${what} answered ${res.status}${typeof message === 'string' && message ? `: ${message.slice(0, 200)}` : ''}`,
      Number.isFinite(retryAfter) && retryAfter >= 0 && res.headers.has('retry-after') ? retryAfter : null,
    );
  }
}
