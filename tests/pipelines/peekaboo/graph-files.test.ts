// Step graphs hold a copy of the VAE encoder's weights (about 130 MB for SD 1.5): the folder keeps the few used last,
// so a labeler trying sizes and presets does not fill the disk.
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pruneStepGraphs } from '../../../src/core/pipelines/peekaboo/models';
import { tempDir } from '../../helpers/folder';

describe('step graph files', () => {
  it('keeps the most recently used ones and whatever is not a step graph', () => {
    const t = tempDir('difflabel-peekaboo-graphs-');
    try {
      const now = Date.now() / 1000;
      for (let i = 0; i < 6; i++) {
        const f = join(t.path, `g${i}.onnx`);
        writeFileSync(f, 'x');
        utimesSync(f, now - 100 * (6 - i), now - 100 * (6 - i)); // g5 used last
      }
      writeFileSync(join(t.path, 'notes.txt'), 'kept');
      pruneStepGraphs(t.path, 3);
      expect(readdirSync(t.path).sort()).toEqual(['g3.onnx', 'g4.onnx', 'g5.onnx', 'notes.txt']);
      pruneStepGraphs(join(t.path, 'absent'), 3); // no folder yet: nothing to do
      expect(existsSync(join(t.path, 'absent'))).toBe(false);
    } finally {
      t.cleanup();
    }
  });
});
