// The two resizes Ref LDM-Seg's data path makes outside its models:
// - mmcv's Resize → cv2.resize(INTER_LINEAR) of the 8-bit BGR image to the letterbox size (imgproc/src/resize.cpp),
//   bit for bit as OpenCV 4.6 computes it on x86 (golden cv2_resize_R, made with OpenCV itself): source x =
//   (dx + 0.5)·(in/out) − 0.5 in float, floored, the weights rounded to 11 bits (INTER_RESIZE_COEF_SCALE = 2048).
//   Across, positions before the first pixel or past the last are clamped to it with weight (2048, 0); the pass sums
//   into integers. Down, positions are NOT clamped (only the rows read are), and the vector kernel every row goes
//   through (VResizeLinearVec_32s8u) rounds in stages: each row's sum >> 4, times its weight >> 16, added, then
//   (v + 2) >> 2 — up to one grey level below the plain (Σ + 2²¹) >> 22. (An exact 2× reduction takes cv2's
//   INTER_AREA fast path, (a + b + c + d + 2) >> 2 per 2×2 block: the same numbers, as the weights are then 1024.)
// - torch's F.interpolate(bilinear, align_corners=False) of float planes (256 → 224 for the support; the logits
//   back to the image size), with odise/resample.ts's taps: horizontal first, as aten combines them.
import { linearTaps } from '../odise/resample';
import type { RgbImage } from '../common/frame';

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

/** cv2's rounding of a float coefficient to a short (cvRound: half to even). */
function roundShort(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * For each output position: the two source positions and their 11-bit weights. `clamp`: positions outside the
 * source take its edge pixel alone (cv2's horizontal taps); without, the weights stay as computed and only the
 * positions are clipped (its vertical taps).
 */
function cv2LinearTaps(inSize: number, outSize: number, clamp: boolean): { i0: Int32Array; i1: Int32Array; w0: Int32Array; w1: Int32Array } {
  const s = 1 / (outSize / inSize); // cv2's scale_x = 1 / inv_scale_x, in double
  const t = { i0: new Int32Array(outSize), i1: new Int32Array(outSize), w0: new Int32Array(outSize), w1: new Int32Array(outSize) };
  const clip = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
  for (let d = 0; d < outSize; d++) {
    let fx = Math.fround((d + 0.5) * s - 0.5);
    let sx = Math.floor(fx);
    fx = Math.fround(fx - sx);
    if (clamp && sx < 0) (fx = 0), (sx = 0);
    if (clamp && sx >= inSize - 1) (fx = 0), (sx = inSize - 1);
    t.i0[d] = clip(sx);
    t.i1[d] = clip(sx + 1);
    t.w0[d] = roundShort(Math.fround(1 - fx) * COEF_SCALE);
    t.w1[d] = roundShort(fx * COEF_SCALE);
  }
  return t;
}

/** cv2.resize(img, (width, height), INTER_LINEAR) of 8-bit RGB (cv2's own channel order does not matter). */
export function resizeLinearU8(img: RgbImage, width: number, height: number): RgbImage {
  const { width: W, height: H, data } = img;
  if (data.length !== W * H * 3) throw new RangeError(`${data.length} bytes do not fill ${W}×${H} RGB`);
  if (W === width && H === height) return { data: data.slice(), width, height };
  const out = new Uint8Array(width * height * 3);
  const tx = cv2LinearTaps(W, width, true);
  const ty = cv2LinearTaps(H, height, false);
  // Horizontal pass of every source row a vertical tap names, cached by row.
  const rows = new Map<number, Int32Array>();
  const row = (sy: number) => {
    let r = rows.get(sy);
    if (!r) {
      r = new Int32Array(width * 3);
      const base = sy * W * 3;
      for (let x = 0; x < width; x++)
        for (let c = 0; c < 3; c++) r[x * 3 + c] = data[base + tx.i0[x]! * 3 + c]! * tx.w0[x]! + data[base + tx.i1[x]! * 3 + c]! * tx.w1[x]!;
      rows.set(sy, r);
    }
    return r;
  };
  for (let y = 0; y < height; y++) {
    const r0 = row(ty.i0[y]!), r1 = row(ty.i1[y]!);
    const b0 = ty.w0[y]!, b1 = ty.w1[y]!;
    // VResizeLinearVec_32s8u's staged rounding (4 + 16 + 2 = 22 bits), as OpenCV runs it on every element.
    for (let i = 0; i < width * 3; i++) out[y * width * 3 + i] = Math.min(255, ((((r0[i]! >> 4) * b0) >> 16) + (((r1[i]! >> 4) * b1) >> 16) + 2) >> 2);
    for (const k of rows.keys()) if (k < ty.i0[y]!) rows.delete(k);
  }
  return { data: out, width, height };
}

/**
 * torch's bilinear resize (align_corners=False, no antialias) of `planes` row-major h×w float planes, each in float32
 * as aten computes it: out = λh0·(λw0·a + λw1·b) + λh1·(λw0·c + λw1·d).
 */
export function resizeBilinearPlanes(planes: Float32Array, count: number, w: number, h: number, W: number, H: number): Float32Array {
  if (planes.length !== count * w * h) throw new RangeError(`${planes.length} values are not ${count} planes of ${w}×${h}`);
  const f = Math.fround;
  const tx = linearTaps(w, W);
  const ty = linearTaps(h, H);
  const out = new Float32Array(count * W * H);
  const across = new Float32Array(h * W);
  for (let p = 0; p < count; p++) {
    const src = planes.subarray(p * w * h, (p + 1) * w * h);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < W; x++) across[y * W + x] = f(f(tx.weight0[x]! * src[y * w + tx.index0[x]!]!) + f(tx.weight1[x]! * src[y * w + tx.index1[x]!]!));
    const dst = out.subarray(p * W * H, (p + 1) * W * H);
    for (let y = 0; y < H; y++) {
      const a = ty.index0[y]! * W, b = ty.index1[y]! * W, l0 = ty.weight0[y]!, l1 = ty.weight1[y]!;
      for (let x = 0; x < W; x++) dst[y * W + x] = f(f(l0 * across[a + x]!) + f(l1 * across[b + x]!));
    }
  }
  return out;
}
