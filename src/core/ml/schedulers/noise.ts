// The seeded noise of a sampling run: start latents, DDPM's per-step noise, DDIM's with η > 0, Peekaboo's timesteps.
// xoshiro128** (seeded through SplitMix64) gives the uniform stream, Box–Muller turns it into standard normals. This
// is not torch's generator: a seed reproduces a run within DiffLabel (any machine: only integer arithmetic and V8's
// own log/sin/cos), never a run of another tool with the same seed.
import type { NoiseSource } from './schedule';

/** The largest seed: seeds are non-negative integers a double holds exactly. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

export class GaussianNoise implements NoiseSource {
  private readonly s = new Uint32Array(4);
  /** Box–Muller makes normals in pairs; the second waits here. */
  private spare: number | undefined;

  constructor(readonly seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`a seed must be an integer from 0 to ${MAX_SEED}, not ${seed}`);
    // SplitMix64 spreads any seed (0 and 1 included) over the 128-bit state, as xoshiro's authors recommend.
    let x = BigInt(seed);
    const M = (1n << 64n) - 1n;
    for (let i = 0; i < 4; i += 2) {
      x = (x + 0x9e3779b97f4a7c15n) & M;
      let z = x;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
      z ^= z >> 31n;
      this.s[i] = Number(z & 0xffffffffn);
      this.s[i + 1] = Number(z >> 32n);
    }
  }

  /** The next 32 uniform bits (xoshiro128**). */
  uint32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2] ^= s[0]!;
    s[3] ^= s[1]!;
    s[1] ^= s[2]!;
    s[0] ^= s[3]!;
    s[2] ^= t;
    s[3] = rotl(s[3]!, 11);
    return r;
  }

  /** Uniform in [0, 1), 53 random bits. */
  uniform(): number {
    return ((this.uint32() >>> 5) * 67108864 + (this.uint32() >>> 6)) / 9007199254740992;
  }

  /** Uniform integer in [lo, hi], both included (Peekaboo's t ~ U{20, …, 980}). */
  uniformInt(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi < lo) throw new RangeError(`no integers in [${lo}, ${hi}]`);
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }

  /** One standard normal value. */
  normal(): number {
    if (this.spare !== undefined) {
      const z = this.spare;
      this.spare = undefined;
      return z;
    }
    const r = Math.sqrt(-2 * Math.log(1 - this.uniform())); // 1 − u is in (0, 1]: log never sees 0
    const theta = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  fill(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal();
    return out;
  }
}

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

/** A fresh seed for a run the user gave none: record it with the run so that it can be repeated. */
export function randomSeed(): number {
  const w = crypto.getRandomValues(new Uint32Array(2));
  return (w[0]! & 0x1fffff) * 4294967296 + w[1]!;
}
