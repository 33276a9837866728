import { describe, expect, it } from 'vitest';
import { countFlops, decodeModel, GraphBuilder } from '../../src/core/ml/graph';

interface AttrProto { name: string; type: number; f?: number; i?: number }
const attrsOf = (g: GraphBuilder, op: string): AttrProto[] => {
  const m = decodeModel(g.toBytes()) as { graph: { node: { op_type: string; attribute: AttrProto[] }[] } };
  return m.graph.node.find((n) => n.op_type === op)!.attribute;
};

describe('operator table', () => {
  it('gives op() the inferred outputs of an operator it knows, and leaves others unknown', () => {
    const g = new GraphBuilder('t');
    const a = g.input('a', 'float32', [5, 3]);
    const b = g.input('b', 'float32', [5, 7]);
    const [y] = g.op('Gemm', [a, b], { transA: 1 });
    expect(y!.shape).toEqual([3, 7]);
    const [c] = g.op('GreaterOrEqual', [y!, 0.5]);
    expect([c!.dtype, c!.shape]).toEqual(['bool', [3, 7]]);
    const [u] = g.op('HardSwish', [a]);
    expect([u!.dtype, u!.shape]).toEqual(['float32', null]);
  });

  it('counts a transposed Gemm operand by its inner dimension', () => {
    const g = new GraphBuilder('t');
    const a = g.input('a', 'float32', [5, 3]);
    g.output(g.op('Gemm', [a, g.input('b', 'float32', [5, 7])], { transA: 1 }, { outputs: [{ dtype: 'float32', shape: [3, 7] }] })[0]!);
    expect(countFlops(g)).toEqual({ matmulConv: 2 * 3 * 7 * 5, other: 0, unknown: 0 });
  });

  it('writes a float attribute as a float even when its value is an integer', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', [2, 3]);
    g.output(g.op('Gemm', [x, g.input('w', 'float32', [3, 3])], { alpha: 2, transB: 1 })[0]!);
    g.output(g.op('LeakyRelu', [x], { alpha: 0.5 })[0]!);
    expect(attrsOf(g, 'Gemm')).toEqual([{ name: 'alpha', type: 1, f: 2 }, { name: 'transB', type: 2, i: 1 }]);
    expect(attrsOf(g, 'LeakyRelu')).toEqual([{ name: 'alpha', type: 1, f: 0.5 }]);
  });
});

describe('FLOPs of ConvTranspose', () => {
  it('counts every input element times the kernel it is spread over', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', [1, 4, 5, 5]);
    const w = g.input('w', 'float32', [4, 3, 3, 3]);
    const [y] = g.op('ConvTranspose', [x, w], { strides: [2, 2] });
    expect(y!.shape).toEqual([1, 3, 11, 11]);
    expect(countFlops(g).matmulConv).toBe(2 * (4 * 5 * 5) * (3 * 3 * 3));
  });
});
