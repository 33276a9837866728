// A second pipeline in the app (Chromium, web mode): the toy "threshold by colour" (tests/pipelines/toy-pipeline.ts),
// registered with one line, is offered beside DiffSeg, its panel is made from its parameters (settings, its run's
// button, no model to choose, no click tool), it runs on the open image and on every image from the grid as a job
// with the job bar's words and summary, and its masks are proposals like DiffSeg's. Checked through the API.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { registerPipeline } from '../../src/core/pipelines/registry';
import { indexFolder } from '../../src/core/project';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { decode, fromCocoRle } from '../../src/shared/masks';
import type { Annotation, BatchReport, Image, Job } from '../../src/shared/contract';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir } from '../helpers/folder';
import { toy } from '../pipelines/toy-pipeline';
import { SCENE, sceneRgb, shapeMask } from './diffseg-scene';

const ui = join(__dirname, '..', '..', 'out', 'renderer');
const N = 3;

describe.skipIf(!hasChromium)('a second pipeline in the app (Chromium, web mode)', () => {
  const unregister = registerPipeline(toy);
  let dir: ReturnType<typeof tempDir>;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let ids: number[];

  const api = <T,>(method: string, input: unknown) => backend.dispatch(method, input) as Promise<T>;
  const toyJobs = () => backend.jobs.list().filter((j) => j.kind === 'toy');
  const lastJob = async (): Promise<Job> => {
    await expect.poll(() => toyJobs().at(-1)?.state, { timeout: 60_000 }).toMatch(/done|failed|cancelled/);
    return toyJobs().at(-1)!;
  };
  const masks = (imageId: number) => api<Annotation[]>('annotations.list', { imageId });
  const shot = (name: string) => page.screenshot({ path: join(screenshotDir, `${name}.png`) });
  const canvas = () => page.getByTestId('canvas');

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    const folder = join(dir.path, 'scenes');
    mkdirSync(folder);
    for (let i = 0; i < N; i++) await sharp(Buffer.from(sceneRgb()), { raw: { width: SCENE.width, height: SCENE.height, channels: 3 } }).png().toFile(join(folder, `shapes${i}.png`));
    backend = new Backend({ shell: 'web' });
    backend.openProject(folder);
    await indexFolder(backend.project!);
    ids = (await api<{ items: Image[] }>('images.list', {})).items.map((i) => i.id);
    server = await startServer({ backend, port: 0, staticDir: ui });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await backend?.close();
    unregister();
    dir?.cleanup();
  });

  it('is offered beside DiffSeg; its panel shows its own settings and run, no model and no click tool', async () => {
    await page.goto(`${server.openUrl}#/image/${ids[0]}`);
    await expect.poll(() => canvas().getAttribute('data-ready'), { timeout: 20_000 }).toBe('true');
    const choice = page.getByTestId('pipeline');
    expect(await choice.locator('option').allTextContents()).toEqual(['DiffSeg', 'Ref LDM-Seg', 'Example prototype', 'Peekaboo', 'ODISE (vocabulary → panoptic)', 'Vocabulary (attention)', 'Threshold by colour']);
    expect(await page.getByTestId('tool-click').count()).toBe(1); // DiffSeg takes clicks
    await choice.selectOption('toy');
    await expect.poll(() => page.getByTestId('segment-panel').locator('h3').textContent()).toBe('Threshold by colour');
    expect(await page.getByTestId('tool-click').count()).toBe(0);
    expect(await page.getByTestId('toy-model').count()).toBe(0);
    expect(await page.getByTestId('segment-everything').textContent()).toBe('Threshold by colour');
    await page.getByTestId('toy-settings').locator('summary').click();
    expect(await page.getByTestId('toy-colour').inputValue()).toBe('#e6194b');
    expect(await page.getByTestId('toy-tolerance').inputValue()).toBe('40');
    // The remembered choice survives a reload.
    await page.reload();
    await expect.poll(() => page.getByTestId('segment-panel').locator('h3').textContent(), { timeout: 20_000 }).toBe('Threshold by colour');
  });

  it('runs on the open image with its settings: the shape of that colour becomes a proposal', async () => {
    await page.getByTestId('toy-settings').locator('summary').click();
    // The yellow rectangle (shape 3).
    await page.getByTestId('toy-colour').fill('#ffe119');
    await expect.poll(() => page.getByTestId('toy-settings').locator('summary').textContent()).toContain('changed');
    await page.getByTestId('segment-everything').click();
    const job = await lastJob();
    expect(job.state).toBe('done');
    expect(job.result).toMatchObject({ pipeline: 'toy', total: 1, segmented: 1, proposals: 1, params: { colour: '#ffe119' } });
    const [a] = await masks(ids[0]!);
    expect(a).toMatchObject({ source: 'toy', categoryId: null, proposed: true });
    expect(Array.from(decode(fromCocoRle(a!.mask)))).toEqual(Array.from(shapeMask(3)));
    await expect.poll(() => page.getByTestId('annotation-row').count()).toBe(1);
    await expect.poll(() => page.getByTestId('delete-proposals').textContent()).toContain('(1)');
    await expect.poll(() => page.getByTestId('job-summary').textContent()).toContain('1 image segmented');
    await shot('toy-pipeline-panel');
  });

  it('runs on every image from the grid as a job, named in the job bar, with its summary; a second run resumes', async () => {
    await page.getByTestId('back-to-grid').click();
    await expect.poll(() => page.getByTestId('pipeline').inputValue()).toBe('toy');
    await page.getByTestId('segment-batch').click();
    let job = await lastJob();
    expect(job.result as BatchReport).toMatchObject({ total: N, segmented: N - 1, skipped: 1, proposals: N - 1, failed: [] });
    await expect.poll(() => page.getByTestId('job-summary').textContent(), { timeout: 10_000 }).toContain(`${N - 1} images segmented`);
    expect(await page.getByTestId('job-summary').textContent()).toContain('1 skipped');
    await expect.poll(() => page.getByTestId('count-proposals').textContent()).toBe(String(N));
    for (const id of ids) expect((await api<Image>('images.get', { id })).status).toBe('unlabeled');
    await shot('toy-pipeline-grid');

    await page.getByTestId('segment-batch').click();
    await expect.poll(() => toyJobs().length).toBe(3);
    job = await lastJob();
    expect(job.result).toMatchObject({ total: N, segmented: 0, skipped: N });
  });
});
