// Convene's node calls on the server API (docs/qiniu-api.md §4.7): the deployment's nodes and a drain
// request, as `convene nodes ls` and `convene nodes drain` give them to whoever reaches Redis.
// DECISION: they operate the deployment, not an app, so they answer only keys granted that on purpose
// (`convene keys create --operator`); the keys of the apps' backends get 403. Registered inside the
// Qiniu plugin: its signature check, rate limits and errors apply.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { NodeOperations } from '../../ops/nodes.ts';
import type { HttpDeps } from '../server.ts';
import { QiniuError } from './errors.ts';
import { qiniuAnswers, SIGNED } from './schemas.ts';

const NodeParams = Type.Object({
  nodeId: Type.String({ maxLength: 100, 'x-expect': 'a node id (see GET /v3/nodes)', description: 'a node id, as GET /v3/nodes lists it' }),
});

const NodeList = Type.Object({
  self: Type.String({ description: 'the node that answered' }),
  nodes: Type.Array(
    Type.Object({
      nodeId: Type.String({ description: 'host-pid-random, as in its logs' }),
      silentMs: Type.Integer({ description: 'since its last heartbeat, ms (a node silent longer than CONVENE_NODE_TIMEOUT is taken for dead)' }),
    }),
    { description: 'the nodes alive, the most recently heard first' },
  ),
});

const CALLS = {
  list: {
    summary: 'Nodes (Convene, operator keys): the nodes of the deployment',
    response: qiniuAnswers(NodeList, [400, ...SIGNED, 403]),
  },
  drain: {
    summary: 'Drain a node (Convene, operator keys): as on SIGTERM, then it exits',
    description:
      'The node answers not ready at once, ends its realtime sockets (1012) in batches over CONVENE_DRAIN_SECONDS so that their members resume on the other nodes, hands back its webhook and relay lanes, and exits 0. Any node takes the request.',
    params: NodeParams,
    response: qiniuAnswers(Type.Object({ draining: Type.String({ description: 'the node asked' }) }), [400, ...SIGNED, 403, 612]),
  },
};

export interface NodeRouteTools {
  deps: HttpDeps;
  nodes: NodeOperations;
  ok: (req: FastifyRequest, reply: FastifyReply, data: unknown) => FastifyReply;
}

export function registerNodeRoutes(app: FastifyInstance, { deps, nodes, ok }: NodeRouteTools): void {
  /** The signature is verified by now: the key must also be an operator's. */
  const operator = async (req: FastifyRequest) => {
    const key = req.accessKey === undefined ? null : await deps.apps.accessKey(req.accessKey);
    if (!key?.operator) {
      throw new QiniuError(403, 'operator key required', 'this call operates the deployment, not an app: sign it with an operator key (convene keys create --operator)');
    }
  };

  app.get('/nodes', { schema: CALLS.list }, async (req, reply) => {
    await operator(req);
    return ok(req, reply, { self: nodes.self, nodes: await nodes.list() });
  });

  app.post<{ Params: { nodeId: string } }>('/nodes/:nodeId/drain', { schema: CALLS.drain }, async (req, reply) => {
    await operator(req);
    const { nodeId } = req.params;
    if (!(await nodes.drain(nodeId))) throw new QiniuError(612, 'node not found', `no node ${nodeId} is alive: see GET /v3/nodes`);
    req.log.info({ node: nodeId, accessKey: req.accessKey }, 'drain requested');
    return ok(req, reply, { draining: nodeId });
  });
}
