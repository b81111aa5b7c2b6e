// What Convene's own room routes (the hand queue, the lobby, metadata) are given by the Agora plugin
// that registers them (routes.ts), which owns who the caller is and how a command is run.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EntryPolicy, RoomCommand } from '../../domain/commands.ts';
import type { Decision } from '../../domain/rules.ts';
import type { Session } from '../../service/meeting.ts';

export interface ExtensionHelpers {
  session(req: FastifyRequest): Session;
  /** The caller's app's entry rules (an admission from the lobby is an entry). */
  policy(req: FastifyRequest): EntryPolicy;
  /** Runs a command; its messages are pushed once the answer is written. */
  execute(req: FastifyRequest, reply: FastifyReply, cmd: RoomCommand): Promise<Decision>;
  /** Refuses a member over the requests rate (1011). */
  limited(req: FastifyRequest, reply: FastifyReply): Promise<void>;
}
