// A bundle that holds every component Ref LDM-Seg names (unet, image_encoder, VAE) but whose UNet is not Ref LDM-Seg's
// (bundle.json names no variant: a plain SD bundle converted with --image-encoder) is not offered to it: listed as
// unavailable with the reason, skipped by the automatic choice, refused when named.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { availability, resolveBundle } from '../../../src/core/pipelines/common/bundles';
import { refldmseg } from '../../../src/core/pipelines/refldmseg/definition';
import { tempDir } from '../../helpers/folder';

describe('which bundles Ref LDM-Seg runs on', () => {
  it('not one without its variant, though it holds the components', async () => {
    const t = tempDir('difflabel-refldmseg-choice-');
    try {
      const plain = join(t.path, 'plain-sd');
      cpSync(await refldmseg.models!.fixture!(), plain, { recursive: true });
      const file = join(plain, 'bundle.json');
      const { refLdmSeg, ...manifest } = JSON.parse(readFileSync(file, 'utf8'));
      expect(refLdmSeg).toBeDefined();
      writeFileSync(file, JSON.stringify({ ...manifest, name: 'plain-sd' }));

      const named = availability(refldmseg, plain, [t.path]);
      expect(named).toMatchObject({ available: false, model: 'plain-sd', reason: expect.stringMatching(/plain-sd is not a Ref LDM-Seg bundle/) });
      expect(availability(refldmseg, undefined, [t.path])).toMatchObject({ available: false, reason: expect.stringMatching(/no model bundle for Ref LDM-Seg is installed/) });
      await expect(resolveBundle(refldmseg, plain, [t.path])).rejects.toThrow(/not a Ref LDM-Seg bundle/);
      // The same folder with its variant is taken, named or chosen.
      writeFileSync(file, JSON.stringify({ ...manifest, name: 'plain-sd', refLdmSeg }));
      expect(availability(refldmseg, undefined, [t.path])).toMatchObject({ available: true, model: 'plain-sd' });
    } finally {
      t.cleanup();
    }
  });
});
