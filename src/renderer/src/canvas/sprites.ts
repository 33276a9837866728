// A mask as tinted bitmaps ("sprite"): decoded from RLE once, at 1/step resolution, as an opaque fill and an
// opaque outline from an edge pass (a cell is outline when a 4-neighbour is outside the mask), kept apart so the
// fill's opacity and outline-only display are a drawing setting, not a re-decode. One drawImage per layer per
// mask instead of thousands of polygon shapes.
import type { Rle } from '../../../shared/masks';

export interface Sprite {
  /** The mask's inner cells, opaque: drawn with the fill opacity. */
  fill: HTMLCanvasElement;
  /** The mask's edge cells, opaque: always drawn whole. */
  edge: HTMLCanvasElement;
  /** Image coordinates of the sprite's top-left corner. */
  x: number;
  y: number;
  /** Image pixels per sprite pixel. */
  step: number;
}

export type Rgb = [number, number, number];

export function hexToRgb(hex: string): Rgb {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  return m ? [parseInt(m[1]!, 16), parseInt(m[2]!, 16), parseInt(m[3]!, 16)] : [154, 161, 173];
}

/** How masks are shown: the fill's opacity (0–1) and whether only the outline is drawn. */
export interface MaskStyle {
  opacity: number;
  outline: boolean;
}

export const DEFAULT_MASK_STYLE: MaskStyle = { opacity: 0.38, outline: false };

/** Draws a sprite in image coordinates: the fill at the style's opacity (none when outline-only), the edge opaque. */
export function drawSprite(ctx: CanvasRenderingContext2D, s: Sprite, style: MaskStyle): void {
  const w = s.fill.width * s.step, h = s.fill.height * s.step;
  const alpha = ctx.globalAlpha;
  if (!style.outline && style.opacity > 0) {
    ctx.globalAlpha = alpha * style.opacity;
    ctx.drawImage(s.fill, s.x, s.y, w, h);
    ctx.globalAlpha = alpha;
  }
  ctx.drawImage(s.edge, s.x, s.y, w, h);
}

/**
 * Renders the mask inside `box` ([x, y, w, h], its bbox) at 1/step resolution. A sprite cell is set when
 * any pixel of its step×step block is, so thin parts stay visible when zoomed out.
 */
export function makeSprite(rle: Rle, box: readonly number[], step: number, rgb: Rgb): Sprite | null {
  const c = maskCells(rle, box, step);
  return c && cellSprite(c.cells, c.cw, c.ch, c.x0, c.y0, step, rgb);
}

/** The cells of a mask inside `box` at 1/step (see cellSprite for the layout), the first at image (x0, y0). */
export interface MaskCells {
  cells: Uint8Array;
  cw: number;
  ch: number;
  x0: number;
  y0: number;
}

/**
 * The mask's cells inside `box` at 1/step (a cell is set when any pixel of its block is), straight from the
 * column-major runs: each run marks the cells of its column span, so a 24 MP mask at step 4 costs its runs and
 * cells, not a decode of every pixel. null for an empty box.
 */
export function maskCells(rle: Rle, box: readonly number[], step: number): MaskCells | null {
  const [bx, by, bw, bh] = box as [number, number, number, number];
  if (bw <= 0 || bh <= 0) return null;
  const x0 = Math.floor(bx / step) * step, y0 = Math.floor(by / step) * step;
  const cw = Math.ceil((bx + bw - x0) / step), ch = Math.ceil((by + bh - y0) / step);
  const x1 = Math.min(x0 + cw * step, rle.w), y1 = Math.min(y0 + ch * step, rle.h);
  // Cells with a one-cell blank border, so the edge pass needs no bounds checks.
  const W = cw + 2;
  const cells = new Uint8Array(W * (ch + 2));
  const { h, counts } = rle;
  let pos = 0;
  for (let j = 0; j < counts.length; pos += counts[j]!, j++) {
    if (!(j & 1) || counts[j] === 0) continue;
    const end = pos + counts[j]!;
    for (let x = Math.floor(pos / h), col = x * h; col < end; x++, col += h) {
      if (x < x0) continue;
      if (x >= x1) break;
      const ya = Math.max(pos - col, y0), yb = Math.min(end - col, h, y1);
      if (ya >= yb) continue;
      const cx = ((x - x0) / step | 0) + 1;
      for (let cy = ((ya - y0) / step | 0) + 1, last = ((yb - 1 - y0) / step | 0) + 1; cy <= last; cy++) cells[cy * W + cx] = 1;
    }
  }
  return { cells, cw, ch, x0, y0 };
}

/**
 * A sprite of cells (row-major, with a one-cell blank border: (cw + 2) × (ch + 2), 0/1) that stand for
 * step×step blocks of image pixels, the first at image (x0, y0).
 */
export function cellSprite(cells: Uint8Array, cw: number, ch: number, x0: number, y0: number, step: number, rgb: Rgb): Sprite {
  const W = cw + 2;
  const fillImg = new ImageData(cw, ch), edgeImg = new ImageData(cw, ch);
  const fillPx = new Uint32Array(fillImg.data.buffer), edgePx = new Uint32Array(edgeImg.data.buffer);
  const [r, g, b] = rgb;
  // ImageData is RGBA in memory: little-endian words are 0xAABBGGRR.
  const colour = ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
  for (let y = 1; y <= ch; y++) {
    for (let x = 1, p = y * W + 1, o = (y - 1) * cw; x <= cw; x++, p++, o++) {
      if (!cells[p]) continue;
      if (cells[p - 1] && cells[p + 1] && cells[p - W] && cells[p + W]) fillPx[o] = colour;
      else edgePx[o] = colour;
    }
  }
  return { fill: toCanvas(fillImg), edge: toCanvas(edgeImg), x: x0, y: y0, step };
}

function toCanvas(img: ImageData): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = img.width;
  canvas.height = img.height;
  canvas.getContext('2d')!.putImageData(img, 0, 0);
  return canvas;
}

/** Whether pixel (x, y) is in the mask: a walk over the column-major runs, no decoding. */
export function rleContains(rle: Rle, x: number, y: number): boolean {
  if (x < 0 || y < 0 || x >= rle.w || y >= rle.h) return false;
  const target = x * rle.h + y;
  const c = rle.counts;
  let pos = 0;
  for (let j = 0; j < c.length; j++) {
    pos += c[j]!;
    if (target < pos) return (j & 1) === 1;
  }
  return false;
}
