// The odise_inference_O golden case through the kind `npm run golden` runs: every reference output of the label,
// caption and demo configurations within tolerance (panoptic maps, segments and instances exactly), and a copy of the
// case whose configuration is changed failing where the reference code's results depend on it.
import { afterAll, describe, expect, it } from 'vitest';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withinTolerance, type CaseManifest } from '../../../src/core/golden/compare';
import { odiseInferenceKind } from '../../../src/core/golden/odiseInference';
import { GOLDEN_KINDS } from '../../../src/core/golden/registry';
import { SafetensorsFile } from '../../../src/core/ml/weights';
import { releaseMathSessions } from '../../../src/core/pipelines/common/inference';
import { tempDir } from '../../helpers/folder';
import { golden } from '../../ml/weights.helpers';

const CASE = golden('odise_inference_O');
const RUNS = ['label_cfg', 'caption_cfg', 'demo_cfg'];
const manifest = () => JSON.parse(readFileSync(join(CASE, 'manifest.json'), 'utf8')) as CaseManifest;
const dir = tempDir('difflabel-odise-');
afterAll(async () => {
  dir.cleanup();
  await releaseMathSessions();
});

/** A copy of the case whose config.json went through `change`. */
function changedCase(name: string, change: (cfg: { runs: { tag: string; alpha: number; beta: number; overlap_threshold: number }[] }) => void): string {
  const path = join(dir.path, name);
  cpSync(CASE, path, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(path, 'config.json'), 'utf8'));
  change(cfg);
  writeFileSync(join(path, 'config.json'), JSON.stringify(cfg));
  return path;
}

const failing = async (path: string) => (await odiseInferenceKind.check(path, manifest())).filter((c) => !withinTolerance(c)).map((c) => c.name);

describe('odise_inference golden case', () => {
  it('matches every reference output of the three configurations, discrete ones exactly', async () => {
    expect(GOLDEN_KINDS[manifest().kind]).toBe(odiseInferenceKind);
    const checks = await odiseInferenceKind.check(CASE, manifest());
    expect(checks.filter((c) => !withinTolerance(c))).toEqual([]);
    const names = checks.map((c) => c.name);
    for (const run of RUNS) {
      const outputs = SafetensorsFile.open(join(CASE, `outputs_${run}.safetensors`)).keys();
      expect(outputs.length).toBe(23);
      // Instances are checked as sets: one check for classes and masks, one for scores.
      const covered = outputs.filter((k) => !/instances\.(pred_classes|pred_masks)$/.test(k)).map((k) => `${run}/${k}`);
      for (const k of covered) expect(names, k).toContain(k);
      for (const img of ['img0', 'img1']) expect(names).toContain(`${run}/${img}.instances`);
      expect(names).toContain(`${run}/segments_info`);
    }
    const exact = checks.filter((c) => /panoptic_seg|segments_info|attn_mask|\.instances$/.test(c.name));
    expect(exact.every((c) => c.measure === 'mismatches' && c.tolerance === 0)).toBe(true);
    expect(exact).toHaveLength(3 * (1 + 2 * 2 + 1));
  });

  it('fails the label configuration run with the caption model\'s weights, and the demo run with the overlap test on', async () => {
    const swapped = await failing(changedCase('weights', (cfg) => {
      const label = cfg.runs.find((r) => r.tag === 'label_cfg')!;
      Object.assign(label, { alpha: 0.35, beta: 0.65 });
    }));
    expect(swapped).toContain('label_cfg/pred_open_logits_ensembled');
    expect(swapped.every((n) => n.startsWith('label_cfg/'))).toBe(true);
    const overlap = await failing(changedCase('overlap', (cfg) => {
      cfg.runs.find((r) => r.tag === 'demo_cfg')!.overlap_threshold = 0.8;
    }));
    // The demo's extra segments come from queries that win under 80 % of their own mask.
    expect(overlap).toEqual(['demo_cfg/img0.panoptic_seg', 'demo_cfg/img1.panoptic_seg', 'demo_cfg/segments_info']);
  });
});
