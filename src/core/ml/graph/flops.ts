// FLOP count of a built graph from its static shapes: 2·MACs for Conv, MatMul and Gemm (the work that
// dominates conv/transformer nets); every other op is counted as one FLOP per output element, reported apart,
// but data movement (Reshape, Transpose, Slice, ...), which costs nothing. The operator table says which is which.
import type { GraphBuilder } from './builder';
import { OPS } from './ops';
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
    const flops = n.domain === '' ? OPS[n.opType]?.flops : undefined;
    if (flops === 'free') continue;
    if (flops === undefined) {
      r.other += numel(out.shape);
      continue;
    }
    const f = flops({ node: n, inputs: n.inputs.map((i) => (i ? g.value(i) : null)), outputs: n.outputs.map((o) => g.value(o)) });
    if (f === null) r.unknown++;
    else r.matmulConv += f;
  }
  return r;
}
