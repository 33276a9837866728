// SegBlock (seg_module.py:204-244), in == out channels and no upsampling as the grounding module uses it:
//   x = BN1(x); h = relu(x); h = conv1(h); h = relu(BN2(h)); h = conv2(h); return h + x
// Batch norm without affine, eps 1e-4. Its ReLU is `nn.ReLU(inplace=True)`, which also overwrites x: the residual
// is relu(BN1(x)), not BN1(x). The convolutions are spectral-normalised 3×3 (the weights arrive divided by σ).
// Called inside the block's module scope.
import type { Value } from '../../graph/builder';
import type { Layers } from '../nn';
import { NORM_EPS, type GroundingConfig } from './config';

/** A train-mode batch norm's statistics over N, H, W: `var` is the biased variance it normalised with. */
export interface BatchStatistics {
  mean: Value;
  var: Value;
}

/**
 * F.batch_norm(x, stored_mean<i>, stored_var<i>, None, None, training, 0.1, 1e-4): train mode normalises with the
 * batch's statistics, eval mode with the stored ones.
 */
function batchNorm(L: Layers, x: Value, i: 1 | 2, mode: GroundingConfig['mode']): { y: Value; stats?: BatchStatistics } {
  const g = L.g;
  if (mode === 'eval') {
    const stat = (n: string) => g.reshape(L.param(`${n}${i}`), [1, -1, 1, 1]);
    return { y: g.div(g.sub(x, stat('stored_mean')), g.sqrt(g.add(stat('stored_var'), NORM_EPS))) };
  }
  const mean = g.reduceMean(x, [0, 2, 3], true);
  const d = g.sub(x, mean);
  const v = g.reduceMean(g.mul(d, d), [0, 2, 3], true);
  return { y: g.div(d, g.sqrt(g.add(v, NORM_EPS))), stats: { mean: g.reshape(mean, [-1]), var: g.reshape(v, [-1]) } };
}

export function segBlock(L: Layers, x: Value, mode: GroundingConfig['mode']): { out: Value; stats: BatchStatistics[] } {
  const g = L.g;
  const bn1 = batchNorm(L, x, 1, mode);
  const a = g.relu(bn1.y); // both h and, through the in-place ReLU, the residual
  const bn2 = batchNorm(L, L.conv(a, 'conv1'), 2, mode);
  const h = L.conv(g.relu(bn2.y), 'conv2');
  return { out: g.add(h, a), stats: [bn1.stats, bn2.stats].filter((s): s is BatchStatistics => s !== undefined) };
}
