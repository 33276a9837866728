// The canvas view: image pixel (ix, iy) is drawn at screen (x + ix·scale, y + iy·scale) inside the stage.
export interface View {
  scale: number;
  x: number;
  y: number;
}

export const MIN_SCALE = 1 / 64;
export const MAX_SCALE = 64;

const clampScale = (s: number) => Math.min(MAX_SCALE, Math.max(MIN_SCALE, s));

/** The whole image centred in the viewport, with a small margin. */
export function fitView(imgW: number, imgH: number, vw: number, vh: number): View {
  if (!imgW || !imgH || !vw || !vh) return { scale: 1, x: 0, y: 0 };
  const scale = clampScale(Math.min((vw - 24) / imgW, (vh - 24) / imgH));
  return { scale, x: (vw - imgW * scale) / 2, y: (vh - imgH * scale) / 2 };
}

/** 1:1 (one image pixel per screen pixel) keeping the image point under (sx, sy) in place. */
export function zoomTo(v: View, scale: number, sx: number, sy: number): View {
  const s = clampScale(scale);
  const ix = (sx - v.x) / v.scale;
  const iy = (sy - v.y) / v.scale;
  return { scale: s, x: sx - ix * s, y: sy - iy * s };
}

/** Zoom by a wheel delta around the cursor: the pixel under it stays under it. */
export function wheelZoom(v: View, deltaY: number, sx: number, sy: number): View {
  return zoomTo(v, v.scale * Math.pow(2, -deltaY / 500), sx, sy);
}

export function screenToImage(v: View, sx: number, sy: number): { x: number; y: number } {
  return { x: (sx - v.x) / v.scale, y: (sy - v.y) / v.scale };
}

/** The part of the image inside the viewport, in image pixels (clipped to the image). */
export function visibleRect(v: View, vw: number, vh: number, imgW: number, imgH: number) {
  const x0 = Math.max(0, Math.floor(-v.x / v.scale));
  const y0 = Math.max(0, Math.floor(-v.y / v.scale));
  const x1 = Math.min(imgW, Math.ceil((vw - v.x) / v.scale));
  const y1 = Math.min(imgH, Math.ceil((vh - v.y) / v.scale));
  return { x0, y0, x1, y1, empty: x1 <= x0 || y1 <= y0 };
}
