// Cheap static shape inference helpers. Dims are numbers, symbolic names (strings) or null (unknown).

export type Dim = number | string | null;
/** null = unknown rank. */
export type Shape = Dim[] | null;

export class ShapeError extends Error {}

export function fmt(shape: Shape): string {
  return shape === null ? '[?]' : `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function isStatic(shape: Shape): shape is number[] {
  return shape !== null && shape.every((d) => typeof d === 'number');
}

export function normAxis(axis: number, rank: number, where: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new ShapeError(`${where}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

function broadcastDim(a: Dim, b: Dim): Dim | undefined {
  if (a === b) return a;
  if (a === 1) return b;
  if (b === 1) return a;
  if (typeof a === 'number' && typeof b === 'number') return undefined; // genuine mismatch
  if (typeof a === 'number') return a; // symbolic vs fixed: the fixed size must be it
  if (typeof b === 'number') return b;
  return null;
}

/** Numpy-style multidirectional broadcast. */
export function broadcast(shapes: Shape[], where: string): Shape {
  if (shapes.some((s) => s === null)) return null;
  const ss = shapes as Dim[][];
  const rank = Math.max(...ss.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of ss) {
      const k = s.length - rank + i;
      if (k < 0) continue;
      const r = broadcastDim(d, s[k]!);
      if (r === undefined) throw new ShapeError(`${where}: cannot broadcast ${ss.map(fmt).join(' with ')}`);
      d = r;
    }
    out.push(d);
  }
  return out;
}

export function sameDim(a: Dim, b: Dim): boolean {
  return !(typeof a === 'number' && typeof b === 'number' && a !== b);
}

export function matmulShape(a: Shape, b: Shape, where: string): Shape {
  if (a === null || b === null) return null;
  if (a.length < 1 || b.length < 1) throw new ShapeError(`${where}: MatMul needs rank >= 1`);
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const k1 = a2[a2.length - 1]!;
  const k2 = b2[b2.length - 2]!;
  if (!sameDim(k1, k2)) throw new ShapeError(`${where}: MatMul inner dims differ, ${fmt(a)} x ${fmt(b)}`);
  const batch = broadcast([a2.slice(0, -2), b2.slice(0, -2)], where)!;
  const out = [...batch, a2[a2.length - 2]!, b2[b2.length - 1]!];
  if (a.length === 1) out.splice(out.length - 2, 1);
  if (b.length === 1) out.splice(out.length - 1, 1);
  return out;
}

export function convShape(
  x: Shape, w: Shape, strides: number[], pads: number[], dilations: number[], group: number, where: string,
): Shape {
  if (x === null || w === null) return null;
  if (x.length !== w.length) throw new ShapeError(`${where}: Conv input ${fmt(x)} and weight ${fmt(w)} ranks differ`);
  const c = x[1]!;
  const wc = w[1]!;
  if (typeof c === 'number' && typeof wc === 'number' && c !== wc * group)
    throw new ShapeError(`${where}: Conv input has ${c} channels but weight ${fmt(w)} expects ${Number(wc) * group}`);
  const sp = x.length - 2;
  const out: Dim[] = [x[0]!, w[0]!];
  for (let i = 0; i < sp; i++) {
    const d = x[2 + i]!;
    const k = w[2 + i]!;
    if (typeof d !== 'number' || typeof k !== 'number') { out.push(null); continue; }
    const eff = (dilations[i] ?? 1) * (k - 1) + 1;
    const v = Math.floor((d + (pads[i] ?? 0) + (pads[i + sp] ?? 0) - eff) / (strides[i] ?? 1)) + 1;
    if (v < 1) throw new ShapeError(`${where}: Conv output size ${v} < 1 for input ${fmt(x)}`);
    out.push(v);
  }
  return out;
}

export function reshapeShape(x: Shape, target: number[], allowZero: boolean, where: string): Shape {
  const out: Dim[] = target.map((t, i) => (t === 0 && !allowZero ? (x ? x[i] ?? null : null) : t));
  const neg = out.filter((d) => d === -1).length;
  if (neg > 1) throw new ShapeError(`${where}: Reshape target ${fmt(target)} has more than one -1`);
  if (x && isStatic(x)) {
    const total = numel(x);
    const known = out.filter((d) => d !== -1);
    if (known.every((d) => typeof d === 'number')) {
      const prod = numel(known as number[]);
      if (neg === 1) {
        if (prod === 0 || total % prod !== 0)
          throw new ShapeError(`${where}: cannot reshape ${fmt(x)} to ${fmt(target)}`);
        out[out.indexOf(-1)] = total / prod;
      } else if (prod !== total) throw new ShapeError(`${where}: cannot reshape ${fmt(x)} (${total} elements) to ${fmt(target)}`);
    }
  }
  return out.map((d) => (d === -1 ? null : d));
}

export function sliceDim(d: Dim, start: number, end: number, step: number): Dim {
  if (typeof d !== 'number') return null;
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + d : start;
  let e = end < 0 ? end + d : end;
  if (step > 0) {
    s = clamp(s, 0, d);
    e = clamp(e, 0, d);
    return Math.max(0, Math.ceil((e - s) / step));
  }
  s = clamp(s, -1, d - 1);
  e = clamp(e, -1, d - 1);
  return Math.max(0, Math.ceil((e - s) / step));
}
