// The backward graphs of real models against torch autograd: the golden cases vae_grad_C and peekaboo_alpha_H.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { withinTolerance, type CaseManifest, type GoldenKind } from '../../src/core/golden/compare';
import { peekabooAlphaKind } from '../../src/core/golden/peekabooAlpha';
import { vaeGradKind } from '../../src/core/golden/vaeGrad';
import { SafetensorsFile } from '../../src/core/ml/weights';
import { golden } from './weights.helpers';

async function checkGolden(kind: GoldenKind, c: string): Promise<string[]> {
  const checks = await kind.check(golden(c), JSON.parse(readFileSync(golden(c, 'manifest.json'), 'utf8')) as CaseManifest);
  expect(checks.filter((x) => !withinTolerance(x)), c).toEqual([]);
  return checks.map((x) => x.name);
}

describe('vae_grad_C', () => {
  it('encoder (mean and sample), decoder and Peekaboo encode-chain gradients match torch float64 and float32 and the finite differences', async () => {
    const names = await checkGolden(vaeGradKind, 'vae_grad_C');
    const fd = ['x0_mean', 'x0_sample', 'z_decoder', 'rgb_peekaboo'].flatMap((l) => ['fd', 'autograd', 'dir_fd', 'dir_autograd'].map((k) => `fd_${l}_${k}`));
    expect(names).toEqual(expect.arrayContaining(['grad_x0_mean', 'grad_x1_sample', 'grad_z_decoder', 'grad_rgb_peekaboo', ...fd]));
    // Every reference output was compared (fd_*_index are the points the fd checks read).
    const outputs = SafetensorsFile.open(golden('vae_grad_C', 'outputs.safetensors')).keys().filter((k) => !k.endsWith('_index'));
    expect([...new Set(names)].sort()).toEqual(outputs.sort());
  });
});

describe('peekaboo_alpha_H', () => {
  it("alpha, composite and every parameter's gradients of Σ g·alpha and Σ alpha, for the Fourier MLP (two sizes) and the raster image", async () => {
    const names = await checkGolden(peekabooAlphaKind, 'peekaboo_alpha_H');
    for (const v of ['fourier_bilateral', 'fourier_bilateral_small']) {
      for (const p of ['model.0.weight', 'model.2.bias', 'model.9.bias']) {
        expect(names).toEqual(expect.arrayContaining([`${v}/grad.${p}`, `${v}/grad_sum_alpha_f64run.${p}`]));
      }
      expect(names).toContain(`${v}/after_forward.model.8.running_var`);
    }
    expect(names).toEqual(expect.arrayContaining(['raster_bilateral/grad.image', 'raster_bilateral/alpha', 'blur_class_defaults/blurred']));
    expect(names.filter((n) => n.includes('/fd_value['))).toHaveLength(14 + 6 + 14);
  });
});
