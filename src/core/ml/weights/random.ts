// Deterministic random weights for cost benchmarks and fixtures (FLOPs do not depend on the values).
// Matrices/kernels get uniform(-1,1)/sqrt(fan_in) so activations stay finite (NaN/denormals would skew timing);
// 1-D weights (norm scales) are 1 and biases 0.
import type { StDType } from './safetensors';
import type { WeightSource } from './source';

export class RandomWeights implements WeightSource {
  constructor(private readonly shapes: Map<string, number[]>, private readonly seed = 1) {}
  keys(): string[] {
    return [...this.shapes.keys()];
  }
  has(name: string): boolean {
    return this.shapes.has(name);
  }
  shape(name: string): number[] {
    const s = this.shapes.get(name);
    if (!s) throw new Error(`random weights: no '${name}'`);
    return [...s];
  }
  dtype(): StDType {
    return 'F32';
  }
  read(name: string): Float32Array {
    const s = this.shape(name);
    const n = s.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    if (s.length === 1) {
      if (name.endsWith('.weight')) out.fill(1);
      return out;
    }
    const scale = 1 / Math.sqrt(s.slice(1).reduce((a, b) => a * b, 1));
    let x = (this.seed * 2654435761) ^ hash(name) || 1;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = ((x >>> 0) / 2 ** 31 - 1) * scale;
    }
    return out;
  }
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h;
}
