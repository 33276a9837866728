// Shared by the reliability tests: a tiny stored mask, and the refusal a call ends with.
import { ProjectOpenError, StoreError, type AnnotationInput } from '../../src/core/project';

/** A 64×48 annotation whose RLE string differs per `i` (the store does not decode it). */
export const mask = (imageId: number, i: number): AnnotationInput => ({
  imageId, categoryId: null, rle: `${'0'.repeat(40)}${String.fromCharCode(48 + (i % 64))}`, width: 64, height: 48, area: 1, bbox: [0, 0, 1, 1], source: `edit ${i}`,
});

/** The ProjectOpenError or StoreError that `fn` throws; fails when it does not throw one. */
export function refusal(fn: () => unknown): ProjectOpenError | StoreError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProjectOpenError || e instanceof StoreError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}
