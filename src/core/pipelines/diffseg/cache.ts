// DiffSeg's aggregated attention (64²×64² floats, 64 MiB per image) in the per-image tensor cache, so clicks after the
// first cost milliseconds. On disk as float16 of p·S² (S² = 4096, so typical values are ~1), never rounded to 0
// (KL takes logs); in memory an entry counts twice (the click context holds the log of every map). The key depends on
// the pixels, the model and how the image is prepared, not on the merge parameters: those key the derived values.
import { TensorCache, cacheKey, type TensorCacheOptions } from '../common/tensorCache';

export class DiffSegCache extends TensorCache {
  constructor(opts: TensorCacheOptions = {}) {
    super(opts, { scale: (agg) => Math.sqrt(agg.length), keepPositive: true, entryWeight: 2 });
  }
}

export function attentionCacheKey(imageSha1: string, modelId: string, preprocessing: string): string {
  return cacheKey(imageSha1, modelId, preprocessing);
}
