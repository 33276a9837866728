// Masks of known shapes, drawn pixel by pixel (row-major), for assertions against the codec.
export function rectMask(h: number, w: number, x0: number, y0: number, x1: number, y1: number, into?: Uint8Array): Uint8Array {
  const m = into ?? new Uint8Array(h * w);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * w + x] = 1;
  return m;
}

export function clearRect(m: Uint8Array, w: number, x0: number, y0: number, x1: number, y1: number): Uint8Array {
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * w + x] = 0;
  return m;
}

export function diskMask(h: number, w: number, cx: number, cy: number, r: number): Uint8Array {
  const m = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r) m[y * w + x] = 1;
  return m;
}

export function pixelBbox(m: Uint8Array, h: number, w: number): [number, number, number, number] {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (m[y * w + x]) {
        x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
      }
  return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}

export const count = (m: Uint8Array) => m.reduce((s, v) => s + (v ? 1 : 0), 0);

/** Intersection over union of two 0/1 pixel masks of the same size (1 when both are empty). */
export function pixelIou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0, union = 0;
  for (let i = 0; i < a.length; i++) (inter += a[i]! & b[i]!), (union += a[i]! | b[i]!);
  return union ? inter / union : 1;
}
