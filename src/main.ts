// Composition root: the only place that knows which adapters exist. Builds them from the
// configuration, starts the server, and stops everything cleanly on SIGINT/SIGTERM.
import { randomBytes } from 'node:crypto';
import { loadConfig, ConfigError, type Config } from './config.ts';
import { openBackend } from './ops/backend.ts';
import { lockDatabase, type ServerLock } from './ops/lock.ts';
import { operationalMessage } from './ops/errors.ts';
import { isProgram } from './ops/entry.ts';
import { startHeapTrim } from './ops/heap.ts';
import { MeetingService } from './service/meeting.ts';
import { AppRegistry, hex32, newAccessKey, newApp } from './service/apps.ts';
import { AgoraTokens } from './tokens/agora.ts';
import { BoardTokens } from './tokens/board.ts';
import { buildServer, type Server } from './http/server.ts';
import { ConnectionGuard, trustProxyFrom } from './http/connections.ts';
import { refusal } from './http/rates.ts';
import type { RoomStore } from './store/store.ts';
import { Presence } from './service/presence.ts';
import { RoomRetention } from './service/retention.ts';
import { outboxDelivery, outboxSources } from './outbox/sinks.ts';
import { relayMetrics } from './relay/metrics.ts';
import { FanoutCost } from './realtime/cost.ts';
import { Gateway } from './realtime/gateway.ts';
import { Whiteboard } from './board/socket.ts';
import { boardRetention } from './board/retention.ts';
import { netlessBoards } from './board/netless/provider.ts';
import { agoraRealtimeFormat, boardFor } from './http/conf/views.ts';
import { StoreUnavailableError } from './store/store.ts';
import { ConveneMetrics } from './ops/metrics.ts';
import { MediaRelay } from './media/relay.ts';

export interface Convene {
  config: Config;
  server: Server;
  meeting: MeetingService;
  apps: AppRegistry;
  store: RoomStore;
  gateway: Gateway;
  presence: Presence;
  /** What GET /metrics serves; null with CONVENE_METRICS=off. */
  metrics: ConveneMetrics | null;
  /** 'sqlite' (one process) or 'redis' (cluster node), and this node's id. */
  backend: { kind: 'sqlite' | 'redis'; nodeId: string };
  /** The bound address, e.g. http://127.0.0.1:8080. */
  url: string;
  stop(): Promise<void>;
  /** A graceful stop: not ready, sockets ended in batches over `periodMs` (default CONVENE_DRAIN_SECONDS), then stop(). */
  drain(periodMs?: number): Promise<void>;
  /** An operator asked this node to drain (`convene nodes drain`): whoever owns the process acts. */
  onDrainRequest(handler: () => void): void;
}

/** What the first start generated: shown once so the operator can configure clients. */
export interface Bootstrapped {
  appId: string;
  appCertificate: string | null;
  customerId: string;
  customerSecret: string;
  accessKey: string;
  secretKey: string;
  /** Made by this start. */
  created: { app: boolean; key: boolean };
  /** Not yet shown by a start that came up (made now, or by a start that failed before it could say). */
  unshown: { app: boolean; key: boolean };
}

/**
 * The credentials a start generates are said by the start that comes up (serve): marked unshown
 * when made, shown (a second mark, as the store only adds meta values) once said. A first start
 * that fails after making them (its port in use) leaves them to the next start.
 */
const unshownMark = (what: string) => `unshown:${what}`;
const shownMark = (what: string) => `shown:${what}`;

async function isUnshown(store: RoomStore, what: string): Promise<boolean> {
  return (await store.getMeta(unshownMark(what))) !== null && (await store.getMeta(shownMark(what))) === null;
}

/** Marks the credentials `b` shows as shown: later starts print the App ID only. */
export async function markShown(store: RoomStore, b: Bootstrapped): Promise<void> {
  if (b.unshown.app) await store.setMetaIfAbsent(shownMark(`app:${b.appId}`), '1');
  if (b.unshown.key) await store.setMetaIfAbsent(shownMark(`key:${b.accessKey}`), '1');
}

