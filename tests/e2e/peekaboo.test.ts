// Type what to segment in the app (Chromium, web mode, Peekaboo's fixture model: an analytic denoiser of a grey scene
// with a red disk and a blue square, NOT Stable Diffusion): the category picker fills the text and names the category,
// "red" runs as a job whose mask shows live on the canvas before it ends; a cancelled run stores no mask; a completed
// one proposes the disk, offered in the category; the prompt is listed and runs again on every image as a batch.
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { disposeSharedInferenceHost } from '../../src/core/pipelines/common/inference';
import { fixtureScene } from '../../src/core/pipelines/peekaboo/fixture';
import { indexFolder } from '../../src/core/project';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { decode, fromCocoRle } from '../../src/shared/masks';
import type { Annotation, BatchReport, Image, Job } from '../../src/shared/contract';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir } from '../helpers/folder';
import { pixelIou as iou } from '../helpers/masks';

const ui = join(__dirname, '..', '..', 'out', 'renderer');
const scene = fixtureScene();
// Alpha side 64 and 30 Adam steps at 3e-3: the disk in under a minute on two shared cores (docs/peekaboo.md).
const SETTINGS = { size: 64, preset: 'fast', iterations: 30, learningRate: 3e-3 };

describe.skipIf(!hasChromium)('Peekaboo in the app (Chromium, web mode, fixture model)', () => {
  let dir: ReturnType<typeof tempDir>;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const ids: Record<string, number> = {};
  let red: number;

  const api = <T,>(method: string, input: unknown) => backend.dispatch(method, input) as Promise<T>;
  const jobs = () => backend.jobs.list().filter((j) => j.kind === 'peekaboo');
  const ended = async (n: number): Promise<Job> => {
    await expect.poll(() => jobs()[n - 1]?.state, { timeout: 300_000, interval: 250 }).toMatch(/done|failed|cancelled/);
    return jobs()[n - 1]!;
  };
  const masks = (imageId: number) => api<Annotation[]>('annotations.list', { imageId });
  const shot = (name: string) => page.screenshot({ path: join(screenshotDir, `${name}.png`) });
  const liveArea = async () => Number((await page.getByTestId('canvas').getAttribute('data-live-area')) || 0);

  beforeAll(async () => {
    dir = tempDir();
    const { data, width, height } = scene.rgb;
    writeFileSync(join(dir.path, 'scene.png'), await sharp(Buffer.from(data), { raw: { width, height, channels: 3 } }).png().toBuffer());
    copyFileSync(join(dir.path, 'scene.png'), join(dir.path, 'scene-copy.png'));
    backend = new Backend({ shell: 'web' });
    backend.openProject(dir.path);
    await indexFolder(backend.project!);
    for (const img of (await api<{ items: Image[] }>('images.list', {})).items) ids[img.path] = img.id;
    red = (await api<{ id: number }>('categories.add', { name: 'red disk', color: '#e6194b' })).id;
    server = await startServer({ backend, port: 0, staticDir: ui });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.addInitScript((settings) => {
      localStorage.setItem('difflabel.pipeline', 'peekaboo');
      localStorage.setItem('difflabel.peekabooModel', 'fixture');
      localStorage.setItem('difflabel.peekabooParams', settings);
    }, JSON.stringify(SETTINGS));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await backend?.close();
    await disposeSharedInferenceHost();
    dir?.cleanup();
  });

  it('shows the mask live on the canvas while "red" optimises; cancelled, the run stores no mask', async () => {
    await page.goto(`${server.openUrl}#/image/${ids['scene.png']}`);
    await expect.poll(() => page.getByTestId('canvas').getAttribute('data-ready'), { timeout: 20_000 }).toBe('true');
    const input = page.getByTestId('text-prompt-input');
    expect(await page.getByTestId('text-find-here').isDisabled()).toBe(true);
    // The category fills the text; the text is then changed, the category stays.
    await page.getByTestId('text-prompt-category').selectOption(String(red));
    expect(await input.inputValue()).toBe('red disk');
    await input.fill('red');
    await input.press('Enter');

    await expect.poll(liveArea, { timeout: 300_000, interval: 100 }).toBeGreaterThan(0);
    // The preview arrived before the run ended.
    expect(jobs()[0]!.state).toBe('running');
    expect(await page.getByTestId('text-prompt-progress').textContent()).toMatch(/iteration \d+ of 30/);
    await shot('peekaboo-live');

    await page.getByTestId('text-prompt-cancel').click();
    expect((await ended(1)).state).toBe('cancelled');
    expect(await masks(ids['scene.png']!)).toEqual([]);
    expect(backend.project!.listRuns({ imageId: ids['scene.png'], pipeline: 'peekaboo' }).map((r) => r.status)).toEqual(['cancelled']);
    await expect.poll(liveArea).toBe(0);
    await expect.poll(() => page.getByTestId('text-prompt-progress').count()).toBe(0);
  }, 400_000);

  it('a completed run proposes the red disk, offered in the category', async () => {
    await page.getByTestId('text-find-here').click();
    const job = await ended(2);
    expect(job.state).toBe('done');
    expect(job.result as BatchReport).toMatchObject({ pipeline: 'peekaboo', segmented: 1, proposals: 1, failed: [] });
    const [p, ...more] = await masks(ids['scene.png']!);
    expect(more).toEqual([]);
    expect(p).toMatchObject({ source: 'peekaboo', categoryId: null, proposed: true, suggestedCategoryId: red });
    expect(iou(decode(fromCocoRle(p!.mask)), scene.truth.red)).toBeGreaterThanOrEqual(0.8);
    await expect.poll(() => page.getByTestId('accept-suggested').textContent()).toBe('✓ red disk?');
    await expect.poll(liveArea).toBe(0);
    await shot('peekaboo-proposal');
  }, 400_000);

  it('lists the prompt used; chosen again, it runs on every image as a batch (the done image skipped)', async () => {
    await expect.poll(() => page.getByTestId('recent-prompt').allTextContents()).toEqual(['red↻']);
    await page.getByTestId('text-prompt-input').fill('');
    await page.getByTestId('recent-prompt').click();
    expect(await page.getByTestId('text-prompt-input').inputValue()).toBe('red');
    expect(await page.getByTestId('text-prompt-category').inputValue()).toBe(String(red));
    await shot('peekaboo-recent');
    await page.getByTestId('text-find-all').click();
    const job = await ended(3);
    expect(job.result as BatchReport).toMatchObject({ total: 2, skipped: 1, segmented: 1, proposals: 1, failed: [] });
    const [p] = await masks(ids['scene-copy.png']!);
    expect(p).toMatchObject({ source: 'peekaboo', suggestedCategoryId: red });
    expect(iou(decode(fromCocoRle(p!.mask)), scene.truth.red)).toBeGreaterThanOrEqual(0.8);
    await expect.poll(async () => (await api<{ prompt: unknown; runs: number }[]>('prompts.list', { pipeline: 'peekaboo' }))).toEqual([
      expect.objectContaining({ prompt: { kind: 'text', text: 'red', categoryId: red }, runs: 3 }),
    ]);
  }, 400_000);
});
