// The click tool's hover preview: `pipelines.preview` with cachedOnly answers from the attention cache only and
// never runs a model — before the image's first click it is refused (409) and nothing is cached by it.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { disposeSharedInferenceHost } from '../../src/core/pipelines/common/inference';
import type { MethodOutput } from '../../src/shared/contract';
import { shapeCentre } from '../pipelines/diffseg/fixture-scenes';
import { sceneProject, type SceneProject } from '../pipelines/diffseg/helpers';

let p: SceneProject;
let backend: Backend;

beforeAll(async () => {
  p = await sceneProject([[320, 240, 3, 41]]);
  p.store.close();
  backend = new Backend({ shell: 'web' });
  backend.openProject(p.dir);
});
afterAll(async () => {
  await backend.close();
  await disposeSharedInferenceHost();
  p.cleanup();
});

const cacheFiles = () => {
  const d = join(p.dir, '.difflabel', 'cache', 'diffseg');
  return existsSync(d) ? readdirSync(d, { recursive: true }).length : 0;
};

describe('hover preview (cachedOnly)', () => {
  it('is refused with conflict before the image has been clicked, runs no model, then answers the same mask as a click', async () => {
    const [imageId, scene] = [...p.scenes.entries()][0]!;
    const a = shapeCentre(scene.shapes[0]!), b = shapeCentre(scene.shapes[1]!);
    const preview = (points: { x: number; y: number; positive: boolean }[], cachedOnly?: boolean) =>
      backend.dispatch('pipelines.preview', { pipeline: 'diffseg', imageId, prompt: { kind: 'points', points }, model: 'fixture', ...(cachedOnly ? { cachedOnly } : {}) }) as Promise<MethodOutput<'pipelines.preview'>>;

    await expect(preview([{ ...a, positive: true }], true)).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/not been segmented yet/) });
    expect(cacheFiles()).toBe(0);

    const first = await preview([{ ...a, positive: true }]);
    expect(first.cached).toBe(false);
    // The hover at b with the point at a placed: what a click at b then gives.
    const hover = await preview([{ ...a, positive: true }, { ...b, positive: true }], true);
    expect(hover.cached).toBe(true);
    const click = await preview([{ ...a, positive: true }, { ...b, positive: true }]);
    expect(hover.mask).toEqual(click.mask);
    expect(hover.area).toBeGreaterThan(first.area);
  });
});
