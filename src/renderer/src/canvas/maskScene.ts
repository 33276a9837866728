// Everything the canvas draws for masks, kept as bitmaps: one low-resolution sprite per mask, all of them
// composited into one overview sprite (drawn with one drawImage per layer when zoomed out), and full-resolution
// sprites built lazily for the masks in view when zoomed in. Masks are re-decoded only when their RLE or
// colour changes; the fill's opacity and outline-only display apply at drawing time.
import { bbox as rleBbox, fromCompressedString, type Rle } from '../../../shared/masks';
import { DEFAULT_MASK_STYLE, drawSprite, hexToRgb, makeSprite, rleContains, type MaskStyle, type Sprite } from './sprites';
import type { View } from './view';

export interface SceneMask {
  id: number;
  counts: string;
  color: string;
  visible: boolean;
}

interface Entry {
  id: number;
  counts: string;
  color: string;
  rle: Rle;
  bbox: readonly number[];
  low: Sprite | null;
  full: Sprite | null | undefined; // undefined: not built yet
}

/** Longest side of the overview bitmap; the step is the power of two that keeps it under this. */
const OVERVIEW_EDGE = 2048;
/** Budget for building full-resolution sprites within one frame; the rest follow in the next frames. */
const BUILD_BUDGET_MS = 8;

export class MaskScene {
  readonly step: number;
  private entries = new Map<number, Entry>();
  private order: Entry[] = [];
  /** The visible masks' low-resolution sprites composited, each layer on its own (one image pixel = 1/step). */
  private overview: Sprite;
  private overviewDirty = true;
  /** How masks are shown; changing it costs one redraw. */
  style: MaskStyle = DEFAULT_MASK_STYLE;
  /** Called when a draw left work for later (sprites still to build). */
  onNeedsRedraw: () => void = () => {};
  lastDrawMs = 0;
  /** Time the last setMasks took (decoding and tinting changed masks): reported by the benchmark. */
  lastSetMasksMs = 0;

  constructor(readonly width: number, readonly height: number) {
    let step = 1;
    while (Math.max(width, height) / step > OVERVIEW_EDGE) step *= 2;
    this.step = step;
    const layer = () => {
      const c = document.createElement('canvas');
      c.width = Math.ceil(width / step);
      c.height = Math.ceil(height / step);
      return c;
    };
    this.overview = { fill: layer(), edge: layer(), x: 0, y: 0, step };
  }

  /** Replaces the mask list (drawing order = list order); re-decodes only masks whose RLE or colour changed. */
  setMasks(list: readonly SceneMask[]): void {
    const t0 = performance.now();
    const next = new Map<number, Entry>();
    const order: Entry[] = [];
    for (const m of list) {
      let e = this.entries.get(m.id);
      if (!e || e.counts !== m.counts || e.color !== m.color) {
        const rle = e && e.counts === m.counts ? e.rle : fromCompressedString(m.counts, this.height, this.width);
        // The box comes from the runs themselves: an optimistic local edit may carry a stale bbox.
        const box = e && e.counts === m.counts ? e.bbox : rleBbox(rle);
        const low = makeSprite(rle, box, this.step, hexToRgb(m.color));
        e = { id: m.id, counts: m.counts, color: m.color, rle, bbox: box, low, full: this.step === 1 ? low : undefined };
      }
      next.set(m.id, e); // hidden masks keep their sprites, so showing them again costs nothing
      if (m.visible) order.push(e);
    }
    if (order.length !== this.order.length || order.some((e, i) => e !== this.order[i])) this.overviewDirty = true;
    this.entries = next;
    this.order = order;
    this.lastSetMasksMs = performance.now() - t0;
  }

  rle(id: number): Rle | undefined {
    return this.entries.get(id)?.rle;
  }

  /** The topmost visible mask at image pixel (x, y), skipping `skip` (locked masks). */
  hitTest(x: number, y: number, skip?: (id: number) => boolean): number | null {
    const px = Math.floor(x), py = Math.floor(y);
    for (let i = this.order.length - 1; i >= 0; i--) {
      const e = this.order[i]!;
      const [bx, by, bw, bh] = e.bbox as [number, number, number, number];
      if (px < bx || py < by || px >= bx + bw || py >= by + bh) continue;
      if (skip?.(e.id)) continue;
      if (rleContains(e.rle, px, py)) return e.id;
    }
    return null;
  }

  private rebuildOverview(): void {
    for (const layer of ['fill', 'edge'] as const) {
      const ctx = this.overview[layer].getContext('2d')!;
      ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
      for (const e of this.order) if (e.low) ctx.drawImage(e.low[layer], e.low.x / this.step, e.low.y / this.step);
    }
    this.overviewDirty = false;
  }

  private fullSprite(e: Entry): Sprite | null {
    if (e.full === undefined) e.full = makeSprite(e.rle, e.bbox, 1, hexToRgb(e.color));
    return e.full;
  }

  /**
   * Draws the masks in image coordinates (the context already carries the view transform).
   * `highlight` masks are drawn once more on top (hover, selection), so they stand out.
   */
  draw(ctx: CanvasRenderingContext2D, view: View, vw: number, vh: number, highlight: readonly number[]): void {
    const t0 = performance.now();
    const smooth = ctx.imageSmoothingEnabled;
    ctx.imageSmoothingEnabled = false; // mask cells are exact: show them as blocks, not blurred
    const x0 = -view.x / view.scale, y0 = -view.y / view.scale;
    const x1 = (vw - view.x) / view.scale, y1 = (vh - view.y) / view.scale;
    const inView = (e: Entry) => {
      const [bx, by, bw, bh] = e.bbox as [number, number, number, number];
      return bx < x1 && by < y1 && bx + bw > x0 && by + bh > y0;
    };
    // Zoomed out far enough that a low-resolution cell is at most ~1.5 screen pixels: one bitmap.
    const useOverview = this.step === 1 || view.scale * this.step <= 1.5;
    if (useOverview) {
      if (this.overviewDirty) this.rebuildOverview();
      drawSprite(ctx, this.overview, this.style);
    } else {
      let pending = false;
      for (const e of this.order) {
        if (!inView(e)) continue;
        let s: Sprite | null | undefined = e.full;
        if (s === undefined) {
          if (performance.now() - t0 < BUILD_BUDGET_MS) s = this.fullSprite(e);
          else {
            s = e.low;
            pending = true;
          }
        }
        if (s) drawSprite(ctx, s, this.style);
      }
      if (pending) requestAnimationFrame(() => this.onNeedsRedraw());
    }
    for (const id of highlight) {
      const e = this.entries.get(id);
      if (!e || !this.order.includes(e)) continue;
      const s = useOverview ? e.low : this.fullSprite(e);
      if (s) drawSprite(ctx, s, this.style);
    }
    ctx.imageSmoothingEnabled = smooth;
    this.lastDrawMs = performance.now() - t0;
  }
}
