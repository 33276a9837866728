// FLOP count of a built graph from its static shapes: 2·MACs for Conv, MatMul and Gemm (the work that
// dominates conv/transformer nets); every other op is counted as one FLOP per output element, reported apart.
import type { GraphBuilder } from './builder';
import { isStatic, numel } from './shape';

export interface FlopCount {
  /** 2 × multiply-accumulates of Conv/MatMul/Gemm. */
  matmulConv: number;
  /** One per output element of every other node (elementwise, norms, softmax, ...). */
  other: number;
  /** Nodes whose shapes were not static (not counted). */
  unknown: number;
}

export function countFlops(g: GraphBuilder): FlopCount {
  const r: FlopCount = { matmulConv: 0, other: 0, unknown: 0 };
  for (const n of g.nodes) {
    const out = g.value(n.outputs[0]!);
    if (!isStatic(out.shape)) {
      r.unknown++;
      continue;
    }
    const outN = numel(out.shape);
    if (n.opType === 'Conv') {
      const w = g.value(n.inputs[1]!);
      if (!isStatic(w.shape)) { r.unknown++; continue; }
      r.matmulConv += 2 * outN * numel(w.shape.slice(1)); // each output: Cin/group · kH · kW MACs
    } else if (n.opType === 'MatMul' || n.opType === 'Gemm') {
      const a = g.value(n.inputs[0]!);
      if (!isStatic(a.shape)) { r.unknown++; continue; }
      r.matmulConv += 2 * outN * a.shape[a.shape.length - 1]!; // each output: K MACs
    } else if (!['Reshape', 'Transpose', 'Identity', 'Shape', 'Unsqueeze', 'Squeeze', 'Cast', 'Slice', 'Gather', 'Concat', 'Split', 'Expand'].includes(n.opType)) {
      r.other += outN;
    }
  }
  return r;
}
