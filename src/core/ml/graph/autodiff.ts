// Reverse-mode differentiation of built graphs. onnxruntime-node has no training API, so the backward pass is emitted
// as ordinary ONNX nodes from the vector-Jacobian product of each operator in the table (ops.ts, vjp.ts), and runs in
// the same session as any other graph.
import type { GraphBuilder, Value } from './builder';
import { isFloat } from './dtypes';
import { OPS } from './ops';
import { fmt, isStatic } from './shape';
import { zerosLike, type VjpArgs } from './vjp';

export interface GradientOptions {
  /** Values treated as constants: no gradient flows back through them (torch's `detach`). */
  stop?: readonly Value[];
  /**
   * Emit into this builder instead: the forward nodes the gradients need are re-emitted there, reading the same
   * initializer records (weights are shared with the source graph, not copied).
   */
  into?: GraphBuilder;
}

export interface Gradients {
  /** d⟨seed, outputs⟩ / d wrt[i], shaped like wrt[i]; zeros where no path leads from it to an output. */
  grads: Value[];
  /** The value standing for a value of the source graph in the graph the gradients were emitted into. */
  value(v: Value): Value;
}

/**
 * Emits the gradients of L = Σ_k ⟨seed_k, outputs_k⟩ with respect to `wrt`. A seed is a value of its output's shape
 * (a gradient arriving from outside the graph: score distillation never differentiates the UNet) or a number that
 * fills it (1 for a scalar loss). Only nodes on a path from `wrt` to `outputs` are differentiated; gradients of a
 * value used several times are summed. Backward nodes are named `grad.<forward node>/…`.
 */
export function gradients(
  g: GraphBuilder, outputs: readonly Value[], wrt: readonly Value[], seed: readonly (Value | number)[], opts: GradientOptions = {},
): Gradients {
  if (seed.length !== outputs.length) throw new Error(`gradients: ${seed.length} seeds for ${outputs.length} outputs`);
  for (const v of [...outputs, ...wrt]) {
    if (!isFloat(v.dtype)) throw new TypeError(`gradients: ${v.name} is ${v.dtype}, not a floating-point value`);
  }
  const stopped = new Set((opts.stop ?? []).map((v) => v.name));

  // Forward: which values depend on wrt (through differentiable nodes, not through stopped values).
  const live = new Set(wrt.map((v) => v.name));
  const onPath: boolean[] = g.nodes.map((n) => {
    const def = n.domain === '' ? OPS[n.opType] : undefined;
    if (def?.vjp === 'none' || !n.inputs.some((i) => live.has(i))) return false;
    for (const o of n.outputs) if (!stopped.has(o)) live.add(o);
    return true;
  });
  // Backward: of those, the nodes an output depends on.
  const wanted = new Set(outputs.map((v) => v.name));
  for (let k = g.nodes.length - 1; k >= 0; k--) {
    const n = g.nodes[k]!;
    if (onPath[k] && n.outputs.some((o) => wanted.has(o) && live.has(o))) n.inputs.forEach((i) => wanted.add(i));
    else onPath[k] = false;
  }

  const b = opts.into ?? g;
  const value = opts.into ? opts.into.include(g, {}, [...outputs, ...wrt]) : (v: Value) => v;
  const grad = new Map<string, Value>();
  const accumulate = (name: string, d: Value): void => {
    const prev = grad.get(name);
    grad.set(name, prev ? b.add(prev, d) : d);
  };
  outputs.forEach((o, k) => {
    if (!live.has(o.name)) return;
    const s = seed[k]!;
    const y = value(o);
    if (typeof s !== 'number' && (s.dtype !== y.dtype || (isStatic(s.shape) && isStatic(y.shape) && fmt(s.shape) !== fmt(y.shape))))
      throw new TypeError(`gradients: seed ${s.name} ${s.dtype}${fmt(s.shape)} does not match output ${o.name} ${y.dtype}${fmt(y.shape)}`);
    accumulate(o.name, typeof s === 'number' ? b.expand(b.scalar(s, y.dtype), b.shape(y)) : s);
  });

  b.scope('grad', () => {
    for (let k = g.nodes.length - 1; k >= 0; k--) {
      if (!onPath[k]) continue;
      const n = g.nodes[k]!;
      const gys = n.outputs.map((o) => grad.get(o) ?? null);
      if (gys.every((v) => v === null)) continue;
      const rule = n.domain === '' ? OPS[n.opType]?.vjp : undefined;
      if (typeof rule !== 'function') throw new Error(`gradients: no gradient rule for ${n.opType} (node ${n.name})`);
      const ins = n.inputs.map((i) => (i ? g.value(i) : null));
      const args: VjpArgs = {
        b, attrs: n.attrs, where: n.name, outputs: n.outputs.length,
        x: (i) => (ins[i] ? value(ins[i]!) : null),
        y: (i) => value(g.value(n.outputs[i]!)),
        gy: (i) => gys[i] ?? null,
        need: (i) => !!ins[i] && live.has(ins[i]!.name) && !stopped.has(ins[i]!.name) && isFloat(ins[i]!.dtype),
        constant: (i) => (ins[i] ? g.constValue(ins[i]!) : undefined),
      };
      const dx = b.scope(n.name, () => rule(args));
      dx.forEach((d, i) => {
        if (d && args.need(i)) accumulate(ins[i]!.name, d);
      });
    }
  });
  const grads = wrt.map((v) => grad.get(v.name) ?? b.scope('grad', () => zerosLike(b, value(v))));
  return { grads, value };
}
