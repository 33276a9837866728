// generate.*: text → images with masks as a job whose images are held for review, then kept into the project or
// discarded (pipelines/grounded/review.ts; docs/grounded.md says why they are held).
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { EventName, EventPayload, methods, MethodOutput } from '../../shared/contract';
import type { JobManager } from '../jobs/manager';
import { randomSeed } from '../ml/schedulers';
import { modelEnvName, resolveBundle } from '../pipelines/common/bundles';
import { sharedInferenceHost } from '../pipelines/common/inference';
import {
  callsPerImage, DEFAULT_STEPS, discardHeld, encodePng, generateDataset, GenerateInputError, GROUNDED_GENERATORS, heldMask, keepHeld, listHeld, openGroundedModels, planDataset, SAMPLER_NAMES,
  type DatasetRequest, type HeldImage,
} from '../pipelines/grounded';
import type { ProjectStore } from '../project';
import { ApiError } from './errors';
import type { ModelManager } from './models';

type Input<M extends keyof typeof methods> = z.output<(typeof methods)[M]['input']>;

export interface GenerateServiceOptions {
  jobs: JobManager;
  models: ModelManager;
  emit<E extends EventName>(event: E, payload: EventPayload<E>): void;
}

export class GenerateService {
  constructor(private readonly o: GenerateServiceOptions) {}

  /** Checks the request and the model before the job starts: a bad one is answered, not a job that fails at once. */
  async start(store: ProjectStore, input: Input<'generate.start'>): Promise<MethodOutput<'generate.start'>> {
    // One at a time: two runs with the same settings would write the same held files.
    if (this.o.jobs.list().some((j) => j.kind === 'generate' && j.state === 'running')) throw new ApiError('conflict', 'images are being generated: wait for that job or cancel it');
    const sampler = SAMPLER_NAMES[input.sampler]!;
    const seed = input.seed ?? randomSeed();
    const req: DatasetRequest = {
      prompts: [input.prompt], categories: input.categories, grounding: input.grounding, count: input.count, seed, negativePrompt: input.negativePrompt,
      width: input.width, height: input.height, sampler, steps: input.steps ?? DEFAULT_STEPS[sampler], scale: input.scale, subfolder: input.subfolder, review: true,
    };
    try {
      planDataset(req);
    } catch (e) {
      if (e instanceof GenerateInputError) throw new ApiError('bad_request', e.message);
      throw e;
    }
    const generator = GROUNDED_GENERATORS[input.grounding];
    const bundle = (await resolveBundle(generator, input.model ?? process.env[modelEnvName(generator)]))!;
    const calls = callsPerImage(sampler, req.steps);
    const job = this.o.jobs.start('generate', async (ctx) => {
      const models = openGroundedModels(bundle.dir, sharedInferenceHost());
      try {
        const images = req.prompts.length * req.count;
        const message = (done: number, step: number, steps: number) => `image ${Math.min(done + 1, images)} of ${images}${steps ? `, step ${step} of ${steps}` : ''}`;
        return await generateDataset(store, models, req, {
          signal: ctx.signal,
          preview: input.preview,
          onProgress: (p) => {
            // The job counts model calls: a bar that moves every step, not once an image.
            ctx.progress(p.done * calls + p.step, images * calls, message(p.done, p.step, p.steps));
            if (!p.steps) this.o.emit('generate.changed', {});
          },
          // A PNG: at the latent's size a few kB, and the page shows it as it is (an image, scaled up by the browser).
          onPreview: async ({ index, path, image, step, steps }) => {
            const url = `data:image/png;base64,${(await encodePng(image, {})).toString('base64')}`;
            const sample = { index, path, step, steps, width: image.width, height: image.height, image: url };
            ctx.progress(index * calls + step, images * calls, message(index, step, steps), { sample });
          },
        });
      } finally {
        await models.dispose();
      }
    });
    this.o.models.claim(job.id, { dir: bundle.dir }); // not removed while it runs
    return { jobId: job.id, seed };
  }

  held(store: ProjectStore): MethodOutput<'generate.held'> {
    return listHeld(store).map((h) => ({
      path: h.path, image: `data:image/png;base64,${readFileSync(h.file).toString('base64')}`, width: h.width, height: h.height,
      prompt: String(h.params['prompt']), seed: Number(h.params['seed']), model: h.model, masks: h.masks.map((m) => heldMask(h, m)),
    }));
  }

  async keep(store: ProjectStore, paths: string[]): Promise<MethodOutput<'generate.keep'>> {
    const kept = [];
    for (const h of this.find(store, paths)) kept.push({ path: h.path, imageId: await keepHeld(store, h) });
    this.o.emit('generate.changed', {});
    this.o.emit('project.changed', { what: 'categories' });
    this.o.emit('project.changed', { what: 'images' });
    return kept;
  }

  discard(store: ProjectStore, paths: string[]): MethodOutput<'generate.discard'> {
    const held = this.find(store, paths);
    for (const h of held) discardHeld(h);
    this.o.emit('generate.changed', {});
    return { discarded: held.length };
  }

  /** The held images at `paths`; none is touched when one of them is not held. */
  private find(store: ProjectStore, paths: string[]): HeldImage[] {
    const byPath = new Map(listHeld(store).map((h) => [h.path, h]));
    const unknown = paths.filter((p) => !byPath.has(p));
    if (unknown.length) throw new ApiError('not_found', `no generated image waits for review at ${unknown.slice(0, 3).join(', ')}${unknown.length > 3 ? ` (and ${unknown.length - 3} more)` : ''}`);
    return [...new Set(paths)].map((p) => byPath.get(p)!);
  }
}
