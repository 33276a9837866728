// generate.start / held / keep / discard over HTTP with the fixture model: generated images wait under .difflabel
// until kept (no rows, no files in the project, not exported), keep makes them ordinary images with their masks and
// run, discard deletes their files and nothing else; bad payloads are 400 bad_request before any job starts.
import { copyFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { disposeSharedInferenceHost } from '../../src/core/pipelines/common/inference';
import sharp from 'sharp';
import { events, type EventPayload } from '../../src/shared/contract';
import { layoutColour, layoutMask } from '../../src/core/pipelines/grounded/fixture';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { decode, fromCompressedString } from '../../src/shared/masks';
import { makeImageFolder, tempDir } from '../helpers/folder';

const iou = (a: Uint8Array, b: Uint8Array) => {
  let i = 0, u = 0;
  for (let k = 0; k < a.length; k++) {
    i += a[k]! & b[k]!;
    u += a[k]! | b[k]!;
  }
  return i / u;
};

const request = { prompt: 'a photo of a red square', categories: ['red', 'blue'], count: 3, seed: 11, sampler: 'ddim', steps: 3, model: 'fixture', subfolder: 'synthetic' };

describe('generate.* with the fixture model', () => {
  const dir = tempDir();
  let backend: Backend;
  let server: RunningServer;
  const held = () => join(dir.path, '.difflabel', 'generated', 'synthetic');

  async function post(method: string, input: unknown): Promise<{ status: number; body: any }> {
    const r = await fetch(`${server.url}/api/${method}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(input),
    });
    return { status: r.status, body: await r.json() };
  }
  async function call(method: string, input: unknown): Promise<any> {
    const r = await post(method, input);
    if (r.status !== 200) throw new Error(`${method}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.result;
  }
  async function generate(input: unknown) {
    const { jobId, seed } = await call('generate.start', input);
    return { seed, job: await backend.jobs.wait(jobId) };
  }

  beforeAll(async () => {
    await makeImageFolder(dir.path, 2, () => [40, 30]);
    backend = new Backend({ shell: 'web' });
    backend.openProject(dir.path);
    await backend.jobs.wait(((await backend.dispatch('project.index', {})) as { jobId: string }).jobId);
    server = await startServer({ backend, port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await backend?.close();
    await disposeSharedInferenceHost();
    dir.cleanup();
  });

  it('answers bad payloads with 400 bad_request naming the field, and starts no job', async () => {
    const cases: [unknown, RegExp][] = [
      [{ ...request, width: 500 }, /width: a multiple of 64/],
      [{ ...request, sampler: 'euler' }, /sampler/],
      [{ ...request, categories: [] }, /give at least one category/],
      [{ ...request, width: 256, height: 256 }, /grounding module masks 512×512 images only/],
      [{ ...request, subfolder: '../outside' }, /relative path inside the project/],
      [{ ...request, count: 0 }, /count/],
      [{ ...request, prompt: '  ' }, /prompt/],
      [{ ...request, preview: 'vae' }, /preview/],
      // 1000 DDIM steps with SD's steps offset of 1 would need timestep 1000 of 0 … 999.
      [{ ...request, steps: 1000 }, /^ddim cannot take 1000 steps with this model \(timestep 1000 is outside the 1000 trained timesteps\): use fewer steps$/],
    ];
    for (const [input, message] of cases) {
      const r = await post('generate.start', input);
      expect(r.status, JSON.stringify(input)).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(message) });
    }
    expect(backend.jobs.list().filter((j) => j.kind === 'generate')).toEqual([]);
    expect(existsSync(join(dir.path, '.difflabel', 'generated'))).toBe(false);
  });

  it('answers a model that cannot generate with 409 no_model', async () => {
    const r = await post('generate.start', { ...request, model: 'sd-not-installed' });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: 'no_model', message: expect.stringMatching(/no model bundle "sd-not-installed"/) });
    expect(backend.jobs.list().filter((j) => j.kind === 'generate')).toEqual([]);
  });

  it('holds generated images for review: progress per step, no rows, no project files, not exported', async () => {
    const progress: { done: number; total: number; message: string }[] = [];
    const off = backend.onEvent((e, p) => e === 'job.progress' && (p as { kind: string }).kind === 'generate' && progress.push(p as never));
    const { seed, job } = await generate(request);
    off();
    expect(seed).toBe(11);
    expect(job.state).toBe('done');
    expect(job.result).toMatchObject({ generated: [], skipped: 0, cancelled: false });
    expect((job.result as { held: { seed: number }[] }).held.map((h) => h.seed)).toEqual([11, 12, 13]);
    // DDIM at 3 steps is 3 model calls an image: the job counts 9, and says which step of which image.
    expect(progress.at(-1)).toMatchObject({ done: 9, total: 9 });
    expect(progress.some((p) => /^image 2 of 3, step \d of 3$/.test(p.message))).toBe(true);

    expect(backend.project!.countImages()).toBe(2);
    expect(backend.project!.listCategories()).toEqual([]);
    expect(existsSync(join(dir.path, 'synthetic'))).toBe(false);
    expect(readdirSync(held()).filter((f) => f.endsWith('.png')).length).toBe(3);
    expect((await call('coco.export', {})).document.images.map((i: { file_name: string }) => i.file_name)).toEqual(['a/img000.png', 'b/img001.png']);

    const items = await call('generate.held', {});
    expect(items.map((h: { seed: number }) => h.seed).sort()).toEqual([11, 12, 13]);
    for (const h of items) {
      expect(h.path).toMatch(/^synthetic\/a-photo-of-a-red-square-s1[123]-[0-9a-f]{12}\.png$/);
      expect(h.image.startsWith('data:image/png;base64,iVBOR')).toBe(true);
      expect(h.masks.map((m: { category: string }) => m.category)).toEqual(['red', 'blue']);
      const red = decode(fromCompressedString(h.masks[0].mask.counts, 512, 512));
      expect(iou(red, layoutMask('red'))).toBeGreaterThanOrEqual(0.9);
    }
  });

  it('a second start with the same settings makes nothing new: held images are skipped', async () => {
    const { job } = await generate(request);
    expect(job.result).toMatchObject({ held: [], skipped: 3 });
    expect((await call('generate.held', {})).length).toBe(3);
  });

  it('held images survive a restart: another back end on the folder lists them', async () => {
    const other = new Backend({ shell: 'web' });
    other.openProject(dir.path);
    try {
      expect(((await other.dispatch('generate.held', {})) as unknown[]).length).toBe(3);
    } finally {
      await other.close();
    }
  });

  it('keep and discard of a path that is not held: 404 not_found, nothing changes', async () => {
    const [first] = await call('generate.held', {});
    for (const m of ['generate.keep', 'generate.discard']) {
      const r = await post(m, { paths: [first.path, 'synthetic/nothing.png'] });
      expect(r.status).toBe(404);
      expect(r.body.error).toMatchObject({ code: 'not_found', message: expect.stringMatching(/synthetic\/nothing\.png/) });
    }
    expect((await call('generate.held', {})).length).toBe(3);
    expect(backend.project!.countImages()).toBe(2);
  });

  it('keep makes two ordinary images with their masks and run; discard deletes the third file and nothing else', async () => {
    const items = await call('generate.held', {});
    const [a, b, c] = items;
    const kept = await call('generate.keep', { paths: [a.path, b.path] });
    expect(kept.map((k: { path: string }) => k.path)).toEqual([a.path, b.path]);
    const store = backend.project!;
    const red = store.getCategoryByName('red')!.id;
    expect(store.listCategories().map((x) => x.name).sort()).toEqual(['blue', 'red']);
    for (const k of kept) {
      expect(store.getImage(k.imageId)).toMatchObject({ path: k.path, width: 512, height: 512 });
      expect(existsSync(join(dir.path, ...k.path.split('/')))).toBe(true);
      const anns = store.listAnnotations({ imageId: k.imageId });
      expect(anns.map((x) => [store.getCategory(x.categoryId!)!.name, x.source])).toEqual([['red', 'grounded'], ['blue', 'grounded']]);
      expect(iou(decode(fromCompressedString(anns.find((x) => x.categoryId === red)!.rle, 512, 512)), layoutMask('red'))).toBeGreaterThanOrEqual(0.9);
      expect(store.listRuns({ imageId: k.imageId })[0]).toMatchObject({ pipeline: 'grounded', status: 'done', modelBundle: 'fixture-grounded' });
      expect(existsSync(join(held(), k.path.split('/')[1]!))).toBe(false);
    }
    const categories = store.listCategories();
    const annotations = store.countAnnotations();
    expect(await call('generate.discard', { paths: [c.path] })).toEqual({ discarded: 1 });
    expect(readdirSync(held())).toEqual([]);
    expect(existsSync(join(dir.path, ...c.path.split('/')))).toBe(false);
    expect(store.listCategories()).toEqual(categories);
    expect(store.countAnnotations()).toBe(annotations);
    expect(store.countImages()).toBe(4);
    expect(await call('generate.held', {})).toEqual([]);
    const exported = await call('coco.export', {});
    expect(exported.document.images.map((i: { file_name: string }) => i.file_name).sort()).toEqual(['a/img000.png', 'b/img001.png', a.path, b.path].sort());
  });

  it('the rests of an interrupted keep or discard are cleared when listing, and nothing is kept twice', async () => {
    const { job } = await generate({ ...request, seed: 40, count: 2 });
    const [x, y] = (job.result as { held: { path: string }[] }).held.map((h) => join(held(), h.path.split('/')[1]!));
    // Keep went as far as the project's transaction: its held files are still there.
    copyFileSync(x!, `${x}.copy`);
    copyFileSync(`${x}.json`, `${x}.json.copy`);
    const [kept] = await call('generate.keep', { paths: [`synthetic/${x!.split('/').pop()}`] });
    copyFileSync(`${x}.copy`, x!);
    copyFileSync(`${x}.json.copy`, `${x}.json`);
    rmSync(`${x}.copy`);
    rmSync(`${x}.json.copy`);
    // Discard went as far as deleting the PNG.
    rmSync(y!);
    expect(await call('generate.held', {})).toEqual([]);
    expect(readdirSync(held())).toEqual([]);
    expect(backend.project!.listImages().filter((i) => i.path === kept.path)).toHaveLength(1);
  });

  it('a cancel stops between steps and keeps the images finished held; starting again goes on', async () => {
    const input = { ...request, seed: 60, count: 2, steps: 40 };
    const { jobId } = await call('generate.start', input);
    // A second generation while one runs is refused.
    expect((await post('generate.start', input)).body.error).toMatchObject({ code: 'conflict' });
    await new Promise<void>((resolve) => {
      const off = backend.onEvent((e) => {
        if (e !== 'generate.changed') return;
        off();
        backend.jobs.cancel(jobId);
        resolve();
      });
    });
    const job = await backend.jobs.wait(jobId);
    expect(job.state).toBe('cancelled');
    expect((await call('generate.held', {})).map((h: { seed: number }) => h.seed)).toEqual([60]);
    const { job: again } = await generate(input);
    expect(again.result).toMatchObject({ skipped: 1, held: [{ seed: 61 }] });
  });

  /** The job's progress events that carry a preview, checked against the contract. */
  async function samples(input: unknown) {
    const sent: NonNullable<EventPayload<'job.progress'>['sample']>[] = [];
    const off = backend.onEvent((e, p) => {
      if (e !== 'job.progress') return;
      const { kind, sample } = events['job.progress'].parse(p);
      if (kind === 'generate' && sample) sent.push(sample);
    });
    const { job } = await generate(input);
    off();
    return { sent, held: (job.result as { held: { path: string; seed: number }[] }).held };
  }
  const pixels = async (url: string) => {
    const { data, info } = await sharp(Buffer.from(url.slice('data:image/png;base64,'.length), 'base64')).raw().toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: info.channels };
  };

  it("progress carries previews of the image being sampled: its index and path, the latent's size, x̂0's layout from the first ones", async () => {
    const { sent, held: made } = await samples({ ...request, seed: 80, count: 2, steps: 40 });
    expect(made.map((h) => h.seed)).toEqual([80, 81]);
    // Both images were previewed (the job's throttle lets one through at least every 100 ms).
    expect([...new Set(sent.map((s) => s.index))]).toEqual([0, 1]);
    for (const s of sent) {
      expect(s).toMatchObject({ path: made[s.index]!.path, steps: 40, width: 64, height: 64 });
      // Every second call, and not the last (the image itself follows).
      expect(s.step % 2 === 0 && s.step < 40).toBe(true);
      // A 64² PNG: smaller than its raw RGB (12 288 bytes), and what an img element shows.
      expect(Buffer.from(s.image.split(',')[1]!, 'base64').length).toBeLessThan(64 * 64 * 3);
      const px = await pixels(s.image);
      expect([px.width, px.height, px.channels]).toEqual([64, 64, 3]);
      // The fixture's x̂0 is its layout at every step (its noisy sample is not, early on): the red square's cells read
      // red, the blue disc's blue, the ground grey, in every preview.
      const tally = { red: [0, 0], blue: [0, 0], ground: [0, 0] } as Record<string, [number, number]>;
      for (let y = 0; y < 64; y++) {
        for (let x = 0; x < 64; x++) {
          const colour = layoutColour(x, y);
          if (!(colour in tally)) continue;
          const [r, g, b] = px.data.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3);
          const ok = colour === 'red' ? r! > 200 && g! < 55 && b! < 55 : colour === 'blue' ? b! > 200 && r! < 55 && g! < 55 : [r, g, b].every((v) => Math.abs(v! - 128) < 30);
          tally[colour]![0]! += ok ? 1 : 0;
          tally[colour]![1]!++;
        }
      }
      for (const [colour, [ok, all]] of Object.entries(tally)) expect(ok / all, `${colour} cells at step ${s.step} of image ${s.index}`).toBeGreaterThanOrEqual(0.99);
    }
  });

  it("with preview 'decoder', the previews are decoded at the image's size, every tenth call", async () => {
    const { sent } = await samples({ ...request, seed: 90, count: 1, steps: 40, preview: 'decoder' });
    expect(sent.length).toBeGreaterThan(0);
    for (const s of sent) {
      expect(s).toMatchObject({ index: 0, width: 512, height: 512 });
      expect(s.step % 10).toBe(0);
      expect((await pixels(s.image)).width).toBe(512);
    }
  });
});
