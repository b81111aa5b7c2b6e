// Reading a meeting's audit log with filters (the server API, the CLI, the console): a log holds
// the moderators' actions of one meeting (tens, hundreds), so it is read whole, page by page from
// the store, and filtered here.
import type { AuditAction, AuditEntry } from '../domain/audit.ts';
import type { RoomStore } from '../store/store.ts';

export interface AuditQuery {
  /** Only this action. */
  action?: AuditAction;
  /** Only this actor: a member's userId or userUuid, or a server caller (`key:<AK>`, `cli`). */
  actor?: string;
  offset: number;
  limit: number;
}

/** What the store is asked for at once. */
const STORE_PAGE = 500;

export function actedBy(e: AuditEntry, actor: string): boolean {
  return e.actor.kind === 'server' ? e.actor.by === actor : e.actor.userId === actor || e.actor.userUuid === actor;
}

export async function readAudit(store: Pick<RoomStore, 'auditLog'>, roomId: string, q: AuditQuery): Promise<{ entries: AuditEntry[]; total: number }> {
  const matching: AuditEntry[] = [];
  for (let after = 0; ; ) {
    const page = await store.auditLog(roomId, after, STORE_PAGE);
    for (const e of page) if ((q.action === undefined || e.action === q.action) && (q.actor === undefined || actedBy(e, q.actor))) matching.push(e);
    if (page.length < STORE_PAGE) break;
    after = page[page.length - 1]!.n;
  }
  return { entries: matching.slice(q.offset, q.offset + q.limit), total: matching.length };
}