export async function bootstrap(store: RoomStore, apps: AppRegistry, config: Config, now = Date.now()): Promise<Bootstrapped> {
  const b = config.bootstrap;
  // The default app's id is remembered so a restart without CONVENE_APP_ID finds the same app.
  const appId = b.appId ?? (await store.setMetaIfAbsent('defaultAppId', hex32()));
  let app = await apps.get(appId);
  const createdApp = !app;
  if (!app) {
    app = newApp({ appId }, now);
    // Before the app: no app is ever made that no start will show.
    await store.setMetaIfAbsent(unshownMark(`app:${appId}`), '1');
  }
  const wanted = {
    ...(b.appCertificate ? { certificate: b.appCertificate } : {}),
    ...(b.customerId ? { customerId: b.customerId, customerSecret: b.customerSecret! } : {}),
  };
  const changed = Object.entries(wanted).some(([k, v]) => app![k as keyof typeof app] !== v);
  if (createdApp || changed) {
    app = { ...app, ...wanted, updatedAt: now };
    await apps.put(app);
  }
  let createdKey = false;
  let key = b.accessKey ? await apps.accessKey(b.accessKey) : (await apps.listAccessKeys())[0] ?? null;
  if (b.accessKey && (!key || key.secretKey !== b.secretKey)) {
    key = { accessKey: b.accessKey, secretKey: b.secretKey!, createdAt: key?.createdAt ?? now };
    await apps.putAccessKey(key);
  } else if (!key) {
    const made = newAccessKey(now);
    await store.setMetaIfAbsent(unshownMark(`key:${made.accessKey}`), '1');
    await apps.putAccessKey(made);
    key = made;
    createdKey = true;
  }
  return {
    appId: app.appId,
    appCertificate: app.certificate,
    customerId: app.customerId,
    customerSecret: app.customerSecret,
    accessKey: key.accessKey,
    secretKey: key.secretKey,
    created: { app: createdApp, key: createdKey },
    unshown: { app: await isUnshown(store, `app:${app.appId}`), key: await isUnshown(store, `key:${key.accessKey}`) },
  };
}

