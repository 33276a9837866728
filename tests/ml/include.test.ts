import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/core/ml/graph';

describe('GraphBuilder.include', () => {
  it('puts a graph behind a value of another, sharing its weights, and writes a weight included twice once', async () => {
    const inner = new GraphBuilder('inner');
    const x = inner.input('x', 'float32', [2]);
    const weights = Float32Array.of(3, 5);
    inner.output(inner.mul(x, inner.initializer('w', weights, 'float32', [2])), 'y');
    inner.output(inner.neg(x), 'unused');

    const g = new GraphBuilder('outer');
    const a = g.input('a', 'float32', [2]);
    const first = g.include(inner, { x: g.add(a, 1) }, [inner.value('y')]);
    const second = g.include(inner, { x: first(inner.value('y')) }, [inner.value('y')]);
    g.output(second(inner.value('y')), 'out');
    expect(g.initializers.size).toBe(2); // w and the constant 1
    expect(g.initializers.get('w')!.source).toBe(weights);
    expect(g.nodes.map((n) => n.opType)).toEqual(['Add', 'Mul', 'Identity', 'Mul', 'Identity', 'Identity']); // not Neg
    expect(() => first(inner.value('unused'))).toThrow("unused of graph 'inner' is not included in graph 'outer'");
    const s = await ort.InferenceSession.create(g.toBytes());
    const r = await s.run({ a: new ort.Tensor('float32', Float32Array.of(1, 2), [2]) });
    expect(Array.from(r['out']!.data as Float32Array)).toEqual([18, 75]); // (a + 1)·w·w
    await s.release();
  });
});
