// The model manager through the API: models.list says what each bundle can run and what it is (size, dtype,
// provider, source, licence, whether it verified); models.add converts a checkpoint as a job (progress, cancel) and
// verifies it, leaving nothing behind when it fails or is cancelled; models.verify is a job; models.remove deletes
// only bundles in the models folders that no running job uses. Web mode reads sources only inside the project folder.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Backend } from '../../src/core/api/backend';
import type { EventName, EventPayload, Job, MethodOutput } from '../../src/shared/contract';
import { convertCheckpoint } from '../../src/core/ml/bundle';
import { expectedProviderStatus } from '../../src/core/ml/runtime';
import { registerPipeline } from '../../src/core/pipelines/registry';
import type { Pipeline } from '../../src/core/pipelines/types';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { buildLdmCheckpoint, golden } from '../ml/weights.helpers';
import { z } from 'zod';

type ModelInfo = MethodOutput<'models.list'>[number];

const root = tempDir('difflabel-models-api-');
const models = join(root.path, 'models'); // the user models folder
const saved = process.env['DIFFLABEL_MODELS_DIR'];
process.env['DIFFLABEL_MODELS_DIR'] = models;

const project = join(root.path, 'project');
const outside = join(root.path, 'outside');
const sd = join(project, 'sources', 'tiny-sd.safetensors');
const tokenizer = join(project, 'sources', 'tokenizer', 'bpe_simple_vocab_16e6.txt.gz');
const configs = join(project, 'sources', 'configs');
const fromSd = { source: sd, tokenizer, configs };

/** Every file under `dir` with its size (what "size on disk" adds up). */
function bytesUnder(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).reduce((n, d) => n + lstatSync(join(d.parentPath, d.name)).size, 0);
}

/** A diffusers folder holding only the golden VAE: converts in well under a second. */
function vaeSource(at: string): string {
  mkdirSync(at, { recursive: true });
  cpSync(golden('vae_C'), join(at, 'vae'), { recursive: true });
  return at;
}

// A pipeline that needs a bundle's UNet and holds its run until told: a job that uses a bundle for as long as a test wants.
let release: (() => void) | null = null;
const releaseRun = () => release?.();
const holds: Pipeline = {
  id: 'holds', title: 'Holds', description: 'runs until released', params: z.object({}).strict(), prompt: 'none', components: ['unet'], runLabel: 'hold',
  open: ({ bundle }) => ({
    model: bundle!.manifest.name,
    recorded: () => ({}),
    run: () => new Promise((ok) => void (release = () => ok([]))),
    dispose: async () => {},
  }),
};

let unregister: () => void;
beforeAll(async () => {
  await makeImageFolder(project, 1);
  mkdirSync(join(project, 'sources', 'tokenizer'), { recursive: true });
  writeFileSync(sd, buildLdmCheckpoint());
  copyFileSync(golden('tokenizer_F', 'bpe_simple_vocab_16e6.txt.gz'), tokenizer);
  for (const [k, from] of [['unet', 'unet_A'], ['vae', 'vae_C'], ['text_encoder', 'clip_D']] as const) {
    mkdirSync(join(configs, k), { recursive: true });
    copyFileSync(golden(from, 'config.json'), join(configs, k, 'config.json'));
  }
  mkdirSync(outside, { recursive: true });
  unregister = registerPipeline(holds);
});
afterAll(() => {
  releaseRun();
  unregister?.();
  root.cleanup();
  if (saved === undefined) delete process.env['DIFFLABEL_MODELS_DIR'];
  else process.env['DIFFLABEL_MODELS_DIR'] = saved;
});

