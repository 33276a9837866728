// The grounding module's feature fusion (`Segmodule._prepare_features`, seg_module.py:424-468): each group of UNet
// taps resized to its fixed size and concatenated, a 1×1 convolution per group, then coarse to fine: low → 32²,
// joined with mid, a SegBlock → 64², joined with high, a SegBlock, joined with highest, a SegBlock. The result,
// [B, Σ feature_channels, 64, 64], is what the decoder's patches and the logits are made of.
import type { GraphBuilder, Value } from '../../graph/builder';
import type { Layers } from '../nn';
import { FUSION_SIZES, GROUPS, segBlocks, type GroundingConfig, type GroundingGroup, type GroundingTap } from './config';
import { segBlock, type BatchStatistics } from './segBlock';

export interface FusedFeatures {
  feature: Value;
  /** Each 1×1 convolution's and SegBlock's output, by module name (as the reference's submodules). */
  parts: [name: string, value: Value][];
  /** Train mode: each SegBlock's batch statistics, by module name. */
  stats: [name: string, stats: BatchStatistics[]][];
}

/** F.interpolate(bilinear, align_corners=False) to `size`² from a static square size (upsampling only here). */
function resizeTo(g: GraphBuilder, x: Value, size: number): Value {
  const s = size / (x.shape![2] as number);
  return s === 1 ? x : g.resize(x, { scales: [1, 1, s, s], mode: 'linear', coordinateTransformationMode: 'half_pixel' });
}

export function fuseFeatures(L: Layers, c: GroundingConfig, taps: GroundingTap[], inputs: Map<string, Value>): FusedFeatures {
  const g = L.g;
  const parts: FusedFeatures['parts'] = [];
  const stats: FusedFeatures['stats'] = [];
  const group = (name: GroundingGroup) => {
    const xs = taps.filter((t) => t.group === name).map((t) => inputs.get(t.name)!);
    const size = name === 'highest' ? undefined : FUSION_SIZES[name];
    const joined = g.concat(size === undefined ? xs : xs.map((x) => resizeTo(g, x, size)), 1);
    const y = L.mod(`${name}_feature_conv`, () => L.conv(joined, '0'));
    parts.push([`${name}_feature_conv`, y]);
    return y;
  };
  const mix = (i: number, x: Value) => {
    const { name } = segBlocks(c)[i]!;
    const r = L.mod(name, () => segBlock(L, x, c.mode));
    parts.push([name, r.out]);
    if (r.stats.length) stats.push([name, r.stats]);
    return r.out;
  };
  let f = resizeTo(g, group('low'), FUSION_SIZES.mid);
  GROUPS.slice(1).forEach((name, i) => {
    f = mix(i, g.concat([f, group(name)], 1));
    if (name === 'mid') f = resizeTo(g, f, FUSION_SIZES.high);
  });
  return { feature: f, parts, stats };
}
