// Peekaboo through the API as the app uses it, on the fixture model: a text prompt naming a category runs as a job
// whose progress events carry the live mask of the image being optimised; its proposal is offered in that category;
// the prompt is stored with the run and listed for running it again (each prompt once, the last used first).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../../src/core/api/backend';
import type { EventPayload } from '../../../src/shared/contract';
import { fromCompressedString, decode } from '../../../src/shared/masks';
import { fixtureScene } from '../../../src/core/pipelines/peekaboo/fixture';
import { tempDir } from '../../helpers/folder';

const scene = fixtureScene();
// Alpha side 64 and a few Adam steps: seconds on two shared cores, and the disk is found (docs/peekaboo.md).
const params = { size: 64, preset: 'fast', iterations: 30, learningRate: 3e-3 };

describe('Peekaboo in the app (API)', () => {
  const dir = tempDir();
  let backend: Backend;
  let imageId: number;
  let red: number;
  const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
  const progress: EventPayload<'job.progress'>[] = [];

  beforeAll(async () => {
    const { data, width, height } = scene.rgb;
    writeFileSync(join(dir.path, 'scene.png'), await sharp(Buffer.from(data), { raw: { width, height, channels: 3 } }).png().toBuffer());
    backend = new Backend({ shell: 'web' });
    backend.onEvent((e, p) => e === 'job.progress' && progress.push(p as EventPayload<'job.progress'>));
    backend.openProject(dir.path);
    await backend.jobs.wait((await call('project.index', {})).jobId);
    imageId = (await call('images.list', {})).items[0].id;
    red = (await call('categories.add', { name: 'red disk' })).id;
  });
  afterAll(async () => {
    await backend.close();
    dir.cleanup();
  });

  it('sends the live mask with the job\'s progress and offers the proposal in the prompt\'s category', async () => {
    const { jobId } = await call('pipelines.run', { pipeline: 'peekaboo', model: 'fixture', imageIds: [imageId], params, prompt: { kind: 'text', text: 'red', categoryId: red } });
    const job = await backend.jobs.wait(jobId);
    expect(job).toMatchObject({ state: 'done', result: { segmented: 1, proposals: 1, failed: [] } });

    const previews = progress.filter((p) => p.jobId === jobId && p.preview).map((p) => p.preview!);
    expect(previews.length).toBeGreaterThanOrEqual(1);
    for (const p of previews) {
      expect(p.imageId).toBe(imageId);
      expect(p.mask.size).toEqual([scene.rgb.height, scene.rgb.width]);
    }
    // The last preview is the final mask: the stored proposal.
    const [proposal] = (await call('annotations.list', { imageId })) as any[];
    expect(proposal).toMatchObject({ source: 'peekaboo', categoryId: null, proposed: true, suggestedCategoryId: red });
    expect(previews.at(-1)!.mask.counts).toBe(proposal.mask.counts);
    const m = decode(fromCompressedString(proposal.mask.counts, scene.rgb.height, scene.rgb.width));
    let inter = 0, union = 0;
    for (let i = 0; i < m.length; i++) {
      inter += m[i]! & scene.truth.red[i]!;
      union += m[i]! | scene.truth.red[i]!;
    }
    expect(inter / union).toBeGreaterThanOrEqual(0.8);
  }, 300_000);

  it('lists the prompts given, each once with its runs, the last used first', async () => {
    const run = async (text: string, categoryId?: number) =>
      backend.jobs.wait((await call('pipelines.run', { pipeline: 'peekaboo', model: 'fixture', imageIds: [imageId], params: { ...params, iterations: 1 }, prompt: { kind: 'text', text, ...(categoryId ? { categoryId } : {}) } })).jobId);
    await run('blue');
    await run('red', red);
    const list = await call('prompts.list', { pipeline: 'peekaboo' });
    expect(list.map((x: any) => [x.prompt, x.runs])).toEqual([
      [{ kind: 'text', text: 'red', categoryId: red }, 2],
      [{ kind: 'text', text: 'blue' }, 1],
    ]);
    expect(list[0].usedAt).toBeGreaterThanOrEqual(list[1].usedAt);
    expect(await call('prompts.list', { pipeline: 'peekaboo', limit: 1 })).toHaveLength(1);
    expect(await call('prompts.list', { pipeline: 'diffseg' })).toEqual([]);
    await expect(call('prompts.list', { pipeline: 'nosuch' })).rejects.toMatchObject({ code: 'bad_request' });
  }, 300_000);
});
