// Feature-map sizes that are numbers when the graph is built for one image size, and int64 [1] values read off the
// inputs when it is built for any size. Numbers keep every shape static (FLOP counts, shape checks); values let one
// graph serve every padded image size.
import type { GraphBuilder, Value } from '../../graph/builder';

export type Size = number | Value;

/** Dim `axis` of x: its number when static, else read at run time. */
export function sizeOf(g: GraphBuilder, x: Value, axis: number): Size {
  const d = x.shape?.[axis];
  return typeof d === 'number' ? d : g.slice(g.shape(x), [axis], [axis + 1]);
}

const lift = (g: GraphBuilder, s: Size): Value => (typeof s === 'number' ? g.int64s([s]) : s);

/** A shape operand: a number array while every part is known, else their concatenation. */
export function shapeOf(g: GraphBuilder, parts: readonly Size[]): number[] | Value {
  return parts.every((p): p is number => typeof p === 'number') ? [...parts] : g.concat(parts.map((p) => lift(g, p)), 0);
}

export function addSizes(g: GraphBuilder, a: Size, b: Size): Size {
  return typeof a === 'number' && typeof b === 'number' ? a + b : g.add(lift(g, a), lift(g, b));
}

export function mulSizes(g: GraphBuilder, a: Size, b: Size): Size {
  return typeof a === 'number' && typeof b === 'number' ? a * b : g.mul(lift(g, a), lift(g, b));
}

/** x[start:end] along `axis`. */
export function sliceSizes(g: GraphBuilder, x: Value, axis: number, start: Size, end: Size): Value {
  if (typeof start === 'number' && typeof end === 'number') return g.slice(x, [start], [end], [axis]);
  const shape = x.shape ? x.shape.map((d, i) => (i === axis ? null : d)) : null;
  return g.op('Slice', [x, lift(g, start), lift(g, end), g.int64s([axis])], {}, { outputs: [{ dtype: x.dtype, shape }] })[0]!;
}

/** The size as a float32 [1] (a divisor). */
export function floatSize(g: GraphBuilder, s: Size): Value {
  return typeof s === 'number' ? g.constant([s], 'float32') : g.cast(s, 'float32');
}

/** 0, 1, …, n − 1 as float32 [n]. */
export function rangeOf(g: GraphBuilder, n: Size): Value {
  if (typeof n === 'number') return g.constant(Float32Array.from({ length: n }, (_, i) => i), 'float32', [n]);
  return g.op('Range', [g.scalar(0), g.reshape(g.cast(n, 'float32'), []), g.scalar(1)], {}, { outputs: [{ dtype: 'float32', shape: [null] }] })[0]!;
}

/** [d0·d1, d2, …]: the first two dims merged (torch's flatten(0, 1)). */
export function mergeFirstTwo(g: GraphBuilder, x: Value): Value {
  const r = x.rank;
  if (r === null) throw new Error(`${x.name}: rank unknown`);
  return g.reshape(x, shapeOf(g, [-1, ...Array.from({ length: r - 2 }, (_, i) => sizeOf(g, x, i + 2))]));
}
