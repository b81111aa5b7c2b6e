// The seam between an HTTP answer and the push of the command's events: the service holds a
// command's events until the promise given here settles, so a caller always reads its answer
// before the realtime message about it (spec §5.1; the shipped Web client relies on it).
import type { FastifyReply } from 'fastify';
import type { Delivery } from '../service/meeting.ts';

const answers = new WeakMap<FastifyReply, Promise<void>>();

/**
 * Settles once the whole answer has been written to the connection ('prefinish': every byte is
 * handed to the socket, in order before anything written later), or the exchange is over. Not
 * 'finish', which waits for the kernel to take the bytes: a caller that stops reading would then
 * hold back its room's messages.
 */
export function answerWritten(reply: FastifyReply): Promise<void> {
  let p = answers.get(reply);
  if (!p) {
    const res = reply.raw;
    p =
      res.writableEnded || res.destroyed
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            res.once('prefinish', resolve);
            res.once('close', resolve);
          });
    answers.set(reply, p);
  }
  return p;
}

/** Deliver a command's events after this request's answer. */
export function afterAnswer(reply: FastifyReply): Delivery {
  return { publishAfter: answerWritten(reply) };
}
