// What a member may send to another member of its room to set up the page's WebRTC media: an
// opaque signal (an SDP offer or answer, an ICE candidate, a request for an offer) addressed to one
// member. Parsed and checked here before anything else sees it. Pure: no I/O.
import { findMember, onlineCount, type Room } from '../domain/room.ts';

/** A frame larger than this is refused (413): a Chrome offer with three media sections is ~12 KB. */
export const SIGNAL_MAX_BYTES = 32 * 1024;
/** Largest frame a media socket may send at all (ws closes the socket with 1009 beyond it). */
export const MEDIA_MAX_PAYLOAD = 64 * 1024;
const MAX_REF = 40;
const KEYS = new Set(['type', 'to', 'ref', 'signal']);

export interface Signal {
  to: string;
  ref?: string;
  signal: Record<string, unknown>;
}

/** A refusal: 400 malformed, 403 not allowed, 404 no such member here, 413 too large, 429 over the rate, 503 try later. */
export interface SignalRefusal {
  code: 400 | 403 | 404 | 413 | 429 | 503;
  msg: string;
}

export type ParsedSignal = { ok: true; signal: Signal } | { ok: false; ref?: string; refusal: SignalRefusal };

const bad = (msg: string, ref?: string): ParsedSignal => ({ ok: false, ref, refusal: { code: 400, msg } });

/** One parsed message of `bytes` bytes whose type is "signal" → a signal, or why not. */
export function parseSignal(m: Record<string, unknown>, bytes: number): ParsedSignal {
  const ref = typeof m.ref === 'string' && m.ref.length <= MAX_REF ? m.ref : undefined;
  if (bytes > SIGNAL_MAX_BYTES) return { ok: false, ref, refusal: { code: 413, msg: `a signal is at most ${SIGNAL_MAX_BYTES} bytes` } };
  if (m.ref !== undefined && ref === undefined) return bad(`ref must be a string of at most ${MAX_REF} characters`);
  const extra = Object.keys(m).find((k) => !KEYS.has(k));
  if (extra !== undefined) return bad(`unknown field ${JSON.stringify(extra.slice(0, 40))} in a signal: {"type":"signal","to":…,"signal":{…}}`, ref);
  if (typeof m.to !== 'string' || m.to.length === 0 || m.to.length > 128) return bad('to must be the userId of a member of this room', ref);
  const s = m.signal;
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return bad('signal must be an object (an offer, an answer, a candidate…)', ref);
  return { ok: true, signal: { to: m.to, ref, signal: s as Record<string, unknown> } };
}

/**
 * Why `from` (whose socket opened with session `session`) may not signal `to` in `room` now; null:
 * it may. Checked against the room as it is at each message, so a member that left, was removed
 * or replaced stops at once, and only members of this room can be reached.
 */
export function whyNotSignal(room: Room | null, from: { userId: string; session: string }, to: string, meshMax: number): SignalRefusal | null {
  if (!room || room.ended) return { code: 403, msg: 'the meeting has ended' };
  const me = findMember(room, from.userId);
  if (!me || !me.present || me.session !== from.session) return { code: 403, msg: 'you are no longer in this room' };
  if (to === from.userId) return { code: 400, msg: 'a member does not signal itself' };
  const peer = findMember(room, to);
  if (!peer || !peer.present) return { code: 404, msg: `no member ${JSON.stringify(to.slice(0, 40))} in this room` };
  const n = onlineCount(room);
  if (n > meshMax) {
    return { code: 403, msg: `this room has ${n} members: the built-in media connects at most ${meshMax} (CONVENE_WEB_MESH_MAX); larger rooms need an RTC service` };
  }
  return null;
}
