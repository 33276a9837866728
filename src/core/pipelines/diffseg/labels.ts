// Labels (DiffSeg step 3): bilinear upsampling of the proposals (half-pixel, as TF's UpSampling2D) and per-pixel argmax;
// optionally image-guided (guided.ts) instead of plain bilinear.
import * as ort from 'onnxruntime-node';
import { GraphBuilder, type Value } from '../../ml/graph';
import { DEFAULT_GUIDE, guidedUpsample, type GuideOptions } from './guided';
import { f32, mathSession } from '../common/inference';
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
  g.output(g.reshape(g.reduceMax(up, [0], false), [outH * outW]), 'max'); // to combine blocks
  return g;
}

function buildMask(S: number, outH: number, outW: number, guide: GuideOptions | null): GraphBuilder {
  const g = new GraphBuilder('diffseg_mask');
  const up = upsample(g, g.input('cells', 'float32', [1, S, S]), S, outH, outW, guide);
  g.output(g.cast(g.reshape(g.op('Not', [g.less(up, 0.5)], {}, { outputs: [{ dtype: 'bool', shape: null }] })[0]!, [outH * outW]), 'uint8'), 'mask');
  return g;
}

export interface LabelGuide extends Partial<GuideOptions> {
  /** The image at the label-map size (outH×outW), row-major RGB bytes. */
  rgb: Uint8Array;
}

export interface LabelOptions {
  /** Bound on the values held at once (proposals per run × output pixels). */
  blockValues?: number;
  /** Image-guided outlines (see proposalsToLabels) instead of the plain bilinear upsampling. */
  guide?: LabelGuide;
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

/** Per cell of the S×S grid: the winning proposal (first on ties) and its value. */
export function cellWinners(proposals: Float32Array[]): { label: Int32Array; max: Float32Array } {
  const n = proposals[0]?.length ?? 0;
  const label = new Int32Array(n), max = new Float32Array(n).fill(-Infinity);
  proposals.forEach((p, k) => {
    for (let i = 0; i < n; i++) if (p[i]! > max[i]!) (max[i] = p[i]!, label[i] = k);
  });
  return { label, max };
}

/**
 * Label map (row-major outH×outW proposal indices) of proposals given as S×S maps (S² values each). Without a guide:
 * the reference — bilinear upsampling (half-pixel centres; ×8 for 64 → 512; any output size) and per-pixel argmax,
 * first index on ties. With `opts.guide` (the image at outH×outW): each cell's winner, as one-hot maps, goes through
 * the image-guided filter (guided.ts) and the argmax is taken on that, so outlines follow the image's colour edges.
 * One-hot rather than the raw proposals: where two proposals nearly tie over a textured area, filtering the raw
 * values lets the texture flip the argmax pixel by pixel (speckle); one-hot maps only move the outlines the cells
 * already drew. Runs in ONNX Runtime, in blocks of proposals to bound memory.
 */
export async function proposalsToLabels(proposals: Float32Array[], outH = 512, outW = 512, opts: LabelOptions = {}): Promise<Int32Array> {
  if (proposals.length === 0) throw new RangeError('labels: no proposals');
  checkSize(outH, outW);
  const n = proposals[0]!.length;
  const S = squareSide(n, 'proposal');
  for (const p of proposals) if (p.length !== n) throw new RangeError('labels: proposals differ in size');
  const px = outH * outW;
  const { guide, feeds, key } = guideSetup(opts, px, outH, outW);
  if (guide) {
    const win = cellWinners(proposals).label;
    proposals = proposals.map((_, k) => Float32Array.from(win, (l) => (l === k ? 1 : 0)));
  }
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
  return label!;
}

/**
 * A 0/1 mask given on the S×S cell grid, upsampled to outH×outW (bilinear, or image-guided with `opts.guide`) and
 * thresholded at ½: row-major 0/1. For two regions this draws the outline exactly where proposalsToLabels does.
 */
export async function upsampleMask(cells: Float32Array, outH: number, outW: number, opts: Pick<LabelOptions, 'guide'> = {}): Promise<Uint8Array> {
  checkSize(outH, outW);
  const S = squareSide(cells.length, 'mask');
  const { guide, feeds, key } = guideSetup(opts, outH * outW, outH, outW);
  const sess = await mathSession(`mask|${S}|${outH}|${outW}|${key}`, () => buildMask(S, outH, outW, guide));
  const out = await sess.run({ ...feeds, cells: f32(cells, [1, S, S]) });
  return out['mask']!.data as Uint8Array;
}
