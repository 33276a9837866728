// Grounded diffusion's grounding module (`Segmodule.forward`, seg_module.py:398-423) as an ONNX graph: the 25 UNet
// taps of the last sampling step and the class token embeddings → mask logits at 512², and the reference's mask
// (test.py:359-363: sigmoid > 0.5).
//
// Inputs: one per tap (`low.0` … `highest.6`, groundingTaps), [B, 2C, S, S]: the guidance pair's unconditional and
// conditional halves stacked as channels, uncond first, as the reference reshapes them; `text_embedding`
// [B, n, context_dim], one embedding per class. Outputs: `logits` [B, n, 512, 512] (float32) and `mask` (bool).
import { GraphBuilder, type Value } from '../../graph/builder';
import type { Dim } from '../../graph/shape';
import type { WeightSource } from '../../weights/source';
import { Layers } from '../nn';
import { featureDim, FUSION_SIZES, groundingTaps, OUTPUT_SIZE, PATCH, type GroundingConfig, type GroundingTap } from './config';
import { transformerDecoder } from './decoder';
import { fuseFeatures } from './fusion';

export interface GroundingBuildOptions {
  batch?: Dim;
  classes?: Dim;
  /**
   * Also output what the reference's submodules return, under their names: `low_feature_conv`, …,
   * `highest_feature_mix_conv`, `to_q` [B·n, E], `to_k` [B·256, E], `transfromer_decoder` [B·n, E], `mlp` [B, n, C].
   */
  debug?: boolean;
  /** Train mode: `<SegBlock>.batch_mean<i>` and `.batch_var<i>` (biased), for the stored statistics' update. */
  batchStatistics?: boolean;
}

export interface BuiltGroundingModule {
  graph: GraphBuilder;
  /** The graph's feature inputs, in the reference's order. */
  taps: GroundingTap[];
  outputs: string[];
}

export function buildGroundingModule(c: GroundingConfig, weights: WeightSource, opts: GroundingBuildOptions = {}): BuiltGroundingModule {
  const g = new GraphBuilder('grounding_module');
  const L = new Layers(g, weights);
  const B = opts.batch ?? 'batch';
  const outputs: string[] = [];
  const emit = (v: Value, name: string) => {
    g.output(v, name);
    outputs.push(name);
  };
  const taps = groundingTaps(c);
  const inputs = new Map(taps.map((t) => [t.name, g.input(t.name, 'float32', [B, t.channels, t.size, t.size])]));
  const text = g.input('text_embedding', 'float32', [B, opts.classes ?? 'classes', c.context_dim]);

  const fused = fuseFeatures(L, c, taps, inputs);
  const F = fused.feature; // [B, C, 64, 64]
  const C = featureDim(c);
  const grid = FUSION_SIZES.high / PATCH;
  // unfold(F, 4, stride 4).transpose(1, 2): patch py·16 + px, feature c·16 + ky·4 + kx; every image's patches in one
  // sequence, as the reference's (b n) d rows.
  const patches = g.reshape(g.transpose(g.reshape(F, [0, C, grid, PATCH, grid, PATCH]), [0, 2, 4, 1, 3, 5]), [1, -1, C * PATCH * PATCH]);
  const k = L.linear(patches, 'to_k', false);
  const q = L.linear(text, 'to_q', false); // [B, n, E]; the reference flattens to (b n) rows first, which a Linear does not see
  const E = c.embedding_dim;
  const decoded = transformerDecoder(L, c, g.reshape(q, [1, -1, E]), k);
  const m = L.mod('mlp', () => {
    const x = g.reshape(decoded, g.shape(q));
    return L.linear(g.relu(L.linear(g.relu(L.linear(x, 'layers.0')), 'layers.1')), 'layers.2');
  });
  // einsum('bdhw,bnd->bnhw', interpolate(F, 512), m) computed at 64² and then resized: both are linear, so this is
  // the same up to float32 rounding, without a [B, C, 512, 512] tensor (252 MB at the released width).
  const logits64 = g.reshape(g.matmul(m, g.reshape(F, [0, C, -1])), [0, 0, FUSION_SIZES.high, FUSION_SIZES.high]);
  const s = OUTPUT_SIZE / FUSION_SIZES.high;
  const logits = g.resize(logits64, { scales: [1, 1, s, s], mode: 'linear', coordinateTransformationMode: 'half_pixel' });
  emit(logits, 'logits');
  emit(g.greater(g.sigmoid(logits), 0.5), 'mask');

  if (opts.debug) {
    for (const [name, v] of fused.parts) emit(v, name);
    emit(g.reshape(q, [-1, E]), 'to_q');
    emit(g.reshape(k, [-1, E]), 'to_k');
    emit(g.reshape(decoded, [-1, E]), 'transfromer_decoder');
    emit(m, 'mlp');
  }
  if (opts.batchStatistics) {
    for (const [block, stats] of fused.stats) {
      stats.forEach((st, i) => {
        emit(st.mean, `${block}.batch_mean${i + 1}`);
        emit(st.var, `${block}.batch_var${i + 1}`);
      });
    }
  }
  return { graph: g, taps, outputs };
}
