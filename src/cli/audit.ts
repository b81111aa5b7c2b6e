// `convene rooms audit`: a meeting's audit log (domain/audit.ts), the moderators' actions in order,
// read from the store: a running meeting's, or an ended one's until its retention has passed.
import { AUDIT_ACTIONS, type AuditAction, type AuditEntry } from '../domain/audit.ts';
import { readAudit } from '../service/audit.ts';
import { UsageError, type Command } from './command.ts';
import { meetingOf } from './lookup.ts';

function who(e: AuditEntry): string {
  return e.actor.kind === 'server' ? `server (${e.actor.by})` : `${e.actor.role} ${e.actor.userUuid} ${JSON.stringify(e.actor.userName)}`;
}

const values = (o: Record<string, unknown>) => Object.entries(o).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ');

export const auditCommand: Command = {
  words: ['rooms', 'audit'],
  args: 'APP_ID ROOM',
  summary: "print a meeting's audit log: who moderated what, when (--jsonl to export)",
  help: `Prints a meeting's audit log, oldest first, one line each: #n, time, action, who did it (a member
with its role then, or the server with the access key that asked, or cli), on whom, and what was
before and after. The log holds every moderator action — a host muting, disabling chat, sharing or
stopping for another member, kicking (and banning), passing the host role, muting all, locking,
setting metadata, ending — and the server's own (server API, this CLI); never a member's doings
of its own. ROOM is the meeting's roomUuid (its running meeting) or its roomId (also a meeting that
has ended: the log is kept until its retention has passed).

--action keeps one action (${AUDIT_ACTIONS.join(', ')}); --actor one actor (a member's userId or
userUuid, key:<AccessKey>, or cli). --json prints one JSON array, --jsonl one JSON object a line
(an export). Exit 1 when there is no such meeting.`,
  options: [
    { name: 'action', value: 'ACTION', help: 'only this action' },
    { name: 'actor', value: 'ACTOR', help: "only this actor's" },
    { name: 'json', help: 'one JSON array' },
    { name: 'jsonl', help: 'one JSON object a line' },
  ],
  store: 'existing',
  async run(ctx) {
    const room = await meetingOf(ctx, ctx.args[0]!, ctx.args[1]!);
    const action = ctx.option('action');
    const actor = ctx.option('actor');
    if (action !== undefined && !AUDIT_ACTIONS.includes(action as AuditAction)) throw new UsageError(`--action must be one of ${AUDIT_ACTIONS.join(', ')}`);
    const { entries } = await readAudit(ctx.store, room.roomId, {
      action: typeof action === 'string' ? (action as AuditAction) : undefined,
      actor: typeof actor === 'string' ? actor : undefined,
      offset: 0,
      limit: Number.MAX_SAFE_INTEGER,
    });
    if (ctx.option('json')) return ctx.printJson(entries, true);
    if (ctx.option('jsonl')) return entries.forEach((e) => ctx.printJson(e));
    for (const e of entries) {
      const on = e.target ? ` on ${e.target.userUuid} ${JSON.stringify(e.target.userName)}` : '';
      ctx.print(`#${e.n}  ${new Date(e.at).toISOString()}  ${e.action}  by ${who(e)}${on}: ${values(e.before)} → ${values(e.after)}`);
    }
  },
};
