// Labels (DiffSeg step 3): bilinear upsampling of the proposals (half-pixel, as TF's UpSampling2D) and per-pixel argmax;
// optionally image-guided (guided.ts) instead of plain bilinear.
import * as ort from 'onnxruntime-node';
import { GraphBuilder, type Value } from '../../ml/graph';
import { DEFAULT_GUIDE, guidedUpsample, type GuideOptions } from './guided';
import { f32, mathSession } from './onnx';
import { resizeBilinear } from './resample';
import { squareSide } from './params';

/** Proposals per ONNX run: bounds the upsampled block (k × outH × outW floats) to ~128 MiB. */
const BLOCK_VALUES = 32 * 1024 * 1024;

/** Upsampled proposals [k, H, W]: plain bilinear (the reference), or image-guided (guided.ts) from a uint8 [H, W, 3] input. */
function upsample(g: GraphBuilder, p: Value, S: number, H: number, W: number, guide: GuideOptions | null): Value {
  if (!guide) return resizeBilinear(g, p, S, S, H, W);
  const rgb = g.input('guide', 'uint8', [H, W, 3]);
  return guidedUpsample(g, p, g.transpose(g.mul(g.cast(rgb, 'float32'), 1 / 255), [2, 0, 1]), S, H, W, guide);
}

function buildLabels(S: number, outH: number, outW: number, guide: GuideOptions | null): GraphBuilder {
  const g = new GraphBuilder('diffseg_labels');
  const up = upsample(g, g.input('proposals', 'float32', ['k', S, S]), S, outH, outW, guide);
  g.output(g.cast(g.reshape(g.argMax(up, 0, false), [outH * outW]), 'int32'), 'label'); // first maximum on ties, as tf.argmax
  g.output(g.reshape(g.reduceMax(up, [0], false), [outH * outW]), 'max'); // to combine blocks; the click rule compares with it
  return g;
}

function buildRegion(S: number, outH: number, outW: number, guide: GuideOptions | null): GraphBuilder {
  const g = new GraphBuilder('diffseg_region');
  const up = g.reshape(upsample(g, g.input('proposal', 'float32', [1, S, S]), S, outH, outW, guide), [outH * outW]);
  const best = g.input('max', 'float32', [outH * outW]);
  const label = g.input('label', 'int32', [outH * outW]);
  const same = g.input('same', 'bool', ['k']);
  const wins = g.op('Not', [g.less(up, best)], {}, { outputs: [{ dtype: 'bool', shape: [outH * outW] }] })[0]!; // ties go to the proposal
  const inSame = g.gather(same, label, 0);
  g.output(g.cast(g.op('Or', [wins, inSame], {}, { outputs: [{ dtype: 'bool', shape: [outH * outW] }] })[0]!, 'uint8'), 'region');
  return g;
}

export interface LabelGuide extends Partial<GuideOptions> {
  /** The image at the label-map size (outH×outW), row-major RGB bytes. */
  rgb: Uint8Array;
}

export interface LabelOptions {
  /** Bound on the values held at once (proposals per run × output pixels). */
  blockValues?: number;
  /** Image-guided upsampling (guided.ts) instead of plain bilinear. */
  guide?: LabelGuide;
}

/** Row-major outH×outW: the winning proposal per pixel and its (upsampled) value. */
export interface RankedLabels {
  label: Int32Array;
  max: Float32Array;
}

function guideSetup(opts: LabelOptions, px: number, outH: number, outW: number) {
  if (!opts.guide) return { guide: null, feeds: {} as Record<string, ort.Tensor>, key: '' };
  const guide = { radius: opts.guide.radius ?? DEFAULT_GUIDE.radius, eps: opts.guide.eps ?? DEFAULT_GUIDE.eps };
  if (opts.guide.rgb.length !== px * 3) throw new RangeError(`labels: guide has ${opts.guide.rgb.length} bytes, not ${outW}×${outH}×3`);
  return { guide, feeds: { guide: new ort.Tensor('uint8', opts.guide.rgb, [outH, outW, 3]) }, key: `${guide.radius}|${guide.eps}` };
}

