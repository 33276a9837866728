// Shared generators for the masks tests: a seeded PRNG and random masks of several kinds.
export { rng } from '../helpers/random';


/** Row-major mask: union of random ellipses, then a fraction `speckle` of pixels flipped. */
export function blobMask(R: () => number, h: number, w: number, nblobs: number, speckle = 0): Uint8Array {
  const m = new Uint8Array(h * w);
  for (let b = 0; b < nblobs; b++) {
    const cx = R() * w, cy = R() * h, rx = 0.5 + (R() * w) / 4, ry = 0.5 + (R() * h) / 4;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) if (((x + 0.5 - cx) / rx) ** 2 + ((y + 0.5 - cy) / ry) ** 2 <= 1) m[y * w + x] = 1;
    }
  }
  for (let i = 0; i < h * w; i++) if (R() < speckle) m[i] ^= 1;
  return m;
}

/** A random mask of one of several kinds (blobs, noise, empty, full, stripes). */
export function randomMask(R: () => number, h: number, w: number): Uint8Array {
  const kind = Math.floor(R() * 6);
  if (kind === 0) return new Uint8Array(h * w);
  if (kind === 1) return new Uint8Array(h * w).fill(1);
  if (kind === 2) return Uint8Array.from({ length: h * w }, () => (R() < 0.5 ? 1 : 0));
  if (kind === 3) return Uint8Array.from({ length: h * w }, (_, i) => (i % w) % 3 === 0 ? 1 : 0);
  return blobMask(R, h, w, 1 + Math.floor(R() * 4), kind === 4 ? 0.05 : 0);
}

/** Builds a row-major mask from a predicate. */
export function maskOf(h: number, w: number, f: (x: number, y: number) => boolean): Uint8Array {
  const m = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = f(x, y) ? 1 : 0;
  return m;
}

/** Counts must never contain zero-length runs except the first. */
export function isCanonical(counts: Uint32Array): boolean {
  for (let i = 1; i < counts.length; i++) if (counts[i] === 0) return false;
  return true;
}
