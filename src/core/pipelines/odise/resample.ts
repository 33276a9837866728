// torch's F.interpolate(mode="bilinear", align_corners=False) along one axis, as the two source indices and weights
// of every output position (aten UpSample.h / UpSampleKernel.cpp, compute_source_index_and_lambda), in float32 as
// torch computes them: scale = in / out, source = max(scale · (i + 0.5) − 0.5, 0), index = trunc(source) (at most
// the last), the next one unless at the end; equal sizes copy. A graph applies them with Gathers, so a band of output
// rows needs only the input rows its taps name.

export interface LinearTaps {
  /** The two source positions of each output position. */
  index0: Int32Array;
  index1: Int32Array;
  /** Their weights (lambda0 = 1 − lambda1). */
  weight0: Float32Array;
  weight1: Float32Array;
}

const f = Math.fround;

/** Taps of the output positions [from, to) of a resize from `inSize` to `outSize` positions. */
export function linearTaps(inSize: number, outSize: number, from = 0, to = outSize): LinearTaps {
  if (!(Number.isInteger(inSize) && inSize > 0 && Number.isInteger(outSize) && outSize > 0)) throw new RangeError(`cannot resize ${inSize} positions to ${outSize}`);
  if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from <= to && to <= outSize)) throw new RangeError(`positions [${from}, ${to}) are not within 0..${outSize}`);
  const n = to - from;
  const t: LinearTaps = { index0: new Int32Array(n), index1: new Int32Array(n), weight0: new Float32Array(n), weight1: new Float32Array(n) };
  const scale = f(inSize / outSize);
  for (let k = 0; k < n; k++) {
    const i = from + k;
    if (inSize === outSize) {
      t.index0[k] = t.index1[k] = i;
      t.weight0[k] = 1;
      continue;
    }
    // float · double − 0.5 in double (dst_index + 0.5 is a double in C++), rounded to float on return.
    const src = Math.max(f(scale * (i + 0.5) - 0.5), 0);
    const i0 = Math.min(Math.trunc(src), inSize - 1);
    t.index0[k] = i0;
    t.index1[k] = i0 < inSize - 1 ? i0 + 1 : i0;
    const l1 = f(src - i0);
    t.weight1[k] = l1;
    t.weight0[k] = f(1 - l1);
  }
  return t;
}
