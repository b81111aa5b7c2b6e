// What a member may send to the board over the realtime socket, checked before anything else sees
// it: a frame is parsed into one board op or refused with the code and message the sender gets back.
// Pure: no I/O.

/** A stroke as members send it and as the board keeps it. */
export interface Stroke {
  id: string;
  color: string;
  width: number;
  /** [x, y] as fractions of the board's width and height. */
  points: [number, number][];
}

/** A stroke on the board, with the member who drew it. */
export interface DrawnStroke extends Stroke {
  by: string;
}

export type BoardOp = { op: 'draw'; stroke: Stroke } | { op: 'erase'; strokeId: string } | { op: 'clear' };

/** A refusal: 400 malformed, 403 not allowed, 413 too large or board full, 429 over the rate, 503 try later. */
export interface BoardRefusal {
  code: 400 | 403 | 413 | 429 | 503;
  msg: string;
}

export type ParsedFrame = { ok: true; ref?: string; op: BoardOp } | { ok: false; ref?: string; refusal: BoardRefusal };

export const MAX_POINTS = 500;
export const MAX_REF = 40;
const ID = /^[A-Za-z0-9_-]{1,40}$/;
const COLOR = /^#[0-9a-fA-F]{6}$/;
const TOP_KEYS: Record<BoardOp['op'], readonly string[]> = {
  draw: ['type', 'op', 'ref', 'stroke'],
  erase: ['type', 'op', 'ref', 'strokeId'],
  clear: ['type', 'op', 'ref'],
};
const STROKE_KEYS = ['id', 'color', 'width', 'points'];

const bad = (msg: string, ref?: string): ParsedFrame => ({ ok: false, ref, refusal: { code: 400, msg } });

/** One inbound text frame → a board op, or why not. */
export function parseBoardFrame(text: string): ParsedFrame {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return bad('not JSON: send {"type":"board","op":"draw"|"erase"|"clear",…}');
  }
  if (!isObject(m)) return bad('a message is a JSON object: {"type":"board","op":…}');
  // The ref is echoed on a refusal only when it is one: a bad ref is not sent back.
  const ref = typeof m.ref === 'string' && m.ref.length <= MAX_REF ? m.ref : undefined;
  if (m.type !== 'board') return bad('unknown message type: the only message a client sends is {"type":"board",…}', ref);
  if (m.ref !== undefined && ref === undefined) return bad(`ref must be a string of at most ${MAX_REF} characters`);
  if (m.op !== 'draw' && m.op !== 'erase' && m.op !== 'clear') return bad('op must be "draw", "erase" or "clear"', ref);
  const extra = Object.keys(m).find((k) => !TOP_KEYS[m.op as BoardOp['op']].includes(k));
  if (extra !== undefined) return bad(`unknown field ${JSON.stringify(extra.slice(0, 40))} in a ${m.op} message`, ref);
  if (m.op === 'clear') return { ok: true, ref, op: { op: 'clear' } };
  if (m.op === 'erase') {
    if (typeof m.strokeId !== 'string' || !ID.test(m.strokeId)) return bad('strokeId must be 1 to 40 characters of A-Z a-z 0-9 _ -', ref);
    return { ok: true, ref, op: { op: 'erase', strokeId: m.strokeId } };
  }
  const s = m.stroke;
  if (!isObject(s)) return bad('stroke must be an object {id, color, width, points}', ref);
  const extraS = Object.keys(s).find((k) => !STROKE_KEYS.includes(k));
  if (extraS !== undefined) return bad(`unknown field ${JSON.stringify(extraS.slice(0, 40))} in stroke`, ref);
  if (typeof s.id !== 'string' || !ID.test(s.id)) return bad('stroke.id must be 1 to 40 characters of A-Z a-z 0-9 _ -', ref);
  if (typeof s.color !== 'string' || !COLOR.test(s.color)) return bad('stroke.color must be #rrggbb', ref);
  if (typeof s.width !== 'number' || !(s.width >= 1 && s.width <= 50)) return bad('stroke.width must be a number from 1 to 50', ref);
  if (!Array.isArray(s.points) || s.points.length === 0) return bad('stroke.points must be a non-empty array of [x, y]', ref);
  if (s.points.length > MAX_POINTS) return { ok: false, ref, refusal: { code: 413, msg: `a stroke has at most ${MAX_POINTS} points: split it` } };
  const points: [number, number][] = [];
  for (const p of s.points) {
    if (!Array.isArray(p) || p.length !== 2 || !unit(p[0]) || !unit(p[1])) {
      return bad('each point is [x, y] with x and y numbers from 0 to 1 (fractions of the board)', ref);
    }
    points.push([round(p[0]), round(p[1])]);
  }
  return { ok: true, ref, op: { op: 'draw', stroke: { id: s.id, color: s.color, width: s.width, points } } };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function unit(v: unknown): v is number {
  return typeof v === 'number' && v >= 0 && v <= 1;
}

/** A 10,000th of the board (under half a pixel on a 4K screen): a full board stays a few MB. */
function round(v: number): number {
  return Math.round(v * 10_000) / 10_000;
}
