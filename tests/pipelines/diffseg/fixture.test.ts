// The DiffSeg fixture bundle (NOT Stable Diffusion) is a valid bundle with the real interface, and its maps are
// attention-like: every row a distribution, same-colour positions attending to each other.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyBundle } from '../../../src/core/ml/bundle';
import { SessionManager } from '../../../src/core/ml/runtime';
import { writeFixtureBundle } from '../../../src/core/pipelines/diffseg/fixture';
import { openBundleModels } from '../../../src/core/pipelines/diffseg/models';

const dir = mkdtempSync(join(tmpdir(), 'difflabel-fixture-bundle-'));
const host = new SessionManager();
afterAll(async () => {
  await host.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('DiffSeg fixture bundle', () => {
  it('verifies as a model bundle and runs through the bundle path', async () => {
    const b = await writeFixtureBundle(join(dir, 'fixture'));
    const report = await verifyBundle(b);
    expect(report.manifest.warnings.join(' ')).toMatch(/FIXTURE/);
    expect(report.components.map((c) => c.key).sort()).toEqual(['text_encoder', 'unet_diffseg', 'vae_encoder']);
    const models = openBundleModels(b, { host });
    // left half red, right half blue
    const img = new Float32Array(3 * 512 * 512);
    for (let y = 0; y < 512; y++) for (let x = 0; x < 512; x++) {
      const left = x < 256;
      img[y * 512 + x] = left ? 0.8 : -0.8;
      img[2 * 512 * 512 + y * 512 + x] = left ? -0.8 : 0.8;
    }
    const latent = await models.encode(img);
    expect(latent).toHaveLength(4 * 64 * 64);
    expect(latent[10 * 64 + 5]).toBeCloseTo(0.8, 5);
    const maps = await models.attention(latent.map((v) => v * models.scalingFactor));
    expect([...maps.keys()].sort((a, b) => a - b)).toEqual([8, 16, 32, 64]);
    for (const [s, m] of maps) {
      const n = s * s;
      for (const q of [0, n - 1, (n >> 1) + 3]) {
        let sum = 0, same = 0;
        const qLeft = q % s < s / 2;
        for (let k = 0; k < n; k++) {
          sum += m[q * n + k]!;
          if (k % s < s / 2 === qLeft) same += m[q * n + k]!;
        }
        expect(sum).toBeCloseTo(1, 4);
        expect(same, `side ${s}, query ${q}`).toBeGreaterThan(0.9);
      }
    }
    expect(models.stats).toEqual({ encode: 1, attention: 1 });
  });
});
