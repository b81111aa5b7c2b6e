// The nodes of a cluster as an operator sees them (`convene nodes ls`, `convene nodes drain`): who
// is alive, by its presence heartbeat in Redis, and a drain request carried to one node over a
// control channel every node listens on. The node drains itself as on SIGTERM, then exits.
import type { RedisClient } from '../store/redis/connection.ts';
import type { RedisBusKind } from '../bus/redis.ts';

export interface ControlMessage {
  /** The id of the node asked to drain itself. */
  drain: string;
}

export const CONTROL: RedisBusKind<ControlMessage> = {
  channel: 'control',
  broadcast: true,
  valid: (m): m is ControlMessage => typeof m === 'object' && m !== null && typeof (m as { drain?: unknown }).drain === 'string',
};

export interface NodeBeat {
  nodeId: string;
  /** How long ago (ms, by Redis's clock) its last heartbeat was recorded. */
  silentMs: number;
}

/** The deployment's nodes as the server API offers them to operator keys (http/qiniu/nodes.ts). */
export interface NodeOperations {
  /** The node answering. */
  readonly self: string;
  /** The nodes alive, the most recently heard first. */
  list(): Promise<NodeBeat[]>;
  /** Asks node `nodeId` to drain itself, as on SIGTERM; false when no such node is alive. */
  drain(nodeId: string): Promise<boolean>;
}

/**
 * The nodes with a heartbeat in Redis, the most recent first. presence/redis.ts records them in each
 * slice: `prefix` is the first slice's (the deployment's prefix on a single Redis).
 */
export async function listNodes(redis: RedisClient, prefix: string): Promise<NodeBeat[]> {
  const [beats, time] = await Promise.all([redis.zrevrange(`${prefix}presence:nodes`, 0, -1, 'WITHSCORES'), redis.time()]);
  const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
  const nodes: NodeBeat[] = [];
  for (let i = 0; i < beats.length; i += 2) nodes.push({ nodeId: beats[i]!, silentMs: Math.max(0, now - Number(beats[i + 1])) });
  return nodes;
}

/**
 * Asks node `nodeId` to drain; resolves with the number of nodes listening (the message reaches
 * all, and the named one acts). In the wire form of RedisBus.publish, from no node.
 */
export async function requestDrain(redis: RedisClient, prefix: string, nodeId: string): Promise<number> {
  const wire = { n: 'convene-cli', r: '', e: { drain: nodeId } satisfies ControlMessage };
  return redis.publish(`${prefix}${CONTROL.channel}`, JSON.stringify(wire));
}
