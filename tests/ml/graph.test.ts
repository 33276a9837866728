import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { countFlops, decodeModel, f16BitsToF32, f32ToF16Bits, fromFloat16Bits, GraphBuilder, ShapeError, toFloat16Bits } from '../../src/core/ml/graph';
import { ONNX_SCHEMA } from '../../src/core/ml/graph/onnxSchema';
import { parseOnnxProto } from '../../src/core/ml/graph/genSchema';

const f32 = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));

async function run(g: GraphBuilder, feeds: Record<string, ort.Tensor>) {
  const s = await ort.InferenceSession.create(g.toBytes());
  return s.run(feeds);
}

describe('graph builder', () => {
  it('generated schema matches the committed onnx.proto', () => {
    const proto = readFileSync(new URL('../../src/core/ml/graph/onnx.proto', import.meta.url), 'utf8');
    expect(JSON.parse(JSON.stringify(ONNX_SCHEMA))).toEqual(JSON.parse(JSON.stringify(parseOnnxProto(proto))));
  });

  it('infers static shapes through common ops', () => {
    const g = new GraphBuilder('s');
    const x = g.input('x', 'float32', [2, 4, 8, 8]);
    const w = g.initializer('w', new Float32Array(8 * 4 * 9), 'float32', [8, 4, 3, 3]);
    const c = g.conv(x, w, null, { strides: [2, 2], pads: [1, 1, 1, 1] });
    expect(c.shape).toEqual([2, 8, 4, 4]);
    const t = g.transpose(g.reshape(c, [2, 8, -1]), [0, 2, 1]);
    expect(t.shape).toEqual([2, 16, 8]);
    expect(g.matmul(t, g.initializer('m', new Float32Array(8 * 3), 'float32', [8, 3])).shape).toEqual([2, 16, 3]);
    expect(g.concat([c, c], 1).shape).toEqual([2, 16, 4, 4]);
    expect(g.slice(c, [1], [3], [1]).shape).toEqual([2, 2, 4, 4]);
    expect(g.reduceMean(c, [2, 3], false).shape).toEqual([2, 8]);
    expect(g.resize(c, { scales: [1, 1, 2, 2] }).shape).toEqual([2, 8, 8, 8]);
    expect(g.split(c, [3, 5], 1).map((v) => v.shape)).toEqual([[2, 3, 4, 4], [2, 5, 4, 4]]);
    expect(g.gather(c, [0, 1, 1], 1).shape).toEqual([2, 3, 4, 4]);
    expect(g.unsqueeze(t, [1]).shape).toEqual([2, 1, 16, 8]);
    expect(g.add(x, g.input('sym', 'float32', ['b', 4, 1, 1])).shape).toEqual([2, 4, 8, 8]);
  });

  it('reports shape mismatches with the scoped node name', () => {
    const g = new GraphBuilder('e');
    const x = g.input('x', 'float32', [2, 4, 8, 8]);
    const y = g.input('y', 'float32', [2, 3, 8, 8]);
    expect(() => g.scope('down_blocks.0', () => g.add(x, y))).toThrow(/down_blocks\.0\/Add: cannot broadcast \[2,4,8,8\] with \[2,3,8,8\]/);
    const w = g.initializer('w', new Float32Array(8 * 5 * 9), 'float32', [8, 5, 3, 3]);
    expect(() => g.conv(x, w)).toThrow(ShapeError);
    expect(() => g.reshape(x, [3, -1])).toThrow(/cannot reshape/);
    expect(() => g.matmul(x, g.input('z', 'float32', [7, 3]))).toThrow(/inner dims/);
    expect(() => g.matmul(x, y)).toThrow(/MatMul: cannot broadcast/);
    expect(() => g.initializer('bad', new Float32Array(3), 'float32', [2, 2])).toThrow(/do not fill/);
    expect(() => g.input('x', 'float32', [1])).toThrow(/already used/);
  });

  it('names nodes like module paths', async () => {
    const g = new GraphBuilder('n');
    const x = g.input('x', 'float32', [1, 3]);
    const p = g.scope('down_blocks.0', () => g.scope('attentions.0', () => g.scope('attn1', () => g.softmax(g.mul(x, 2)))));
    g.output(p, 'p');
    const names = decodeModel(g.toBytes()) as { graph: { node: { name: string }[] } };
    expect(names.graph.node.map((n) => n.name)).toEqual([
      'down_blocks.0.attentions.0.attn1/Mul', 'down_blocks.0.attentions.0.attn1/Softmax', 'Identity',
    ]);
    const r = await run(g, { x: new ort.Tensor('float32', Float32Array.from([0, 1, 2]), [1, 3]) });
    const e = [1, Math.exp(2), Math.exp(4)];
    const z = e[0]! + e[1]! + e[2]!;
    expect(Array.from(r['p']!.data as Float32Array).map((v, i) => v - e[i]! / z).every((d) => Math.abs(d) < 1e-6)).toBe(true);
  });

  it('GroupNorm decomposition matches a direct computation', async () => {
    const g = new GraphBuilder('gn');
    const x = g.input('x', 'float32', [2, 6, 3, 2]);
    const sc = g.initializer('s', f32(6, (i) => 1 + i / 10), 'float32', [6]);
    const bi = g.initializer('b', f32(6, (i) => i / 5 - 0.3), 'float32', [6]);
    g.output(g.groupNorm(x, 3, sc, bi, 1e-5), 'y');
    const xd = f32(72, (i) => Math.sin(i * 1.3) * 3 + (i % 5));
    const y = (await run(g, { x: new ort.Tensor('float32', xd, [2, 6, 3, 2]) }))['y']!.data as Float32Array;
    for (let n = 0; n < 2; n++)
      for (let gr = 0; gr < 3; gr++) {
        const base = n * 36 + gr * 12;
        const vals = Array.from(xd.slice(base, base + 12));
        const m = vals.reduce((a, b) => a + b) / 12;
        const v = vals.reduce((a, b) => a + (b - m) ** 2, 0) / 12;
        for (let k = 0; k < 12; k++) {
          const c = gr * 2 + Math.floor(k / 6);
          const want = ((vals[k]! - m) / Math.sqrt(v + 1e-5)) * (1 + c / 10) + (c / 5 - 0.3);
          expect(Math.abs(y[base + k]! - want)).toBeLessThan(1e-5);
        }
      }
  });

  it('external data round trip loads in ORT and gives the inline result', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'graph-ext-'));
    try {
      const g = new GraphBuilder('ext');
      const x = g.input('x', 'float32', [1, 64]);
      let calls = 0;
      const w = g.initializer('w', () => { calls++; return f32(64 * 32, (i) => Math.cos(i)); }, 'float32', [64, 32]);
      g.output(g.matmul(x, w), 'y');
      const path = join(dir, 'm.onnx');
      const res = g.save(path, { externalData: true });
      expect(res.external).toBe(true);
      expect(statSync(`${path}.data`).size).toBe(64 * 32 * 4);
      expect(statSync(path).size).toBeLessThan(2000);
      const feeds = { x: new ort.Tensor('float32', f32(64, (i) => i / 64), [1, 64]) };
      const a = (await (await ort.InferenceSession.create(path)).run(feeds))['y']!.data as Float32Array;
      const b = (await run(g, feeds))['y']!.data as Float32Array;
      expect(calls).toBe(2);
      expect(Array.from(a)).toEqual(Array.from(b));
      g.save(join(dir, 'inline.onnx'));
      expect(existsSync(join(dir, 'inline.onnx.data'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('float16 bit conversions round to nearest even', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds up to Inf
    expect(f32ToF16Bits(2 ** -24)).toBe(1);
    expect(f32ToF16Bits(-0.1)).toBe(0xae66);
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(f16BitsToF32(0xae66)).toBeCloseTo(-0.0999755859375, 12);
    const v = Float32Array.from([0.5, -2, 3.140625, 1e-7, 0]);
    expect(Array.from(fromFloat16Bits(toFloat16Bits(v)))).toEqual([0.5, -2, 3.140625, 1.1920928955078125e-7, 0]);
  });

  it('counts FLOPs from static shapes', () => {
    const g = new GraphBuilder('f');
    const x = g.input('x', 'float32', [1, 3, 8, 8]);
    const c = g.conv(x, g.initializer('w', new Float32Array(16 * 3 * 9), 'float32', [16, 3, 3, 3]), null, { pads: [1, 1, 1, 1] });
    const t = g.reshape(c, [1, 16, 64]);
    const m = g.matmul(t, g.initializer('m', new Float32Array(64 * 5), 'float32', [64, 5]));
    g.output(g.softmax(m), 'y');
    const f = countFlops(g);
    expect(f.matmulConv).toBe(2 * (16 * 64) * (3 * 9) + 2 * (16 * 5) * 64);
    expect(f.other).toBe(16 * 5); // Softmax; the output Identity moves no FLOPs
    expect(f.unknown).toBe(0);
  });
});
