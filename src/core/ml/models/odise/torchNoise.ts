// torch's CPU `torch.randn(shape, generator=torch.Generator().manual_seed(seed))` for float32 tensors of 16 or more
// elements: ODISE's fixed noise is randn(1,4,64,64) with seed 42 (ldm.py:271-277). Generated rather than shipped as a
// 64 KB tensor: the algorithm is short and exact in its integers (mt19937), and the only differences from torch are in
// the last bit of some values (torch evaluates log/sin/cos in float32, scalar or AVX2 depending on the CPU, so torch
// itself gives two answers, e.g. 1.9269150 or 1.9269153 for the first value; here they are double rounded to float32).

/** The 32-bit Mersenne Twister (std::mt19937 / at::mt19937), seeded as torch seeds it (init_genrand). */
export class Mt19937 {
  private readonly mt = new Uint32Array(624);
  private i = 624;

  constructor(seed: number) {
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let j = 1; j < 624; j++) {
      const p = mt[j - 1]! ^ (mt[j - 1]! >>> 30);
      // 1812433253 · p + j mod 2³², multiplied in 16-bit halves to stay exact
      mt[j] = (((((p & 0xffff0000) >>> 16) * 1812433253) << 16) + (p & 0x0000ffff) * 1812433253 + j) >>> 0;
    }
  }

  next(): number {
    const mt = this.mt;
    if (this.i >= 624) {
      for (let k = 0; k < 624; k++) {
        const y = (mt[k]! & 0x80000000) | (mt[(k + 1) % 624]! & 0x7fffffff);
        mt[k] = mt[(k + 397) % 624]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.i = 0;
    }
    let y = mt[this.i++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
}

/**
 * torch's normal_fill (aten/src/ATen/native/cpu/DistributionTemplates.h): every element a float uniform (24 random
 * bits), then Box–Muller on blocks of 16 (u1 = 1 − data[j], u2 = data[j+8], j < 8); when the count is not a multiple
 * of 16, the last 16 elements are drawn again and transformed as one more block.
 */
export function torchRandn(count: number, seed: number): Float32Array {
  if (!Number.isInteger(count) || count < 16) throw new RangeError(`torch's vectorised normal fill needs at least 16 values, not ${count}`);
  const gen = new Mt19937(seed);
  const uniform = () => Math.fround((gen.next() & 0xffffff) * Math.fround(1 / 16777216));
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = uniform();
  const block = (at: number) => {
    for (let j = 0; j < 8; j++) {
      const u1 = Math.fround(1 - data[at + j]!);
      const u2 = data[at + j + 8]!;
      const radius = Math.fround(Math.sqrt(Math.fround(-2 * Math.fround(Math.log(u1)))));
      const theta = Math.fround(Math.fround(2 * Math.PI) * u2);
      data[at + j] = Math.fround(radius * Math.fround(Math.cos(theta)));
      data[at + j + 8] = Math.fround(radius * Math.fround(Math.sin(theta)));
    }
  };
  for (let i = 0; i + 16 <= count; i += 16) block(i);
  if (count % 16) {
    for (let i = count - 16; i < count; i++) data[i] = uniform();
    block(count - 16);
  }
  return data;
}

/** ODISE's shared noise: randn(1, 4, 64, 64) from seed 42, [1, 4, 64, 64] row-major. */
export function odiseNoise(channels = 4, side = 64): Float32Array {
  return torchRandn(channels * side * side, 42);
}
