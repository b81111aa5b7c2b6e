// `convene nodes …`: the nodes of a cluster as their heartbeats in Redis show them, and draining one of them for a restart or an upgrade, from any machine that
// reaches the cluster's Redis.
import type { Config } from '../config.ts';
import { OperationalError } from '../ops/errors.ts';
import { openRedis, slicesOf } from '../ops/store.ts';
import { listNodes, requestDrain } from '../ops/nodes.ts';
import { JSON_OPTION, Refused, type Command } from './command.ts';

async function clusterRedis(config: Config) {
  if (!config.redis.target) throw new OperationalError('nodes: only a cluster has nodes: set REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES (and CONVENE_REDIS_PREFIX) as on the servers');
  return openRedis(config);
}

export const nodeCommands: Command[] = [
  {
    words: ['nodes', 'ls'],
    args: '',
    summary: 'list the nodes of the cluster and how long since each was heard from',
    help: `Lists the nodes with a heartbeat in Redis, one line each: node id (host-pid-random, as in their
logs), seconds since its last heartbeat (a node silent longer than CONVENE_NODE_TIMEOUT is taken
for dead). With --json: an array of {"nodeId","silentMs"}.`,
    options: [JSON_OPTION],
    store: 'none',
    async run(ctx) {
      const redis = await clusterRedis(ctx.config);
      try {
        const nodes = await listNodes(redis, slicesOf(ctx.config).prefixes[0]!);
        if (ctx.option('json')) return ctx.printJson(nodes, true);
        for (const n of nodes) ctx.print(`${n.nodeId}  last heard ${(n.silentMs / 1000).toFixed(1)} s ago`);
      } finally {
        redis.disconnect();
      }
    },
  },
  {
    words: ['nodes', 'drain'],
    args: 'NODE',
    summary: 'ask a node to drain (as on SIGTERM) and exit',
    help: `Asks the node NODE (an id from nodes ls) to drain as on SIGTERM: it answers not ready at once, ends
its realtime sockets (1012) in batches over CONVENE_DRAIN_SECONDS so that their members resume on the
other nodes, hands back its webhook and relay lanes, and exits 0. Exit 1 when no such node is alive.`,
    store: 'none',
    async run(ctx) {
      const nodeId = ctx.args[0]!;
      const redis = await clusterRedis(ctx.config);
      try {
        const nodes = await listNodes(redis, slicesOf(ctx.config).prefixes[0]!);
        if (!nodes.some((n) => n.nodeId === nodeId)) throw new Refused(`no node ${nodeId} is alive: see nodes ls`);
        await requestDrain(redis, ctx.config.redis.prefix, nodeId);
        ctx.print(`asked ${nodeId} to drain`);
      } finally {
        redis.disconnect();
      }
    },
  },
];
