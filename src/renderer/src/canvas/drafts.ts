// Unfinished polygons, one per image, kept in sessionStorage: opening another image (arrow keys, the strip, the
// grid) or reloading the page must not lose the vertices a labeler placed. Restoring beats asking before
// leaving: navigation never blocks, and the draft waits on its image until it is closed (Enter) or dropped
// (Esc). A draft names the image's path and size too, so an image of another project that gets the same id
// never inherits it.
import type { Image } from '../../../shared/contract';
import type { Pt } from './raster';

const key = (image: Image) => `difflabel.polygonDraft.${image.id}`;

interface Stored {
  path: string;
  width: number;
  height: number;
  points: readonly Pt[];
}

/** The image's unfinished polygon; none when nothing (valid) is kept for it. */
export function loadDraft(image: Image): Pt[] {
  let v: Partial<Stored> | null;
  try {
    v = JSON.parse(sessionStorage.getItem(key(image)) ?? 'null') as Partial<Stored> | null;
  } catch {
    return []; // written by us, so only a damaged entry fails to parse: it holds nothing worth keeping
  }
  if (!v || v.path !== image.path || v.width !== image.width || v.height !== image.height || !Array.isArray(v.points)) return [];
  const inside = (p: Pt) => Number.isInteger(p?.x) && Number.isInteger(p?.y) && p.x >= 0 && p.y >= 0 && p.x <= image.width && p.y <= image.height;
  return v.points.every(inside) ? v.points.map((p) => ({ x: p.x, y: p.y })) : [];
}

/** Keeps the image's unfinished polygon (no points: forgets it). */
export function saveDraft(image: Image, points: readonly Pt[]): void {
  try {
    if (points.length) sessionStorage.setItem(key(image), JSON.stringify({ path: image.path, width: image.width, height: image.height, points } satisfies Stored));
    else sessionStorage.removeItem(key(image));
  } catch {
    // Storage full or unavailable: the draft still lives on screen; only its survival across images is lost.
  }
}
