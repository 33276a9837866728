// A second pipeline plugged in with one registry line (tests/pipelines/toy-pipeline.ts): it is listed by
// pipelines.list with its parameters as JSON Schema, the CLI's help and options come from them, it runs as a batch job
// with progress, resume and the report, its masks are proposals like DiffSeg's, and bad parameters are refused with
// their field named.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { main } from '../../src/core/cli/main';
import { registerPipeline } from '../../src/core/pipelines/registry';
import { decode, fromCocoRle } from '../../src/shared/masks';
import type { Annotation, BatchReport, EventPayload, PipelineInfo } from '../../src/shared/contract';
import { tempDir } from '../helpers/folder';
import { makeScene, PALETTE, truthMask, writeScene, type Scene } from './diffseg/fixture-scenes';
import { toy } from './toy-pipeline';

const unregister = registerPipeline(toy);
let dir: ReturnType<typeof tempDir>;
let backend: Backend;
const scenes = new Map<string, Scene>();
const call = <T = any>(m: string, input: unknown) => backend.dispatch(m, input) as Promise<T>;
const progress: EventPayload<'job.progress'>[] = [];
const run = async (input: object) => backend.jobs.wait((await call<{ jobId: string }>('pipelines.run', { pipeline: 'toy', ...input })).jobId);

