// One typed configuration, read from the environment and validated at start: a bad value stops
// the process with a message naming the variable, instead of surfacing later as odd behaviour.
import { readRtmRelay, type RtmRelayConfig } from './relay/config.ts';
import { readNetless, type NetlessConfig } from './board/netless/config.ts';
import { readMedia, type MediaConfig } from './media/config.ts';
import { readRedisTarget, type RedisTarget } from './store/redis/target.ts';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** SQLite file; defaults to <dataDir>/convene.db. ':memory:' for throwaway instances. */
  dbPath: string;
  /** Cluster mode: state, logs, presence and fan-out in this Redis instead of SQLite. */
  redis: {
    /** One Redis by URL, or a primary found through Sentinel; null: the embedded SQLite store. */
    target: RedisTarget | null;
    /**
     * Replicas that must have a commit before it is acknowledged (Redis WAIT); 0: acknowledged once
     * the primary has it (a failover may then lose the last writes).
     */
    minReplicas: number;
    /** How long a commit waits for them, ms; past it the caller gets the retryable 503. */
    replicaTimeoutMs: number;
    /** Every key starts with it: several deployments (or tests) can share one Redis. */
    prefix: string;
    /** A node silent this long (seconds) is dead: its sockets are dropped by the others. */
    nodeTimeout: number;
  };
  bootstrap: {
    appId?: string;
    appCertificate?: string;
    customerId?: string;
    customerSecret?: string;
    accessKey?: string;
    secretKey?: string;
  };
  /** Agora token privilege lifetime, seconds. */
  tokenTtl: number;
  /** On SIGTERM, the node's sockets are ended in batches over this many seconds before it stops. */
  drainSeconds: number;
  /** An empty room's meeting ends after this many seconds. */
  emptyRoomTtl: number;
  corsOrigin: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** GET /metrics (Prometheus) is served, and the figures behind it are kept. */
  metrics: boolean;
  boardProvider: 'builtin' | 'none' | 'netless';
  /** The Netless whiteboard (src/board/netless/): null unless the board provider is netless. */
  netless: NetlessConfig | null;
  /** The built-in whiteboard on the realtime socket (src/board/). */
  board: {
    /** Frames a member may send to the board per second (a burst of as many passes at once); 0 = no limit. */
    rate: number;
    /** Strokes one board may hold; a draw beyond is refused until strokes are erased or the board cleared. */
    maxStrokes: number;
  };
  /** The meeting page (/) gets the default app's client credentials from /config.json (CONVENE_WEB_APP). */
  webApp: boolean;
  /** The page's own media: a WebRTC mesh for small rooms, signalled over the realtime socket (src/media/). */
  media: MediaConfig;
  /** Largest accepted request body, bytes. */
  bodyLimit: number;
  presence: {
    /** Who leaves for lack of a realtime socket (see service/presence.ts). */
    expiry: 'auto' | 'always' | 'off';
    /** Grace period after the last socket closes (or after an entry without a socket), seconds. */
    grace: number;
  };
  realtime: {
    /** A socket with more unsent bytes than this is closed (the member may resume). */
    maxBufferedBytes: number;
    /** Ping interval, seconds; a socket missing one pong is dropped. */
    pingInterval: number;
    /** Open realtime sockets one member may hold at once (on this node and across a cluster). */
    maxSocketsPerMember: number;
    /** Catch-ups (resumes and snapshots) sent at once; others wait their turn. */
    maxConcurrentCatchUps: number;
  };
  /** Events kept per room for resumes; older ones need a snapshot. */
  eventRetention: number;
  /** The heap's empty pages go back to the system when its old generation has grown this many MB and the server is quiet (src/ops/heap.ts); 0 = never. */
  heapTrimMb: number;
  /** SQLite's `synchronous` in WAL mode: NORMAL survives a killed process, FULL also a power cut (each commit waits for the disk). */
  sqliteSynchronous: 'NORMAL' | 'FULL';
  /** Ended meetings (state, members, log) are deleted this many seconds after their end. */
  roomRetention: number;
  limits: {
    /** A request (headers and body) not complete within this many seconds is cut off (408). */
    requestTimeout: number;
    /** Open HTTP/WebSocket connections from one client address; 0 = unlimited. */
    maxConnectionsPerIp: number;
    /** Trust X-Forwarded-For from these proxies for the client address ('' = none). */
    trustProxy: string;
    /** Members in one meeting at once, whatever an app allows (its maxUsers may be lower); 0 = no cap. */
    maxRoomMembers: number;
    /** Running meetings of one app at once; 0 = no cap. */
    maxRoomsPerApp: number;
  };
  /** Requests allowed per window; 0 turns a limit off. */
  rates: {
    /** Window of every limit, seconds. */
    window: number;
    /** Chat messages per member (on by default, above what a person types). */
    chat: number;
    /** Invites and applies per member. */
    requests: number;
    /** Entries per client address (off by default: behind a proxy every client shares one). */
    entriesPerIp: number;
    /** Entries per app. */
    entriesPerApp: number;
    /** Server-API calls per client address. */
    qiniuPerIp: number;
    /** Server-API calls per access key. */
    qiniuPerKey: number;
  };
  /** Delivery of the apps' webhooks (src/webhooks/). */
  webhooks: {
    /** Attempts per event before it is dead-lettered. */
    maxAttempts: number;
    /** Delay before the first retry, ms; doubled per attempt up to backoffMaxMs, jittered. */
    backoffMs: number;
    backoffMaxMs: number;
    /** One attempt's deadline, ms. */
    timeoutMs: number;
    /** Lanes (rooms) of one endpoint delivered at once by one node. */
    concurrency: number;
    /** Loopback and private addresses may be targets (false where SSRF matters). */
    allowPrivate: boolean;
  };
  /** The Agora RTM relay (src/relay/): null when off. */
  rtmRelay: RtmRelayConfig | null;
  qiniu: {
    /** Largest accepted X-Qiniu-Date skew, seconds; 0 disables the check. */
    maxDateSkew: number;
    /** Hubs apps may use; empty = any (616 "hub not match" otherwise). */
    hubs: string[];
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const str = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const v = str(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name}=${JSON.stringify(v)}: must be an integer from ${min} to ${max}`);
      return def;
    }
    return n;
  };
  const oneOf = <T extends string>(name: string, def: T, values: readonly T[]): T => {
    const v = str(name);
    if (v === undefined) return def;
    if (!(values as readonly string[]).includes(v)) {
      problems.push(`${name}=${JSON.stringify(v)}: must be one of ${values.join(', ')}`);
      return def;
    }
    return v as T;
  };
  const matching = (name: string, re: RegExp, what: string): string | undefined => {
    const v = str(name);
    if (v !== undefined && !re.test(v)) problems.push(`${name}: must be ${what}`);
    return v;
  };

  const dataDir = str('CONVENE_DATA_DIR') ?? './data';
  const config: Config = {
    port: int('PORT', 8080, 0, 65535),
    host: str('HOST') ?? '0.0.0.0',
    dataDir,
    dbPath: str('CONVENE_DB') ?? `${dataDir.replace(/\/+$/, '')}/convene.db`,
    redis: {
      target: readRedisTarget({ str, problems }),
      minReplicas: int('CONVENE_REDIS_MIN_REPLICAS', 0, 0, 16),
      replicaTimeoutMs: int('CONVENE_REDIS_REPLICA_TIMEOUT_MS', 1_000, 10, 60_000),
      prefix: matching('CONVENE_REDIS_PREFIX', /^[^\s*?[\]]{0,64}$/, 'at most 64 characters without spaces or glob characters') ?? 'convene:',
      nodeTimeout: int('CONVENE_NODE_TIMEOUT', 5, 1, 3600),
    },
    bootstrap: {
      appId: matching('CONVENE_APP_ID', /^[0-9a-fA-F]{32}$/, '32 hexadecimal characters (an Agora App ID)'),
      appCertificate: matching('CONVENE_APP_CERTIFICATE', /^[0-9a-fA-F]{32}$/, '32 hexadecimal characters (an Agora App Certificate)'),
      customerId: matching('CONVENE_CUSTOMER_ID', /^[^:\s]{1,128}$/, '1 to 128 characters without ":" or spaces'),
      customerSecret: matching('CONVENE_CUSTOMER_SECRET', /^\S{1,256}$/, '1 to 256 characters without spaces'),
      accessKey: matching('CONVENE_ACCESS_KEY', /^[^:\s]{1,128}$/, '1 to 128 characters without ":" or spaces'),
      secretKey: matching('CONVENE_SECRET_KEY', /^\S{1,256}$/, '1 to 256 characters without spaces'),
    },
    tokenTtl: int('CONVENE_TOKEN_TTL', 86_400, 60, 30 * 86_400),
    drainSeconds: int('CONVENE_DRAIN_SECONDS', 10, 0, 600),
    emptyRoomTtl: int('CONVENE_EMPTY_ROOM_TTL', 300, 1, 30 * 86_400),
    corsOrigin: str('CONVENE_CORS_ORIGIN') ?? '*',
    logLevel: oneOf('CONVENE_LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    metrics: oneOf('CONVENE_METRICS', 'on', ['on', 'off'] as const) === 'on',
    boardProvider: oneOf('CONVENE_BOARD_PROVIDER', 'builtin', ['builtin', 'none', 'netless'] as const),
    netless: readNetless({ str, int, problems }, str('CONVENE_BOARD_PROVIDER') ?? 'builtin'),
    board: {
      rate: int('CONVENE_BOARD_RATE', 20, 0, 10_000),
      maxStrokes: int('CONVENE_BOARD_MAX_STROKES', 5_000, 1, 1_000_000),
    },
    webApp: oneOf('CONVENE_WEB_APP', 'on', ['on', 'off'] as const) === 'on',
    media: readMedia({ str, int, problems }),
    bodyLimit: int('CONVENE_BODY_LIMIT', 64 * 1024, 1024, 16 * 1024 * 1024),
    presence: {
      // `on` was the name of `always` before HTTP-only clients were told apart; still accepted.
      expiry: ((v) => (v === 'on' ? 'always' : v))(oneOf('CONVENE_PRESENCE_EXPIRY', 'auto', ['auto', 'always', 'off', 'on'] as const)),
      grace: int('CONVENE_PRESENCE_GRACE', 20, 1, 86_400),
    },
    realtime: {
      maxBufferedBytes: int('CONVENE_WS_MAX_BUFFER', 1024 * 1024, 1024, 1024 * 1024 * 1024),
      pingInterval: int('CONVENE_WS_PING_INTERVAL', 25, 1, 3600),
      maxSocketsPerMember: int('CONVENE_MAX_SOCKETS_PER_MEMBER', 8, 1, 1000),
      maxConcurrentCatchUps: int('CONVENE_MAX_CATCH_UPS', 16, 1, 10_000),
    },
    eventRetention: int('CONVENE_EVENT_RETENTION', 10_000, 100, 10_000_000),
    heapTrimMb: int('CONVENE_HEAP_TRIM_MB', 16, 0, 1_048_576),
    sqliteSynchronous: oneOf('CONVENE_SQLITE_SYNCHRONOUS', 'NORMAL', ['NORMAL', 'FULL'] as const),
    roomRetention: int('CONVENE_ROOM_RETENTION', 3 * 86_400, 0, 3650 * 86_400),
    limits: {
      requestTimeout: int('CONVENE_REQUEST_TIMEOUT', 30, 1, 3600),
      maxConnectionsPerIp: int('CONVENE_MAX_CONNECTIONS_PER_IP', 1000, 0, 1_000_000),
      trustProxy: str('CONVENE_TRUST_PROXY') ?? '',
      maxRoomMembers: int('CONVENE_MAX_ROOM_MEMBERS', 10_000, 0, 1_000_000),
      maxRoomsPerApp: int('CONVENE_MAX_ROOMS_PER_APP', 10_000, 0, 10_000_000),
    },
    rates: {
      window: int('CONVENE_RATE_WINDOW', 10, 1, 3600),
      chat: int('CONVENE_RATE_CHAT', 30, 0, 1_000_000),
      requests: int('CONVENE_RATE_REQUESTS', 30, 0, 1_000_000),
      entriesPerIp: int('CONVENE_RATE_ENTRIES_PER_IP', 0, 0, 1_000_000),
      entriesPerApp: int('CONVENE_RATE_ENTRIES_PER_APP', 0, 0, 1_000_000),
      qiniuPerIp: int('CONVENE_RATE_QINIU_PER_IP', 0, 0, 1_000_000),
      qiniuPerKey: int('CONVENE_RATE_QINIU_PER_KEY', 0, 0, 1_000_000),
    },
    webhooks: {
      maxAttempts: int('CONVENE_WEBHOOK_MAX_ATTEMPTS', 12, 1, 1000),
      backoffMs: int('CONVENE_WEBHOOK_BACKOFF_MS', 5_000, 1, 3_600_000),
      backoffMaxMs: int('CONVENE_WEBHOOK_BACKOFF_MAX_MS', 3_600_000, 1, 86_400_000),
      timeoutMs: int('CONVENE_WEBHOOK_TIMEOUT_MS', 10_000, 100, 300_000),
      concurrency: int('CONVENE_WEBHOOK_CONCURRENCY', 4, 1, 256),
      allowPrivate: oneOf('CONVENE_WEBHOOK_ALLOW_PRIVATE', '1', ['0', '1'] as const) === '1',
    },
    rtmRelay: readRtmRelay({ str, int, problems }),
    qiniu: {
      maxDateSkew: int('CONVENE_QINIU_DATE_SKEW', 900, 0, 86_400),
      hubs: (str('CONVENE_QINIU_HUBS') ?? '').split(',').map((h) => h.trim()).filter(Boolean),
    },
  };
  const b = config.bootstrap;
  if ((b.customerId === undefined) !== (b.customerSecret === undefined)) {
    problems.push('CONVENE_CUSTOMER_ID and CONVENE_CUSTOMER_SECRET must be given together');
  }
  if ((b.accessKey === undefined) !== (b.secretKey === undefined)) {
    problems.push('CONVENE_ACCESS_KEY and CONVENE_SECRET_KEY must be given together');
  }
  if (config.webhooks.backoffMaxMs < config.webhooks.backoffMs) {
    problems.push('CONVENE_WEBHOOK_BACKOFF_MAX_MS must be at least CONVENE_WEBHOOK_BACKOFF_MS');
  }
  if (b.appCertificate !== undefined && b.appId === undefined) {
    problems.push('CONVENE_APP_CERTIFICATE needs CONVENE_APP_ID');
  }
  if (config.redis.minReplicas > 0 && !config.redis.target) {
    problems.push('CONVENE_REDIS_MIN_REPLICAS: only with Redis (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES)');
  }
  if (config.redis.target?.kind === 'cluster' && /[{}]/.test(config.redis.prefix)) {
    // Convene puts its own hash tags after the prefix (see store/redis/slices.ts).
    problems.push('CONVENE_REDIS_PREFIX: no braces on a Redis Cluster (Convene tags its keys itself)');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
