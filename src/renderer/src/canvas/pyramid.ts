// Downscaled display levels of the image (an image pyramid): drawing an 8000×6000 bitmap shrunk to a
// 1000-pixel-wide view resamples 48 megapixels every frame; drawing from a level at most 2× larger than
// the screen needs keeps each frame's work proportional to the screen instead.
export interface Level {
  bitmap: ImageBitmap | HTMLImageElement;
  /** Level pixels per image pixel (1, 1/2, 1/4, …). */
  scale: number;
}

export interface Pyramid {
  width: number;
  height: number;
  levels: Level[];
  /** The full-resolution image, for reading pixels (magic wand). */
  full: ImageBitmap | HTMLImageElement;
}

/** Smallest level edge kept; below this the top level is just drawn smaller. */
const MIN_EDGE = 512;

export async function loadImage(url: string, signal?: AbortSignal): Promise<HTMLImageElement> {
  const img = new Image();
  img.decoding = 'async';
  img.src = url;
  await img.decode();
  if (signal?.aborted) throw new DOMException('aborted', 'AbortError');
  return img;
}

export async function buildPyramid(img: HTMLImageElement, signal?: AbortSignal): Promise<Pyramid> {
  const width = img.naturalWidth, height = img.naturalHeight;
  // createImageBitmap decodes once, off the main thread where the browser can, and keeps the pixels ready.
  const full = await createImageBitmap(img).catch(() => img);
  const levels: Level[] = [{ bitmap: full, scale: 1 }];
  let src: ImageBitmap | HTMLImageElement = full;
  for (let s = 0.5; Math.max(width, height) * s >= MIN_EDGE; s /= 2) {
    if (signal?.aborted) break;
    // Each level halves the previous one, so every step is a cheap 2:1 filter.
    const bm: ImageBitmap = await createImageBitmap(src, {
      resizeWidth: Math.max(1, Math.round(width * s)),
      resizeHeight: Math.max(1, Math.round(height * s)),
      resizeQuality: 'medium',
    });
    levels.push({ bitmap: bm, scale: s });
    src = bm;
  }
  return { width, height, levels, full };
}

/** The smallest level that is still at least as detailed as the screen at this view scale. */
export function levelFor(p: Pyramid, viewScale: number): Level {
  let best = p.levels[0]!;
  for (const l of p.levels) if (l.scale >= viewScale) best = l;
  return best;
}

export function closePyramid(p: Pyramid): void {
  for (const l of p.levels) if ('close' in l.bitmap) l.bitmap.close();
}