/** Runs the CLI in this process (where the toy is registered), with its output captured. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const code = await main(args, { out: { write: (s: string) => ((out += s), true) } as never, err: { write: (s: string) => ((err += s), true) } as never });
  return { code, out, err };
}

beforeAll(async () => {
  dir = tempDir();
  // Three scenes that each hold a shape of the toy's default colour (the first of the palette).
  for (let seed = 70; scenes.size < 3; seed++) {
    const s = makeScene(320, 240, 3, seed);
    if (!s.shapes.some((x) => x.color === PALETTE[0])) continue;
    scenes.set(`s${seed}.png`, s);
    await writeScene(join(dir.path, `s${seed}.png`), s);
  }
  backend = new Backend({ shell: 'web' });
  backend.onEvent((e, p) => e === 'job.progress' && progress.push(p as EventPayload<'job.progress'>));
  backend.openProject(dir.path);
  await backend.jobs.wait((await call('project.index', {})).jobId);
});
afterAll(async () => {
  await backend.close();
  unregister();
  dir.cleanup();
});

describe('a second pipeline through the socket', () => {
  it('is listed with its parameters as JSON Schema, its prompt kind and components, and is available without a model', async () => {
    const list = await call<PipelineInfo[]>('pipelines.list', {});
    expect(list.map((p) => p.id)).toEqual(['diffseg', 'refldmseg', 'prototype', 'peekaboo', 'odise', 'vocabulary', 'toy']);
    const t = list.find((p) => p.id === 'toy')!;
    expect(t).toMatchObject({ title: 'Threshold by colour', prompt: 'none', preview: null, components: [], fixture: false, available: true, model: null });
    expect(t.params).toMatchObject({
      type: 'object',
      properties: {
        colour: { type: 'string', default: '#e6194b', title: 'Colour' },
        tolerance: { type: 'integer', default: 40, minimum: 0, maximum: 255 },
        minArea: { type: 'integer', default: 16 },
      },
    });
  });

  it('runs as a batch job: progress, proposals exactly where the colour is, the report, resume', async () => {
    progress.length = 0;
    const job = await run({});
    expect(job).toMatchObject({ kind: 'toy', state: 'done' });
    expect(job.result).toMatchObject({ pipeline: 'toy', model: null, params: { colour: '#e6194b', tolerance: 40, minArea: 16 }, total: 3, segmented: 3, skipped: 0, proposals: 3, failed: [] });
    expect(progress.filter((p) => p.jobId === job.id).at(-1)).toMatchObject({ kind: 'toy', done: 3, total: 3 });
    const images = (await call<{ items: { id: number; path: string; status: string }[] }>('images.list', {})).items;
    for (const img of images) {
      const anns = await call<Annotation[]>('annotations.list', { imageId: img.id });
      expect(anns).toHaveLength(1);
      const run = backend.project!.getRun(anns[0]!.runId!)!;
      expect(run).toMatchObject({ pipeline: 'toy', status: 'done', modelBundle: null, proposes: true, params: { colour: '#e6194b', tolerance: 40 } });
      expect(anns[0]).toMatchObject({ source: 'toy', categoryId: null, proposed: true });
      const scene = scenes.get(img.path)!;
      const label = scene.shapes.findIndex((s) => s.color === PALETTE[0]) + 1;
      expect(Array.from(decode(fromCocoRle(anns[0]!.mask)))).toEqual(Array.from(truthMask(scene, label)));
      // Proposals leave the image Unlabeled, and the proposals filter finds it.
      expect(img.status).toBe('unlabeled');
    }
    expect((await call<{ total: number }>('images.list', { proposals: true })).total).toBe(3);
    expect(backend.project!.historyState(images[0]!.id).undoLabel).toBe('threshold by colour');

    expect((await run({})).result).toMatchObject({ skipped: 3, segmented: 0 });
    const other = await run({ imageIds: [images[0]!.id], params: { colour: `#${PALETTE[1]!.map((v) => v.toString(16).padStart(2, '0')).join('')}` } });
    expect(other.result).toMatchObject({ skipped: 0, segmented: 1, proposals: 1 });
  });

  it('refuses bad parameters and a prompt it does not take, naming the field, before a job starts', async () => {
    const jobs = backend.jobs.list().length;
    await expect(call('pipelines.run', { pipeline: 'toy', params: { tolerance: 300, colour: 'red', size: 3 } })).rejects.toMatchObject({
      code: 'bad_request',
      issues: expect.arrayContaining([
        expect.objectContaining({ path: 'params.tolerance', message: expect.stringMatching(/255/) }),
        expect.objectContaining({ path: 'params.colour', message: 'a colour is #rrggbb' }),
        expect.objectContaining({ path: 'params', message: expect.stringMatching(/size/) }),
      ]),
    });
    await expect(call('pipelines.run', { pipeline: 'toy', prompt: { kind: 'text', text: 'a cow' } })).rejects.toMatchObject({ code: 'bad_request', message: /takes no prompt/ });
    await expect(call('pipelines.preview', { pipeline: 'toy', imageId: 1, prompt: { kind: 'points', points: [{ x: 1, y: 1, positive: true }] } })).rejects.toMatchObject({
      code: 'bad_request', message: /has no interactive preview/,
    });
    await expect(call('pipelines.run', { pipeline: 'nope' })).rejects.toMatchObject({ code: 'bad_request', message: /no pipeline "nope" \(there are: diffseg, toy\)/ });
    expect(backend.jobs.list()).toHaveLength(jobs);
  });

  it('the CLI offers it and its options (made from its schema), and runs it', async () => {
    const help = await cli('segment', '--help');
    expect(help.code).toBe(0);
    const text = help.out.replace(/\s+/g, ' '); // as wrapped for the terminal
    expect(text).toContain('--pipeline <name> segmentation pipeline: diffseg (DiffSeg), refldmseg (Ref LDM-Seg), prototype (Example prototype), peekaboo (Peekaboo), odise (ODISE (vocabulary → panoptic)), vocabulary (Vocabulary (attention)), toy (Threshold by colour)');
    expect(text).toContain('--colour <value> Threshold by colour: the colour to find (default #e6194b)');
    expect(text).toContain('--tolerance <value> Threshold by colour: largest difference in any channel (default 40)');
    expect(text).toContain('--min-area <value> Threshold by colour: pieces with fewer pixels are left out (default 16)');
    expect(text).toMatch(/--tau <n\[,n…\]> DiffSeg: KL merge threshold/);

    const r = await cli('segment', dir.path, '--pipeline', 'toy', '--tolerance', '10', '--min-area', '1', '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out) as BatchReport).toMatchObject({ pipeline: 'toy', total: 3, segmented: 3, params: { tolerance: 10, minArea: 1 } });
    // Another pipeline's option, or a bad value, is bad usage (exit 2), with the reason.
    const wrong = await cli('segment', dir.path, '--pipeline', 'toy', '--tau', '0.9');
    expect(wrong).toMatchObject({ code: 2, err: expect.stringMatching(/--tau is not a parameter of Threshold by colour \(its parameters: --colour, --tolerance, --min-area\)/) });
    const bad = await cli('segment', dir.path, '--pipeline', 'toy', '--tolerance', 'lots');
    expect(bad).toMatchObject({ code: 2, err: expect.stringMatching(/params\.tolerance/) });
  });
});
