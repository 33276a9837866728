// Labels (DiffSeg step 3): bilinear upsampling of the proposals (half-pixel, as TF's UpSampling2D) and per-pixel argmax.
import { GraphBuilder } from '../../ml/graph';
import { f32, mathSession } from './onnx';
import { resizeBilinear } from './resample';
import { squareSide } from './params';

/** Proposals per ONNX run: bounds the upsampled block (k × outH × outW floats) to ~128 MiB. */
const BLOCK_VALUES = 32 * 1024 * 1024;

function buildLabels(S: number, outH: number, outW: number, withMax: boolean): GraphBuilder {
  const g = new GraphBuilder('diffseg_labels');
  const p = g.input('proposals', 'float32', ['k', S, S]);
  const up = resizeBilinear(g, p, S, S, outH, outW); // [k, H, W]
  g.output(g.cast(g.reshape(g.argMax(up, 0, false), [outH * outW]), 'int32'), 'label'); // first maximum on ties, as tf.argmax
  if (withMax) g.output(g.reshape(g.reduceMax(up, [0], false), [outH * outW]), 'max'); // to combine blocks
  return g;
}

/**
 * Upsample the proposals (each an S×S map, S² values) to outH×outW bilinearly (half-pixel centres; ×8 for 64 → 512)
 * and take the per-pixel argmax → row-major label map of proposal indices (ties go to the lower index). Any output
 * size is allowed (the scale is outH/S per axis). Runs in ONNX Runtime, in blocks of proposals to bound memory.
 */
export async function proposalsToLabels(
  proposals: Float32Array[], outH = 512, outW = 512, opts: { blockValues?: number } = {},
): Promise<Int32Array> {
  if (proposals.length === 0) throw new RangeError('proposalsToLabels: no proposals');
  if (!Number.isInteger(outH) || !Number.isInteger(outW) || outH < 1 || outW < 1) throw new RangeError(`proposalsToLabels: bad size ${outW}×${outH}`);
  const n = proposals[0]!.length;
  const S = squareSide(n, 'proposal');
  for (const p of proposals) if (p.length !== n) throw new RangeError('proposalsToLabels: proposals differ in size');
  const px = outH * outW;
  const block = Math.max(1, Math.floor((opts.blockValues ?? BLOCK_VALUES) / px));
  const withMax = proposals.length > block;
  const sess = await mathSession(`labels|${S}|${outH}|${outW}|${withMax}`, () => buildLabels(S, outH, outW, withMax));
  const labels = new Int32Array(px);
  let best: Float32Array | null = null;
  for (let b = 0; b < proposals.length; b += block) {
    const part = proposals.slice(b, b + block);
    const flat = new Float32Array(part.length * n);
    part.forEach((m, i) => flat.set(m, i * n));
    const out = await sess.run({ proposals: f32(flat, [part.length, S, S]) });
    const lab = out['label']!.data as Int32Array;
    if (!withMax) return lab;
    const mx = out['max']!.data as Float32Array;
    if (!best) {
      labels.set(lab);
      best = mx;
    } else {
      for (let i = 0; i < px; i++) {
        if (mx[i]! > best[i]!) {
          best[i] = mx[i]!;
          labels[i] = b + lab[i]!;
        }
      }
    }
  }
  return labels;
}

