// `segment --pipeline peekaboo --prompt "…"`: the text itself is the prompt (JSON still works), the preset and the
// iterations are options; the run stores the text prompt and a proposal; an empty text and an unknown preset are
// usage errors (exit 2) said in words.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectStore } from '../../src/core/project';
import { fixtureScene } from '../../src/core/pipelines/peekaboo/fixture';
import { decode, fromCompressedString } from '../../src/shared/masks';
import { tempDir } from '../helpers/folder';

const root = join(__dirname, '..', '..');
const cli = (...args: string[]) =>
  spawnSync(join(root, 'node_modules', '.bin', 'node'), [join(root, 'bin', 'difflabel.mjs'), ...args], { encoding: 'utf8', cwd: root });

const dir = tempDir();
const folder = join(dir.path, 'scene');
const scene = fixtureScene();
// Alpha side 64 and a few Adam steps at a higher rate: seconds, and the disk is found (docs/peekaboo.md).
const quick = ['--size', '64', '--learning-rate', '3e-3'];

beforeAll(async () => {
  mkdirSync(folder);
  const { data, width, height } = scene.rgb;
  writeFileSync(join(folder, 'scene.png'), await sharp(Buffer.from(data), { raw: { width, height, channels: 3 } }).png().toBuffer());
});
afterAll(() => dir.cleanup());

describe('segment --pipeline peekaboo', () => {
  it('takes the text itself as the prompt, with --preset and --iterations, and stores the prompt and the proposal', () => {
    const r = cli('segment', folder, '--pipeline', 'peekaboo', '--model', 'fixture', '--prompt', 'red', '--preset', 'fast', '--iterations', '30', ...quick, '--json');
    expect(r.stderr).not.toMatch(/Error|at .*\.ts/);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ pipeline: 'peekaboo', segmented: 1, proposals: 1, params: { preset: 'fast', optimizer: 'adam', iterations: 30 } });
    const store = ProjectStore.open(folder);
    try {
      const img = store.getImageByPath('scene.png')!;
      const [run] = store.listRuns({ imageId: img.id, pipeline: 'peekaboo' });
      expect(store.listPrompts({ runId: run!.id })).toMatchObject([{ kind: 'text', payload: { text: 'red', pipeline: 'peekaboo' } }]);
      const [a] = store.listAnnotations({ imageId: img.id });
      const m = decode(fromCompressedString(a!.rle, a!.height, a!.width));
      let inter = 0, union = 0;
      for (let i = 0; i < m.length; i++) {
        inter += m[i]! & scene.truth.red[i]!;
        union += m[i]! | scene.truth.red[i]!;
      }
      expect(inter / union).toBeGreaterThanOrEqual(0.8);
    } finally {
      store.close();
    }
  }, 300_000);

  it('refuses an empty text, a prompt of another kind and an unknown preset, with exit 2', () => {
    const empty = cli('segment', folder, '--pipeline', 'peekaboo', '--model', 'fixture', '--prompt', '  ');
    expect(empty.status).toBe(2);
    expect(empty.stderr).toMatch(/--prompt: text/);
    const points = cli('segment', folder, '--pipeline', 'peekaboo', '--model', 'fixture', '--prompt', '{"kind":"points","points":[{"x":1,"y":1,"positive":true}]}');
    expect(points.status).toBe(2);
    expect(points.stderr).toMatch(/takes a text prompt, not points/);
    const preset = cli('segment', folder, '--pipeline', 'peekaboo', '--model', 'fixture', '--prompt', 'red', '--preset', 'slow');
    expect(preset.status).toBe(2);
    expect(preset.stderr).toMatch(/preset/);
    for (const r of [empty, points, preset]) expect(r.stderr).not.toMatch(/at .*\.(ts|js):\d+/);
  }, 120_000);
});