export async function startConvene(config: Config): Promise<Convene & { bootstrapped: Bootstrapped }> {
  let server: Server | undefined;
  const metrics = config.metrics ? new ConveneMetrics() : null;
  // A store or bus outage is expected in a cluster and said once per failure, below error.
  const onError = (err: unknown, what: string) => {
    metrics?.backendError(err, what);
    if (err instanceof StoreUnavailableError) server?.log.warn({ err: String(err), cause: String(err.cause ?? '') }, what);
    else server?.log.error({ err }, what);
  };
  const backend = await openBackend(config, onError);
  const { store, bus, directory } = backend;
  let started = false;
  try {
    await bus.start();
    await backend.boards.bus.start();
    await backend.signals.start();
    await backend.control.start();
    const apps = new AppRegistry(store);
    const bootstrapped = await bootstrap(store, apps, config);
    const secret = await store.setMetaIfAbsent('boardSecret', randomBytes(32).toString('base64url'));
    const agoraTokens = new AgoraTokens(config.tokenTtl);
    const boardTokens = new BoardTokens(secret, config.tokenTtl);
    const notice = (what: string, details: Record<string, unknown>) => server?.log.warn(details, what);
    // CONVENE_BOARD_PROVIDER=netless: a meeting's board is a Netless room, made before the meeting, banned at its end.
    const netless = config.netless ? netlessBoards(config.netless, config.tokenTtl, { onError, onNotice: notice }) : null;
    const boardSigner = netless?.tokens ?? boardTokens;
    const relayFigures = config.rtmRelay && metrics ? relayMetrics([metrics.registry]) : undefined;
    // Measured by the gateway's fan-outs, used by the rooms' queues to pace storms.
    const fanoutCost = new FanoutCost();
    const meeting = new MeetingService({
      store,
      fanoutCost,
      bus,
      emptyRoomTtlMs: config.emptyRoomTtl * 1000,
      maxRoomMembers: config.limits.maxRoomMembers,
      maxRoomsPerApp: config.limits.maxRoomsPerApp,
      onError,
      metrics: metrics ?? undefined,
      boards: netless?.rooms,
      // Besides the webhooks, the RTM relay's messages and the Netless boards' bans leave through the outbox.
      outboxSources: outboxSources(config, { relayMetrics: relayFigures, onNotice: notice }),
    });
    const retention = new RoomRetention({
      store,
      alongside: [boardRetention(backend.boards.log, meeting)],
      retentionMs: config.roomRetention * 1000,
      onError,
    });
    const deliveries = outboxDelivery({
      config,
      outbox: store.outbox,
      apps,
      limiter: backend.limiter,
      nodeId: backend.nodeId,
      netless: netless?.client ?? null,
      webhookMetrics: metrics?.webhooks,
      relayMetrics: relayFigures,
      onError,
      onNotice: notice,
    });
    meeting.onOutboxRows(() => deliveries.wake());
    /** drain() was called: /readyz says so at once, whatever the backends. */
    let draining = false;
    const readiness = async () => {
      const checks: Record<string, string> = {};
      if (draining) checks.node = 'draining';
      checks.store = await store.ping().then(
        () => 'ok',
        (err) => String((err as Error).message ?? err),
      );
      checks.bus = bus.ready ? 'ok' : 'not subscribed';
      checks.presence = directory.ready ? 'ok' : 'unreachable';
      return { ready: Object.values(checks).every((c) => c === 'ok'), checks };
    };
    // One count of connections per address for HTTP and the realtime upgrades.
    const connections = new ConnectionGuard(config.limits.maxConnectionsPerIp, trustProxyFrom(config.limits.trustProxy));
    server = await buildServer({ config, meeting, apps, agoraTokens, boardTokens: boardSigner, readiness, limiter: backend.limiter, connections, metrics: metrics ?? undefined, webAppId: config.webApp ? bootstrapped.appId : undefined, nodes: backend.nodes });
    const presence = new Presence({ meeting, directory, graceMs: config.presence.grace * 1000, policy: config.presence.expiry, onError });
    // The built-in board's strokes travel on the realtime socket (board=1), in a log of their own.
    const board =
      config.boardProvider === 'builtin'
        ? new Whiteboard({
            log: backend.boards.log,
            bus: backend.boards.bus,
            rooms: meeting,
            rate: config.board.rate,
            maxStrokes: config.board.maxStrokes,
            resyncIntervalMs: backend.resyncIntervalMs,
            onError,
          })
        : undefined;
    // The meeting page's WebRTC signals travel on its realtime socket too (media=1), never logged.
    const media = new MediaRelay({ config: config.media, bus: backend.signals, rooms: meeting, onError });
    const gateway = new Gateway({
      fanoutCost,
      board,
      media,
      boardTokens,
      meeting,
      apps,
      bus,
      presence,
      format: agoraRealtimeFormat((room, userId) => boardFor(config.boardProvider, boardSigner, room, userId, false)),
      resyncIntervalMs: backend.resyncIntervalMs,
      maxBufferedBytes: config.realtime.maxBufferedBytes,
      maxSocketsPerMember: config.realtime.maxSocketsPerMember,
      maxConcurrentCatchUps: config.realtime.maxConcurrentCatchUps,
      connections,
      admitEntry: async (ip, appId) => {
        const deps = { config, limiter: backend.limiter };
        const r = (await refusal(deps, 'entriesPerIp', ip)) ?? (await refusal(deps, 'entriesPerApp', appId));
        return r?.message ?? null;
      },
      pingIntervalMs: config.realtime.pingInterval * 1000,
      onError,
      metrics: metrics ?? undefined,
    });
    gateway.attach(server.server);
    const address = await server.listen({ port: config.port, host: config.host });
    meeting.start();
    metrics?.start({ census: store, bus, sockets: () => gateway.size, draining: () => draining, reconnections: () => store.reconnections ?? 0, onError });
    await presence.start();
    retention.start();
    await deliveries.start();
    started = true;
    const url = address.replace('0.0.0.0', '127.0.0.1').replace('[::]', '127.0.0.1');
    let stopping: Promise<void> | null = null;
    const stop = () =>
      (stopping ??= (async () => {
        metrics?.stop();
        await gateway.close();
        await presence.stop();
        await server!.close();
        await meeting.stop();
        await netless?.rooms.stop();
        await retention.stop();
        await deliveries.stop();
        await backend.close();
      })());
    /**
     * A graceful stop: not ready at once (the load balancer sends no one new), new sockets sent
     * elsewhere, the open ones ended in jittered batches over CONVENE_DRAIN_SECONDS so that their
     * members resume on the other nodes, then stop(): in-flight requests finish, webhook and relay
     * lanes and this node's presence are handed back.
     */
    const drain = async (periodMs = config.drainSeconds * 1000) => {
      draining = true;
      server!.log.info({ periodMs, sockets: gateway.size }, 'draining');
      await gateway.drain(periodMs);
      await stop();
    };
    const kind = { kind: backend.kind, nodeId: backend.nodeId };
    const onDrainRequest = (handler: () => void) => {
      backend.control.subscribe((_roomId, m) => {
        if (m.drain === backend.nodeId) handler();
      });
    };
    return { config, server, meeting, apps, store, gateway, presence, metrics, backend: kind, url, stop, drain, onDrainRequest, bootstrapped };
  } finally {
    if (!started) {
      await server?.close().catch(() => {});
      await backend.close().catch(() => {});
    }
  }
}

