// Ref LDM-Seg fixture scenes (src/core/pipelines/refldmseg/fixture.ts): flat shapes on white, and their masks.
import { writeFileSync } from 'node:fs';
import sharp from 'sharp';
import type { RgbImage } from '../../../src/core/pipelines/common/frame';

export const WHITE = [255, 255, 255] as const;
export const RED = [220, 20, 30] as const;
export const BLUE = [20, 40, 220] as const;

export type Shape = { kind: 'disk'; cx: number; cy: number; r: number; colour: readonly number[] } | { kind: 'rect'; x0: number; y0: number; x1: number; y1: number; colour: readonly number[] };

export interface Scene {
  rgb: RgbImage;
  /** Row-major 0/1 mask of each shape (later shapes cover earlier ones). */
  masks: Uint8Array[];
}

const inside = (s: Shape, x: number, y: number) =>
  s.kind === 'disk' ? (x + 0.5 - s.cx) ** 2 + (y + 0.5 - s.cy) ** 2 <= s.r ** 2 : x >= s.x0 && x < s.x1 && y >= s.y0 && y < s.y1;

export function scene(width: number, height: number, shapes: Shape[]): Scene {
  const data = new Uint8Array(width * height * 3);
  const masks = shapes.map(() => new Uint8Array(width * height));
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      let colour: readonly number[] = WHITE;
      let top = -1;
      shapes.forEach((s, k) => {
        if (inside(s, x, y)) (colour = s.colour), (top = k);
      });
      if (top >= 0) masks[top]![y * width + x] = 1;
      data.set(colour, (y * width + x) * 3);
    }
  return { rgb: { data, width, height }, masks };
}

/** The example: a red disk (mask 0). */
export const support = () => scene(200, 160, [{ kind: 'disk', cx: 100, cy: 80, r: 50, colour: RED }]);
/**
 * A query: a red square (mask 0) and a blue disk (mask 1). The fixture's latent pixel is the image's pixel at every 8th
 * position of the 256² letterbox (16th here), so the square's sides lie on that grid: what is measured is the
 * pipeline, not the fixture's resolution.
 */
export const query = (dx = 0) =>
  scene(512, 384, [
    { kind: 'rect', x0: 64 + dx, y0: 80, x1: 208 + dx, y1: 224, colour: RED },
    { kind: 'disk', cx: 380, cy: 190, r: 80, colour: BLUE },
  ]);

export async function writeScene(file: string, s: Scene): Promise<void> {
  const { data, width, height } = s.rgb;
  writeFileSync(file, await sharp(Buffer.from(data), { raw: { width, height, channels: 3 } }).png().toBuffer());
}

export { pixelIou as iou } from '../../helpers/masks';

export const invert = (m: Uint8Array) => m.map((v) => 1 - v);
export const either = (a: Uint8Array, b: Uint8Array) => a.map((v, i) => v | b[i]!);
