// Where the cluster's Redis is: one server by URL (REDIS_URL), a primary found through Sentinel
// (REDIS_SENTINELS + REDIS_SENTINEL_MASTER), which Convene follows to the promoted replica by itself,
// or a Redis Cluster through some of its nodes (REDIS_CLUSTER_NODES), whose slot map it follows.
import type { RedisOptions } from 'ioredis';

export type RedisTarget =
  | { kind: 'url'; url: string }
  | {
      kind: 'sentinel';
      sentinels: { host: string; port: number }[];
      /** The name the Sentinels monitor the primary under. */
      master: string;
      /** AUTH for the primary and replicas (REDIS_PASSWORD). */
      password?: string;
      /** AUTH for the Sentinels themselves (REDIS_SENTINEL_PASSWORD). */
      sentinelPassword?: string;
    }
  | {
      kind: 'cluster';
      /** Seed nodes: the client learns the others, and which holds which slot, from them. */
      nodes: { host: string; port: number }[];
      /** AUTH for every node (REDIS_PASSWORD). */
      password?: string;
    };

interface Reader {
  str(name: string): string | undefined;
  problems: string[];
}

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** The target from the environment, null for the embedded store; problems are pushed, never thrown. */
export function readRedisTarget({ str, problems }: Reader): RedisTarget | null {
  const url = str('REDIS_URL');
  const list = str('REDIS_SENTINELS');
  const master = str('REDIS_SENTINEL_MASTER');
  const clusterNodes = str('REDIS_CLUSTER_NODES');
  const given = [['REDIS_URL', url], ['REDIS_SENTINELS', list], ['REDIS_CLUSTER_NODES', clusterNodes]].filter(([, v]) => v !== undefined).map(([name]) => name);
  if (given.length > 1) {
    problems.push(`${given.join(' and ')}: set one of them (REDIS_URL: one server; REDIS_SENTINELS: a primary found through Sentinel; REDIS_CLUSTER_NODES: a Redis Cluster)`);
    return null;
  }
  if (url !== undefined) {
    if (!/^rediss?:\/\/\S+$/.test(url)) problems.push('REDIS_URL: must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379');
    return { kind: 'url', url };
  }
  if (clusterNodes !== undefined) {
    if (master !== undefined) problems.push('REDIS_SENTINEL_MASTER: only with REDIS_SENTINELS');
    const nodes = hostPorts('REDIS_CLUSTER_NODES', clusterNodes, '10.0.0.5:6379,10.0.0.6:6379,10.0.0.7:6379', problems);
    return nodes && { kind: 'cluster', nodes, password: str('REDIS_PASSWORD') };
  }
  if (list === undefined) {
    if (master !== undefined) problems.push('REDIS_SENTINEL_MASTER: set REDIS_SENTINELS too (host:port of each Sentinel, comma-separated)');
    return null;
  }
  const sentinels = hostPorts('REDIS_SENTINELS', list, '10.0.0.5:26379,10.0.0.6:26379,10.0.0.7:26379', problems);
  if (!sentinels) return null;
  if (master === undefined || !/^[A-Za-z0-9._-]{1,128}$/.test(master)) {
    problems.push('REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS, the name the Sentinels monitor (letters, digits, ".", "_", "-")');
    return null;
  }
  return { kind: 'sentinel', sentinels, master, password: str('REDIS_PASSWORD'), sentinelPassword: str('REDIS_SENTINEL_PASSWORD') };
}

/** A comma-separated host:port list; null (and a problem naming the item) if one is not. */
function hostPorts(name: string, list: string, example: string, problems: string[]): { host: string; port: number }[] | null {
  const out: { host: string; port: number }[] = [];
  for (const item of list.split(',').map((s) => s.trim())) {
    const m = HOST_PORT.exec(item);
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535) {
      problems.push(`${name}: "${item}" is not host:port (e.g. ${example})`);
      return null;
    }
    out.push({ host: m[1]!.replace(/^\[|\]$/g, ''), port });
  }
  return out;
}

/** The target as log lines and error messages show it: never a password. */
export function describeTarget(t: RedisTarget): string {
  if (t.kind === 'url') return `Redis at ${t.url.replace(/\/\/[^@/]*@/, '//***@')}`;
  if (t.kind === 'cluster') return `the Redis Cluster of ${t.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  return `the Redis primary "${t.master}" of Sentinels ${t.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
}

/** What ioredis needs to reach the target, beside the connection's common options. */
export function targetOptions(t: RedisTarget): RedisOptions {
  if (t.kind !== 'sentinel') return {};
  return {
    sentinels: t.sentinels,
    name: t.master,
    password: t.password,
    sentinelPassword: t.sentinelPassword,
    // Told by the Sentinels of a promotion (+switch-master) rather than waiting for the old primary's
    // connection to fail: a primary that is cut off but alive would otherwise keep the writes.
    failoverDetector: true,
    // A demoted primary answers writes with READONLY: ask the Sentinels again. The command that met
    // it fails (never re-sent: its outcome is known, nothing was written) and the caller retries.
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 1 : false),
    sentinelRetryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1000),
  };
}