export function describeBootstrap(b: Bootstrapped): string {
  const lines = [
    b.created.app ? 'Created the default app (stored in the data directory; shown once):' : b.unshown.app ? 'The default app (made by a start that failed; shown once):' : 'Default app:',
    `  App ID           ${b.appId}`,
  ];
  if (b.unshown.app) {
    lines.push(
      `  App Certificate  ${b.appCertificate ?? '(none)'}`,
      `  Customer ID      ${b.customerId}`,
      `  Customer Secret  ${b.customerSecret}`,
    );
  }
  if (b.unshown.key) {
    lines.push(
      b.created.key ? 'Created an admin access key (shown once):' : 'An admin access key (made by a start that failed; shown once):',
      `  Access Key       ${b.accessKey}`,
      `  Secret Key       ${b.secretKey}`,
    );
  }
  return lines.join('\n');
}

/** What the server binds, said as it is: a wildcard host is every interface (issue 18). */
export function listeningLine(host: string, url: string): string {
  const port = new URL(url).port;
  if (host === '0.0.0.0' || host === '::' || host === '') {
    return `Convene listening on ${host === '::' ? '[::]' : '0.0.0.0'}:${port}, every interface (from this machine: ${url}) (pid ${process.pid})`;
  }
  return `Convene listening on ${url} (pid ${process.pid})`;
}

/** How long a stop may take after the drain period (requests finishing, lanes handed back). */
const STOP_DEADLINE_MS = 15_000;

/** `convene serve`: starts the service on the configured data directory until SIGINT/SIGTERM. */
export async function serve(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  let lock: ServerLock | null = null;
  let convene: Awaited<ReturnType<typeof startConvene>>;
  try {
    // Cluster nodes share Redis by design; only the embedded database belongs to one server.
    lock = config.redis.target ? null : lockDatabase(config);
    convene = await startConvene(config);
  } catch (err) {
    // What the operator can fix is one line and exit 2; anything else is a bug: print it all.
    const message = operationalMessage(err, config);
    if (message === null) throw err;
    console.error(`convene: ${message}`);
    process.exit(2);
  }
  console.log(describeBootstrap(convene.bootstrapped));
  console.log(listeningLine(config.host, convene.url));
  // The process's own: a test's or an embedder's instances share their process with others.
  const mb = (n: number) => Math.round(n / 1048576);
  startHeapTrim(config.heapTrimMb, (r) =>
    convene.server.log.info({ heapBeforeMb: mb(r.beforeBytes), heapAfterMb: mb(r.afterBytes), pauseMs: Math.round(r.pauseMs) }, 'heap trimmed after a busy spell'),
  );
  await markShown(convene.store, convene.bootstrapped).catch((err) => console.error(`convene: could not note that the credentials were shown (${String(err)}): the next start shows them again`));
  let stopping = false;
  const shutdown = (signal: string) => {
    // A terminal's Ctrl-C reaches both npm and node, and npm forwards it again: later signals
    // must not kill the process halfway through a clean stop.
    if (stopping) return;
    stopping = true;
    convene.server.log.info({ signal }, 'shutting down');
    // SIGTERM (a supervisor, a rolling upgrade) drains a cluster node; Ctrl-C, and any signal to the
    // one server of the embedded store (no other node to resume on), stops at once. Either way the
    // process is gone by the deadline, whatever hangs.
    const drainMs = signal !== 'SIGINT' && config.redis.target ? config.drainSeconds * 1000 : 0;
    setTimeout(() => {
      console.error(`convene: not stopped ${STOP_DEADLINE_MS / 1000} s after the drain period: exiting`);
      process.exit(1);
    }, drainMs + STOP_DEADLINE_MS).unref();
    convene.drain(drainMs).then(
      () => {
        lock?.release();
        process.exit(0);
      },
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // `convene nodes drain <this node>`: as SIGTERM.
  convene.onDrainRequest(() => shutdown('drain request'));
}

// `node --import tsx src/main.ts [command]` works as `npm start -- [command]`: the commands live in
// cli.ts. Not awaited: for `serve`, cli.ts imports this module back, which must finish evaluating first.
if (isProgram(import.meta.url)) void import('./cli.ts').then((cli) => cli.runConvene(process.argv.slice(2)));
