// The per-image tensor cache any pipeline can keep: memory LRU by bytes (an entry weighs what its derived values add),
// derived values dropped with their tensor, and a float16 disk copy with the pipeline's scale that never turns a
// positive value into 0 when asked not to.
import { readdirSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheKey, TensorCache } from '../../../src/core/pipelines/common/tensorCache';
import { tempDir } from '../../helpers/folder';

let dir: ReturnType<typeof tempDir>;
beforeEach(() => (dir = tempDir()));
afterEach(() => dir.cleanup());

const tensor = (n: number, v: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => v(i));

describe('TensorCache', () => {
  it('keeps the most recently used entries within its memory budget, counting each entryWeight times', async () => {
    const cache = new TensorCache({ memoryBytes: 3 * 4096 }, { entryWeight: 1.5 }); // two 4 KiB tensors fit, not three
    const [a, b, c] = ['a', 'b', 'c'].map((s) => cacheKey(s, 'model', 'v1'));
    cache.put(a!, tensor(1024, () => 1));
    cache.put(b!, tensor(1024, () => 2));
    expect(await cache.derived(a!, 'sum', () => 1024)).toBe(1024);
    await cache.get(a!); // a is now the most recent
    cache.put(c!, tensor(1024, () => 3));
    expect(cache.hasInMemory(a!)).toBe(true);
    expect(cache.hasInMemory(b!)).toBe(false);
    expect(cache.stats.evictedMemory).toBe(1);
    expect(await cache.get(b!)).toBeNull();
    // A derived value is computed once while its tensor is held…
    let computed = 0;
    const twice = async () => cache.derived(a!, 'x', () => ++computed);
    expect([await twice(), await twice()]).toEqual([1, 1]);
    // …and not kept without it.
    expect(await cache.derived(b!, 'x', () => ++computed)).toBe(2);
    expect(await cache.derived(b!, 'x', () => ++computed)).toBe(3);
  });

  it('writes float16 with the scale it is given and reads it back; keepPositive holds tiny values above 0', async () => {
    const values = tensor(4096, (i) => (i === 0 ? 1e-10 : (i % 97) / 4096));
    const key = cacheKey('img', 'model', 'v1');
    for (const keepPositive of [true, false]) {
      const disk = `${dir.path}/${keepPositive}`;
      const w = new TensorCache({ diskDir: disk }, { scale: (t) => Math.sqrt(t.length), keepPositive });
      w.put(key, values);
      await w.flush();
      expect(readdirSync(disk)).toEqual([`${key}.f16`]);
      const back = (await new TensorCache({ diskDir: disk }).get(key))!;
      expect(back[0]! > 0).toBe(keepPositive);
      let worst = 0;
      for (let i = 1; i < values.length; i++) worst = Math.max(worst, Math.abs(back[i]! - values[i]!) / Math.max(values[i]!, 1e-3));
      expect(worst).toBeLessThan(1e-3); // fp16 keeps ~3 significant digits of values scaled to ~1
    }
  });
});
