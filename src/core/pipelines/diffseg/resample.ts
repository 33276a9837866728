// Bilinear resampling as matrices: TF's resize (half_pixel_centers, clamped edges) = ONNX Resize linear/half_pixel,
// written as out = Uy · M · Uxᵀ so it runs as two MatMuls (ORT's Resize kernel is several times slower here).
import type { GraphBuilder, Value } from '../../ml/graph';

/** [out, inn] row-major interpolation matrix: row i holds the weights of output i (two taps, 1−l and l). */
export function bilinearMatrix(out: number, inn: number): Float32Array {
  const U = new Float64Array(out * inn);
  const scale = inn / out;
  for (let i = 0; i < out; i++) {
    const v = (i + 0.5) * scale - 0.5;
    const f = Math.floor(v);
    const lo = Math.max(f, 0), hi = Math.min(Math.ceil(v), inn - 1), l = v - f;
    U[i * inn + lo] += 1 - l;
    U[i * inn + hi] += l;
  }
  return Float32Array.from(U);
}

/** x [..., h, w] → [..., H, W] bilinearly (half-pixel), as two MatMuls with constant matrices. */
export function resizeBilinear(g: GraphBuilder, x: Value, h: number, w: number, H: number, W: number): Value {
  let y = x;
  if (W !== w) y = g.matmul(y, g.constant(transpose(bilinearMatrix(W, w), W, w), 'float32', [w, W]));
  if (H !== h) y = g.matmul(g.constant(bilinearMatrix(H, h), 'float32', [H, h]), y);
  return y;
}

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return t;
}
