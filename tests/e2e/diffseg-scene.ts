// The synthetic scene of the DiffSeg browser test: flat-coloured rectangles and a disk on a flat dark background
// (colours from the pipeline fixture tests' palette, well apart for the fixture's colour affinity), with each
// shape's exact pixels (a pixel belongs to a disk when its centre is within the radius).
import { encode, type Rle } from '../../src/shared/masks';

type Rgb = [number, number, number];
export interface SceneShape {
  kind: 'rect' | 'disk';
  /** rect: x, y, w, h; disk: cx, cy, r, unused. */
  g: [number, number, number, number];
  color: Rgb;
  /** Where the test clicks (image pixels): well inside the shape. */
  click: [number, number];
}

export const SCENE = {
  width: 320,
  height: 240,
  background: [30, 30, 30] as Rgb,
  shapes: [
    { kind: 'rect', g: [24, 28, 90, 90], color: [230, 25, 75], click: [69, 73] },
    { kind: 'rect', g: [170, 24, 120, 70], color: [60, 180, 75], click: [230, 59] },
    { kind: 'disk', g: [240, 172, 45, 0], color: [0, 130, 200], click: [240, 172] },
    { kind: 'rect', g: [40, 150, 110, 65], color: [255, 225, 25], click: [95, 182] },
  ] as SceneShape[],
};

export function inShape(s: SceneShape, x: number, y: number): boolean {
  const [a, b, c, d] = s.g;
  if (s.kind === 'rect') return x >= a && x < a + c && y >= b && y < b + d;
  return (x + 0.5 - a) ** 2 + (y + 0.5 - b) ** 2 <= c * c;
}

/** Row-major RGB of the scene. */
export function sceneRgb(): Uint8Array {
  const { width: W, height: H } = SCENE;
  const px = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const s = SCENE.shapes.find((q) => inShape(q, x, y));
      px.set(s ? s.color : SCENE.background, (y * W + x) * 3);
    }
  return px;
}

/** Row-major 0/1 pixels of shape i. */
export function shapeMask(i: number): Uint8Array {
  const { width: W, height: H } = SCENE;
  const s = SCENE.shapes[i]!;
  const m = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (inShape(s, x, y)) m[y * W + x] = 1;
  return m;
}
export const shapeRle = (i: number): Rle => encode(shapeMask(i), SCENE.height, SCENE.width);

export function iou01(a: Uint8Array, b: Uint8Array): number {
  let inter = 0, uni = 0;
  for (let i = 0; i < a.length; i++) {
    inter += a[i]! & b[i]!;
    uni += a[i]! | b[i]!;
  }
  return uni ? inter / uni : 1;
}