function checkSize(outH: number, outW: number): void {
  if (!Number.isInteger(outH) || !Number.isInteger(outW) || outH < 1 || outW < 1) throw new RangeError(`labels: bad size ${outW}×${outH}`);
}

/**
 * Upsample the proposals (each an S×S map, S² values) to outH×outW bilinearly (half-pixel centres; ×8 for 64 → 512)
 * and take the per-pixel argmax (ties go to the lower index) and max. Any output size is allowed (the scale is
 * outH/S per axis). Runs in ONNX Runtime, in blocks of proposals to bound memory.
 */
export async function rankProposals(proposals: Float32Array[], outH = 512, outW = 512, opts: LabelOptions = {}): Promise<RankedLabels> {
  if (proposals.length === 0) throw new RangeError('labels: no proposals');
  checkSize(outH, outW);
  const n = proposals[0]!.length;
  const S = squareSide(n, 'proposal');
  for (const p of proposals) if (p.length !== n) throw new RangeError('labels: proposals differ in size');
  const px = outH * outW;
  const { guide, feeds, key } = guideSetup(opts, px, outH, outW);
  // The guided graph holds 4 coefficient maps per proposal at full size.
  const block = Math.max(1, Math.floor((opts.blockValues ?? BLOCK_VALUES) / (guide ? 4 * px : px)));
  const sess = await mathSession(`labels|${S}|${outH}|${outW}|${key}`, () => buildLabels(S, outH, outW, guide));
  let label: Int32Array | null = null, max: Float32Array | null = null;
  for (let b = 0; b < proposals.length; b += block) {
    const part = proposals.slice(b, b + block);
    const flat = new Float32Array(part.length * n);
    part.forEach((m, i) => flat.set(m, i * n));
    const out = await sess.run({ ...feeds, proposals: f32(flat, [part.length, S, S]) });
    const lab = out['label']!.data as Int32Array, mx = out['max']!.data as Float32Array;
    if (!label || !max) {
      label = lab;
      max = mx;
      continue;
    }
    for (let i = 0; i < px; i++) {
      if (mx[i]! > max[i]!) {
        max[i] = mx[i]!;
        label[i] = b + lab[i]!;
      }
    }
  }
  return { label: label!, max: max! };
}

/** The per-pixel argmax of rankProposals (row-major proposal indices). */
export async function proposalsToLabels(proposals: Float32Array[], outH = 512, outW = 512, opts: LabelOptions = {}): Promise<Int32Array> {
  return (await rankProposals(proposals, outH, outW, opts)).label;
}

/**
 * Row-major 0/1 mask of the pixels a proposal takes from a ranked label map (same size and guide): those where its
 * upsampled value is ≥ the winner's, plus those whose winner is flagged in `same` (one 0/1 per ranked proposal).
 */
export async function regionAgainst(
  proposal: Float32Array, ranked: RankedLabels, same: Uint8Array, outH: number, outW: number, opts: Pick<LabelOptions, 'guide'> = {},
): Promise<Uint8Array> {
  checkSize(outH, outW);
  const S = squareSide(proposal.length, 'proposal');
  const px = outH * outW;
  if (ranked.label.length !== px) throw new RangeError('regionAgainst: ranked labels are another size');
  const { guide, feeds, key } = guideSetup(opts, px, outH, outW);
  const sess = await mathSession(`region|${S}|${outH}|${outW}|${key}`, () => buildRegion(S, outH, outW, guide));
  const out = await sess.run({
    ...feeds,
    proposal: f32(proposal, [1, S, S]),
    max: f32(ranked.max, [px]),
    label: new ort.Tensor('int32', ranked.label, [px]),
    same: new ort.Tensor('bool', same.length ? same : new Uint8Array(1), [Math.max(1, same.length)]),
  });
  return out['region']!.data as Uint8Array;
}
