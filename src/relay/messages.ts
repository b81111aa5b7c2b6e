// What the RTM relay sends for a commit: every channel and peer message the socket pushes, as the
// body of one call to Agora's RTM RESTful API each, with the v1 envelope the apps parse as its
// payload. The rows go into the commit's outbox (lane `rtm` of the room), so that they leave in seq
// order, exactly once, even when the node that committed them dies.
import type { LoggedEvent } from '../domain/events.ts';
import { findMember, type Room } from '../domain/room.ts';
import { agoraMessage } from '../http/conf/views.ts';
import type { OutboxRow } from '../store/store.ts';

/** The outbox endpoint of the relay: one lane per room, beside the app's webhook endpoints (`wh_…`). */
export const RTM_ENDPOINT = 'rtm';

/** Agora's limit on an RTM message's payload, in bytes of UTF-8. */
export const MAX_PAYLOAD_BYTES = 32 * 1024;

export type RtmKind = 'channel' | 'peer';

/** A row's id says which call it is: `rtm_c_…` a channel message, `rtm_p_…` a peer message. */
export function rtmRowId(kind: RtmKind, roomId: string, seq: number, idx: number): string {
  return `rtm_${kind === 'channel' ? 'c' : 'p'}_${roomId}_${seq}_${idx}`;
}

export function kindOfRow(id: string): RtmKind {
  return id.startsWith('rtm_p_') ? 'peer' : 'channel';
}

/** The v1 envelope as the apps parse it: no `type`, no `seq` (those are Convene's socket's). */
function envelope(cmd: number, timestamp: number, data: unknown): string {
  return JSON.stringify({ cmd, version: 1, timestamp, data });
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/**
 * A cmd 2 whose list does not fit one payload, as several in order: each with the same `total`
 * and a run of the list, as many members as fit. Null when one member alone does not fit.
 */
export function splitMembers(timestamp: number, total: number, list: unknown[]): string[] | null {
  // The envelope up to the list's `[`, and what closes it: each part is head + items + tail.
  const head = envelope(2, timestamp, { total, list: [] }).slice(0, -3);
  const tail = ']}}';
  const room = MAX_PAYLOAD_BYTES - bytes(head) - bytes(tail);
  const out: string[] = [];
  let run: string[] = [];
  let size = 0;
  for (const m of list) {
    const item = JSON.stringify(m);
    const n = bytes(item);
    if (n > room) return null;
    // A comma before every item but a part's first.
    if (run.length > 0 && size + 1 + n > room) {
      out.push(head + run.join(',') + tail);
      run = [];
      size = 0;
    }
    size += (run.length > 0 ? 1 : 0) + n;
    run.push(item);
  }
  if (run.length > 0 || out.length === 0) out.push(head + run.join(',') + tail);
  return out;
}

export interface RelayRowsOptions {
  /** A message that does not fit Agora's limit and cannot be split: it stays on the socket only. */
  tooLarge?: (what: { roomId: string; seq: number; cmd: number; bytes: number }) => void;
}

/** The relay's rows of one commit, in (seq, idx) order: the sender is chosen when sending. */
export function relayRows(room: Room, logged: LoggedEvent[], opts: RelayRowsOptions = {}): OutboxRow[] {
  const rows: OutboxRow[] = [];
  for (const e of logged) {
    // The hand queue is Convene's own: the apps have no use for it, and a list meant for the hosts
    // must not go to the whole RTM channel.
    if (e.event.type === 'handsChanged') continue;
    // So are breakout rooms (cmd 120-123 on Convene's socket only).
    if (e.event.type === 'breakoutsChanged' || e.event.type === 'breakoutChanged' || e.event.type === 'breakoutsMessage') continue;
    const m = agoraMessage(e.event);
    if (m.type === 'server') continue;
    let payloads: string[] | null;
    if (m.type === 'channel' && m.cmd === 2) {
      const d = m.data as { total: number; list: unknown[] };
      const whole = envelope(2, e.at, d);
      payloads = bytes(whole) <= MAX_PAYLOAD_BYTES ? [whole] : splitMembers(e.at, d.total, d.list);
    } else {
      const whole = envelope(m.cmd, e.at, m.data);
      payloads = bytes(whole) <= MAX_PAYLOAD_BYTES ? [whole] : null;
    }
    if (payloads === null) {
      opts.tooLarge?.({ roomId: room.roomId, seq: e.seq, cmd: m.cmd, bytes: bytes(envelope(m.cmd, e.at, m.data)) });
      continue;
    }
    if (m.type === 'channel') {
      payloads.forEach((payload, idx) => {
        const body = JSON.stringify({ channel_name: room.channelName, enable_historical_messaging: false, payload });
        rows.push({ endpointId: RTM_ENDPOINT, id: rtmRowId('channel', room.roomId, e.seq, idx), seq: e.seq, idx, payload: body });
      });
      continue;
    }
    // A peer message goes to each recipient's RTM login, String(uid).
    const to = 'to' in e.event ? e.event.to : null;
    const recipients = typeof to === 'string' ? [to] : (to ?? []);
    let idx = 0;
    for (const userId of recipients) {
      const member = findMember(room, userId);
      if (!member) continue;
      const body = JSON.stringify({ destination: String(member.uid), enable_offline_messaging: false, enable_historical_messaging: false, payload: payloads[0] });
      rows.push({ endpointId: RTM_ENDPOINT, id: rtmRowId('peer', room.roomId, e.seq, idx), seq: e.seq, idx: idx++, payload: body });
    }
  }
  return rows;
}

/** The envelope a row carries, for the relay's lag (commit → accepted) and for checks. */
export function payloadOf(body: string): { text: string; timestamp: number } {
  const text = (JSON.parse(body) as { payload: string }).payload;
  return { text, timestamp: (JSON.parse(text) as { timestamp: number }).timestamp };
}
