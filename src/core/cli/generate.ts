// `difflabel generate`: text → images with grounding masks, written into the project (pipelines/grounded). Progress on
// stderr, the report on stdout; exit 0 done, 1 error or cancelled, 2 bad usage.
import { CommanderError, InvalidArgumentError, Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { randomSeed, MAX_SEED } from '../ml/schedulers';
import { ProjectStore } from '../project';
import { ModelNotFoundError, resolveBundle } from '../pipelines/common/bundles';
import { disposeSharedInferenceHost, sharedInferenceHost } from '../pipelines/common/inference';
import { DEFAULT_STEPS, generateDataset, GenerateInputError, GROUNDED_GENERATORS, openGroundedModels, SAMPLER_NAMES } from '../pipelines/grounded';
import { progressPrinter } from './progress';
import { onStopSignal } from './signals';

type Out = NodeJS.WritableStream & { isTTY?: boolean };


const collect = (v: string, prev: string[] = []) => [...prev, v];

function integer(what: string, min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${what} must be an integer from ${min} to ${max}, not ${v}`);
    return n;
  };
}

function scale(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`not a guidance scale ≥ 0: ${v}`);
  return n;
}

interface GenerateFlags {
  prompt: string[]; negativePrompt: string; category: string[]; count: number; seed?: number; sampler: string; steps?: number; scale: number; grounding: 'module' | 'attention'; model?: string; outSubfolder: string; json?: boolean;
}

export function registerGenerateCommand(program: Command, io: { out: Out; err: Out }, setExit: (code: number) => void, fail: (message: string) => Error): void {
  const say = (s: string) => io.out.write(s + '\n');
  program
    .command('generate')
    .description('generate images from text with a mask per named category (grounded diffusion), added to the project as images with annotations')
    .argument('<folder>', 'the project folder')
    .requiredOption('--prompt <text>', 'what to generate (repeat for several prompts)', collect)
    .requiredOption('--category <name>', 'an object of the prompt to mask, annotated under this category, created if missing (repeat for several)', collect)
    .option('--negative-prompt <text>', 'what the images should not show', '')
    .option('--count <n>', 'images per prompt', integer('--count', 1, 10000), 1)
    .option('--seed <n>', 'seed of the first image of each prompt (image j gets seed + j); default: a random one, printed', integer('--seed', 0, MAX_SEED))
    .addOption(new Option('--sampler <name>', 'sampler').choices(Object.keys(SAMPLER_NAMES)).default('ddim'))
    .option('--steps <n>', 'sampling steps (default: 50 for ddim and pndm, 25 for dpmpp)', integer('--steps', 1, 1000))
    .option('--scale <s>', 'classifier-free guidance scale', scale, 7.5)
    .addOption(new Option('--grounding <mode>', 'how masks are made: the grounding module, or the categories\' cross-attention snapped to DiffSeg segments (any SD 1.x bundle; the category must be a word of the prompt)').choices(['module', 'attention']).default('module'))
    .option('--model <dir|name|fixture>', 'model bundle folder or installed bundle name; "fixture" = the test fixture (not Stable Diffusion)')
    .option('--out-subfolder <name>', 'project subfolder the images are written to', 'generated')
    .option('--json', 'print the report as JSON')
    .action(async (folder: string, o: GenerateFlags) => {
      const dir = resolve(folder);
      if (!existsSync(dir)) throw fail(`folder not found: ${dir}`);
      const sampler = SAMPLER_NAMES[o.sampler]!;
      const seed = o.seed ?? randomSeed();
      const bundle = await resolveBundle(GROUNDED_GENERATORS[o.grounding], o.model).catch((e) => {
        throw e instanceof ModelNotFoundError ? fail(e.message) : e;
      });
      const store = ProjectStore.open(dir);
      const models = openGroundedModels(bundle!.dir, sharedInferenceHost());
      const controller = new AbortController();
      const signals = onStopSignal(io.err, () => controller.abort());
      try {
        const progress = progressPrinter(io.err, 'generating');
        const report = await generateDataset(
          store, models,
          { prompts: o.prompt, categories: o.category, grounding: o.grounding, count: o.count, seed, negativePrompt: o.negativePrompt, width: 512, height: 512, sampler, steps: o.steps ?? DEFAULT_STEPS[sampler], scale: o.scale, subfolder: o.outSubfolder },
          { signal: controller.signal, onProgress: (p) => progress.update(p.done, p.total, p.steps ? `${p.path} step ${p.step}/${p.steps}` : p.path) },
        ).catch((e) => {
          throw e instanceof GenerateInputError ? new CommanderError(2, 'usage', e.message) : e;
        });
        progress.done();
        if (o.json) say(JSON.stringify({ ...report, seed }, null, 2));
        else {
          const masks = report.generated.reduce((n, g) => n + g.masks, 0);
          say(`generated ${report.generated.length} images into ${o.outSubfolder} with ${report.model} (seed ${seed}, ${o.sampler}): ${masks} masks; ${report.skipped} already there${report.cancelled ? '; cancelled' : ''}`);
          for (const g of report.generated) say(`  ${g.path}: ${g.masks} masks`);
        }
        if (report.cancelled) setExit(1);
      } finally {
        signals.release();
        await models.dispose();
        store.close();
        await disposeSharedInferenceHost(); // the inference worker thread would keep the process alive
      }
    });
}