describe('models.* (web mode)', () => {
  let backend: Backend;
  const events: { event: EventName; payload: unknown }[] = [];
  const call = <T = any>(m: string, input: unknown) => backend.dispatch(m, input) as Promise<T>;
  const list = () => call<ModelInfo[]>('models.list', {});
  const entry = async (dir: string) => (await list()).find((m) => m.dir === dir);
  const wait = (id: string) => backend.jobs.wait(id);
  const progressOf = (jobId: string) =>
    events.filter((e) => e.event === 'job.progress' && (e.payload as EventPayload<'job.progress'>).jobId === jobId).map((e) => (e.payload as EventPayload<'job.progress'>).message);
  /** The models folder holds exactly these entries (hidden temporary folders included). */
  const expectModelsFolder = (names: string[]) => expect(existsSync(models) ? readdirSync(models).sort() : []).toEqual([...names].sort());

  beforeAll(async () => {
    backend = new Backend({ shell: 'web' });
    backend.onEvent((event, payload) => events.push({ event, payload }));
    backend.openProject(project);
    await wait((await call('project.index', {})).jobId);
  });
  afterAll(async () => {
    releaseRun();
    await backend?.close();
  });

  it('models.add converts a single-file checkpoint as a job with progress, verifies it, and models.list says what it is and what it runs', async () => {
    const changes = events.filter((e) => e.event === 'models.changed').length;
    const r = await call<{ jobId: string; dir: string }>('models.add', { ...fromSd, name: 'tiny sd', licence: 'CreativeML Open RAIL-M' });
    expect(r.dir).toBe(join(models, 'tiny-sd'));
    const job = await wait(r.jobId);
    expect(job).toMatchObject({ kind: 'models.add', state: 'done', result: { dir: r.dir, name: 'tiny sd' } });
    const steps = progressOf(r.jobId);
    expect(steps).toContain('Converting: UNet');
    expect(steps).toContain('Converting: DiffSeg UNet variant');
    expect(steps.some((s) => s.startsWith('Verifying: '))).toBe(true); // which steps show depends on the throttle
    expect(events.filter((e) => e.event === 'models.changed').length).toBeGreaterThan(changes);

    const m = (await entry(r.dir))!;
    expect(m).toMatchObject({
      name: 'tiny sd', ok: true, fixture: false, folder: 'user', dtype: 'float32', licence: 'CreativeML Open RAIL-M', busy: false,
      source: { path: sd, kind: 'single-file' }, provider: expectedProviderStatus().active,
      runs: [
        { pipeline: 'diffseg', title: 'DiffSeg', available: true },
        { pipeline: 'refldmseg', title: 'Ref LDM-Seg', available: false, reason: expect.stringMatching(/tiny sd is not a Ref LDM-Seg bundle .*--refldmseg/) },
        // the prototype mode runs on any SD 1.x bundle
        { pipeline: 'prototype', title: 'Example prototype', available: true },
        { pipeline: 'peekaboo', title: 'Peekaboo', available: true },
        { pipeline: 'odise', title: 'ODISE (vocabulary → panoptic)', available: false, reason: expect.stringMatching(/tiny sd is not an ODISE bundle .*--odise/) },
        // so does the vocabulary mode: the DiffSeg UNet variant gives its cross-attention
        { pipeline: 'vocabulary', title: 'Vocabulary (attention)', available: true },
        { pipeline: 'holds', title: 'Holds', available: true },
      ],
      verified: { ok: true, problems: [] },
    });
    expect(m.bytes).toBe(bytesUnder(r.dir));
    expect(m.bytes).toBeGreaterThan(1e6);
    expect(m.components).toEqual(['text_encoder', 'unet', 'unet_diffseg', 'vae_encoder', 'vae_decoder']);
    expect(m.warnings.join('\n')).toMatch(/vocab_size is 1000/);
    expect(Date.parse(m.verified!.at)).toBeGreaterThan(Date.now() - 120_000);
    expectModelsFolder(['.verified.json', 'tiny-sd']);
  });

  it('lists the test fixture, and says why a bundle cannot run a pipeline', async () => {
    const vae = join(models, 'vae-only');
    await convertCheckpoint(vaeSource(join(root.path, 'vae-src')), vae);
    const m = (await entry(vae))!;
    expect(m.runs.find((x) => x.pipeline === 'diffseg')).toMatchObject({ available: false, reason: expect.stringMatching(/^model bundle vae-src cannot run DiffSeg: it lacks unet_diffseg, text_encoder, tokenizer/) });
    expect(m).toMatchObject({ licence: 'unknown', verified: null, source: { kind: 'diffusers' } });
    const fixture = (await list()).find((x) => x.fixture)!;
    expect(fixture).toMatchObject({ name: 'fixture', dir: null, folder: null, bytes: null, verified: null, busy: false });
    expect(fixture.runs.find((x) => x.pipeline === 'diffseg')).toMatchObject({ available: true });
    expect(fixture.runs.find((x) => x.pipeline === 'holds')).toMatchObject({ available: false, reason: 'Holds has no test fixture' });
  });

  it('a bad checkpoint: the job fails with what is wrong with the file, and nothing is left in the models folder', async () => {
    const before = readdirSync(models).sort();
    const cases: [string, Buffer | Uint8Array, RegExp][] = [
      ['not-torch.ckpt', Buffer.from('this is not a checkpoint\n'.repeat(20)), /not-torch\.ckpt is not a readable PyTorch checkpoint: .*neither a zip archive nor a legacy torch\.save file/],
      ['truncated.ckpt', Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(200)]), /truncated\.ckpt is not a readable PyTorch checkpoint: .*no zip end of central directory record/],
    ];
    for (const [name, bytes, message] of cases) {
      const file = join(project, 'sources', name);
      writeFileSync(file, bytes);
      const job = await wait((await call('models.add', { source: file })).jobId);
      expect(job.state).toBe('failed');
      expect(job.error).toMatch(message);
      expect(job.error).not.toMatch(/\n\s+at /);
    }
    // Well-formed but without a tokenizer: the converter says what to add.
    const job = await wait((await call('models.add', { source: sd, configs, name: 'no-tokenizer' })).jobId);
    expect(job).toMatchObject({ state: 'failed', error: expect.stringMatching(/carries no tokenizer: pass a CLIP tokenizer/) });
    expect(readdirSync(models).sort()).toEqual(before);
  });

  it('cancel while converting, and while verifying: the job ends cancelled and leaves nothing', async () => {
    mkdirSync(models, { recursive: true });
    const before = readdirSync(models).sort();
    // Cancelled at the first step of the phase that is announced (progress events are at most 10 a second: which
    // step that is depends on the machine's speed); the job notices before its next step.
    for (const phase of ['Converting', 'Verifying']) {
      const name = `cancelled-${phase.toLowerCase()}`;
      const { jobId } = await call<{ jobId: string }>('models.add', { ...fromSd, name });
      const off = backend.onEvent((event, p) => {
        const e = p as EventPayload<'job.progress'>;
        if (event === 'job.progress' && e.jobId === jobId && e.message.startsWith(`${phase}: `)) void call('jobs.cancel', { id: jobId });
      });
      const job = await wait(jobId);
      off();
      expect(job.state, `${phase}: ${job.error}`).toBe('cancelled');
      const steps = progressOf(jobId);
      expect(steps.some((s) => s.startsWith(`${phase}: `))).toBe(true);
      if (phase === 'Converting') expect(steps.some((s) => s.startsWith('Verifying: '))).toBe(false);
      expect(readdirSync(models).sort()).toEqual(before);
    }
  });

  it('refuses at once, starting no job: a name in use, and (web mode) any path outside the project folder', async () => {
    const jobs = (await call<Job[]>('jobs.list', {})).length;
    await expect(call('models.add', { ...fromSd, name: 'tiny sd' })).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/tiny-sd exists/) });
    const away = join(outside, 'tiny-sd.safetensors');
    copyFileSync(sd, away);
    symlinkSync(away, join(project, 'sources', 'linked.safetensors'));
    for (const input of [
      { ...fromSd, source: away },
      { ...fromSd, source: join(project, 'sources', 'linked.safetensors') },
      { ...fromSd, tokenizer: golden('tokenizer_F') },
      { ...fromSd, configs: outside },
    ]) {
      await expect(call('models.add', { ...input, name: 'refused' }), JSON.stringify(input)).rejects.toMatchObject({
        code: 'bad_request', message: expect.stringMatching(/web mode reads and writes files only inside the project folder/),
      });
    }
    await expect(call('models.add', { source: sd, into: 'elsewhere' })).rejects.toMatchObject({ code: 'bad_request' });
    expect((await call<Job[]>('jobs.list', {})).length).toBe(jobs);
    expect(existsSync(join(models, 'refused'))).toBe(false);
  });

  it('web mode refuses a folder source whose links lead outside the project folder, at any depth', async () => {
    const jobs = (await call<Job[]>('jobs.list', {})).length;
    // A diffusers folder inside the project whose VAE folder is a link to one outside: the converter reads it whole.
    const linkedDir = join(project, 'sources', 'diffusers-linked-dir');
    mkdirSync(linkedDir);
    symlinkSync(vaeSource(join(outside, 'linked-vae')), join(linkedDir, 'vae'));
    // One whose VAE folder is inside the project, through a link, but its weights are a link to a file outside.
    const linkedFile = join(project, 'sources', 'diffusers-linked-file');
    const inner = join(project, 'sources', 'inner-vae');
    mkdirSync(linkedFile);
    mkdirSync(inner);
    copyFileSync(golden('vae_C', 'config.json'), join(inner, 'config.json'));
    symlinkSync(join(outside, 'linked-vae', 'vae', 'diffusion_pytorch_model.safetensors'), join(inner, 'diffusion_pytorch_model.safetensors'));
    symlinkSync(inner, join(linkedFile, 'vae'));
    for (const source of [linkedDir, linkedFile]) {
      await expect(call('models.add', { source }), source).rejects.toMatchObject({
        code: 'bad_request', message: expect.stringMatching(/web mode reads and writes files only inside the project folder/),
      });
    }
    expect((await call<Job[]>('jobs.list', {})).length).toBe(jobs);
  });

  it('models.verify is a job; a changed file makes a bundle unverified, and verifying it again names the file', async () => {
    const dir = join(models, 'tiny-sd');
    const first = (await entry(dir))!.verified!.at;
    const ok = await wait((await call('models.verify', { dir })).jobId);
    expect(ok).toMatchObject({ kind: 'models.verify', state: 'done', result: { dir, name: 'tiny sd' } });
    expect(Date.parse((await entry(dir))!.verified!.at)).toBeGreaterThanOrEqual(Date.parse(first));

    const data = join(dir, 'unet.onnx.data');
    truncateSync(data, lstatSync(data).size - 1);
    expect((await entry(dir))!.verified).toBeNull(); // changed since it verified
    const bad = await wait((await call('models.verify', { dir })).jobId);
    expect(bad).toMatchObject({ state: 'failed', error: expect.stringMatching(/unet\.onnx\.data: \d+ bytes, bundle\.json says \d+ \(truncated or replaced\)/) });
    expect((await entry(dir))!.verified).toMatchObject({ ok: false, problems: [expect.stringMatching(/^unet\.onnx\.data: /)] });

    await expect(call('models.verify', { dir: join(root.path, 'vae-src') })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('models.remove deletes a bundle of the models folders, not one a running job uses, one elsewhere, or the fixture', async () => {
    const dir = join(models, 'tiny-sd');
    // A pipeline's run on it.
    release = null;
    const { jobId } = await call<{ jobId: string }>('pipelines.run', { pipeline: 'holds', model: dir });
    await expect.poll(() => release !== null).toBe(true);
    await expect(call('models.remove', { dir })).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/in use by a running job/) });
    expect((await entry(dir))!.busy).toBe(true);
    releaseRun();
    expect(await wait(jobId)).toMatchObject({ state: 'done' });
    // Its verification.
    const verifying = await call<{ jobId: string }>('models.verify', { dir: join(models, 'vae-only') });
    await expect(call('models.remove', { dir: join(models, 'vae-only') })).rejects.toMatchObject({ code: 'conflict' });
    await wait(verifying.jobId);

    const elsewhere = join(outside, 'bundle');
    await convertCheckpoint(join(root.path, 'vae-src'), elsewhere);
    await expect(call('models.remove', { dir: elsewhere })).rejects.toMatchObject({ code: 'not_found', message: expect.stringMatching(/not a model bundle in the models folders/) });
    expect(existsSync(join(elsewhere, 'bundle.json'))).toBe(true);
    await expect(call('models.remove', { dir: join(models, 'gone') })).rejects.toMatchObject({ code: 'not_found' });
    await expect(call('models.remove', { dir: 'fixture' })).rejects.toMatchObject({ code: 'not_found' });

    const changes = events.filter((e) => e.event === 'models.changed').length;
    expect(await call('models.remove', { dir })).toEqual({ dir });
    expect(existsSync(dir)).toBe(false);
    expect((await entry(dir))).toBeUndefined();
    expect(events.filter((e) => e.event === 'models.changed').length).toBe(changes + 1);
    expect(Object.keys(JSON.parse(readFileSync(join(models, '.verified.json'), 'utf8')).bundles)).not.toContain(dir);
    expectModelsFolder(['.verified.json', 'vae-only']);
  });

  it('app.pickFile answers null in web mode', async () => {
    expect(await call('app.pickFile', { extensions: ['ckpt'] })).toEqual({ file: null });
  });
});

describe('models.add in the desktop app', () => {
  it('takes a source anywhere (the path came from a native dialog or the user), and app.pickFile asks the shell', async () => {
    const asked: (string[] | undefined)[] = [];
    const backend = new Backend({ shell: 'electron', pickFile: async (extensions) => (asked.push(extensions), join(outside, 'x.ckpt')) });
    try {
      const src = vaeSource(join(outside, 'desktop-vae'));
      expect(relative(project, src).startsWith('..')).toBe(true);
      const r = await backend.dispatch('models.add', { source: src, into: 'user' }) as { jobId: string; dir: string };
      expect(await backend.jobs.wait(r.jobId)).toMatchObject({ state: 'done', result: { dir: join(models, 'desktop-vae') } });
      expect(await backend.dispatch('app.pickFile', { extensions: ['ckpt', 'safetensors'] })).toEqual({ file: join(outside, 'x.ckpt') });
      expect(asked).toEqual([['ckpt', 'safetensors']]);
    } finally {
      await backend.close();
    }
  });
});
