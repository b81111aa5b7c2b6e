// The whiteboard: a canvas showing the board's strokes, drawn with a pointer when allowed. Every
// change goes through the realtime socket; the server's echo (in boardSeq order) is the truth, a
// stroke being drawn is shown at once and replaced by its echo, or removed if refused.
import type { BoardMessage, BoardStroke } from '../../client/realtime.ts';
import { t } from '../lib/i18n.ts';

/** Points per stroke sent (the server takes at most 500); longer lines go as several strokes. */
const MAX_POINTS = 400;

export type BoardOp = { op: 'draw'; stroke: BoardStroke } | { op: 'erase'; strokeId: string } | { op: 'clear' };

export class Board {
  readonly canvas: HTMLCanvasElement;
  private strokes = new Map<string, BoardStroke>();
  private drawing: BoardStroke | null = null;
  canDraw = false;
  color = '#1f6feb';
  erasing = false;
  private seq = 0;

  constructor(private readonly send: (op: BoardOp) => boolean) {
    const c = document.createElement('canvas');
    c.width = 960;
    c.height = 540;
    c.className = 'board';
    c.setAttribute('role', 'img');
    this.canvas = c;
    c.addEventListener('pointerdown', (e) => this.down(e));
    c.addEventListener('pointermove', (e) => this.move(e));
    c.addEventListener('pointerup', () => this.up());
    c.addEventListener('pointercancel', () => this.up());
    this.label();
  }

  get count(): number {
    return this.strokes.size;
  }

  /** A snapshot page: page 0 (or an unpaged snapshot) replaces the board, later pages add to it. */
  snapshot(strokes: BoardStroke[], page?: { index: number }): void {
    if (!page || page.index === 0) this.strokes.clear();
    for (const s of strokes) this.strokes.set(s.id, s);
    this.paint();
  }

  apply(m: BoardMessage): void {
    const d = m.data;
    if (d.op === 'draw') this.strokes.set(d.stroke.id, d.stroke);
    else if (d.op === 'erase') this.strokes.delete(d.strokeId);
    else this.strokes.clear();
    this.paint();
  }

  /** A stroke of ours was refused: take it off. */
  refused(ref: string | undefined): void {
    if (ref && this.strokes.delete(ref)) this.paint();
  }

  clear(): void {
    this.send({ op: 'clear' });
  }

  private at(e: PointerEvent): [number, number] {
    const r = this.canvas.getBoundingClientRect();
    const f = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 10_000) / 10_000;
    return [f((e.clientX - r.left) / r.width), f((e.clientY - r.top) / r.height)];
  }

  private down(e: PointerEvent): void {
    if (!this.canDraw) return;
    e.preventDefault();
    if (this.erasing) {
      const hit = this.hit(this.at(e));
      if (hit) this.send({ op: 'erase', strokeId: hit });
      return;
    }
    this.canvas.setPointerCapture?.(e.pointerId);
    this.drawing = { id: this.newId(), color: this.color, width: 3, points: [this.at(e)] };
  }

  private move(e: PointerEvent): void {
    const s = this.drawing;
    if (!s) return;
    s.points.push(this.at(e));
    if (s.points.length >= MAX_POINTS) {
      // Send this part and go on with a new stroke from its last point.
      const last = s.points[s.points.length - 1]!;
      this.commit(s);
      this.drawing = { id: this.newId(), color: s.color, width: s.width, points: [last] };
    } else this.paint();
  }

  private up(): void {
    const s = this.drawing;
    this.drawing = null;
    if (s) this.commit(s);
  }

  private commit(s: BoardStroke): void {
    if (s.points.length === 1) s.points.push([s.points[0]![0], s.points[0]![1]]);
    this.strokes.set(s.id, s);
    if (!this.send({ op: 'draw', stroke: s })) this.strokes.delete(s.id);
    this.paint();
  }

  private newId(): string {
    return `${Date.now().toString(36)}${(this.seq++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  }

  /** The stroke passing nearest to the point, within a few pixels. */
  private hit([x, y]: [number, number]): string | null {
    const { width: w, height: h } = this.canvas;
    let best: string | null = null;
    let bestD = 12;
    for (const s of this.strokes.values()) {
      for (const [px, py] of s.points) {
        const d = Math.hypot((px - x) * w, (py - y) * h);
        if (d < bestD) {
          bestD = d;
          best = s.id;
        }
      }
    }
    return best;
  }

  label(): void {
    const n = this.strokes.size;
    this.canvas.setAttribute('aria-label', n === 1 ? t('boardStroke') : t('boardStrokes', { n }));
    this.canvas.dataset.strokes = String(n);
    this.canvas.classList.toggle('can-draw', this.canDraw);
    this.canvas.classList.toggle('erasing', this.erasing);
  }

  paint(): void {
    const ctx = this.canvas.getContext('2d');
    if (ctx) {
      const { width: w, height: h } = this.canvas;
      ctx.fillStyle = '#ffffff';
      ctx.fillRect(0, 0, w, h);
      ctx.lineCap = 'round';
      ctx.lineJoin = 'round';
      const all = this.drawing ? [...this.strokes.values(), this.drawing] : this.strokes.values();
      for (const s of all) {
        ctx.strokeStyle = /^#[0-9a-f]{6}$/i.test(s.color) ? s.color : '#000000';
        ctx.lineWidth = s.width;
        ctx.beginPath();
        s.points.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(x * w, y * h) : ctx.lineTo(x * w, y * h)));
        ctx.stroke();
      }
    }
    this.label();
  }
}
