// Segment from one example in the app (Chromium, web mode, Ref LDM-Seg's fixture model): a mask marked "use as
// example" (U) is listed in the pipeline panel under its category, "Find in all images" runs as a job, each scene's
// proposal is its red square, offered in the example's category, and accepting it (✓ in its row, or A) gives that
// category. Checked through the API and the database.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { disposeSharedInferenceHost } from '../../src/core/pipelines/common/inference';
import { indexFolder } from '../../src/core/project';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { decode, encode, fromCocoRle, toCocoRle } from '../../src/shared/masks';
import type { Annotation, BatchReport, Example, Image, Job } from '../../src/shared/contract';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir } from '../helpers/folder';
import { iou, query, support, writeScene } from '../pipelines/refldmseg/scenes';

const ui = join(__dirname, '..', '..', 'out', 'renderer');
const SHIFTS = [0, 16, 32];

describe.skipIf(!hasChromium)('segment from one example in the app (Chromium, web mode, fixture model)', () => {
  let dir: ReturnType<typeof tempDir>;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const ids: Record<string, number> = {};
  let red: number;
  let disk: number;

  const api = <T,>(method: string, input: unknown) => backend.dispatch(method, input) as Promise<T>;
  const jobs = () => backend.jobs.list().filter((j) => j.kind === 'refldmseg');
  const lastJob = async (): Promise<Job> => {
    await expect.poll(() => jobs().at(-1)?.state, { timeout: 120_000 }).toMatch(/done|failed|cancelled/);
    return jobs().at(-1)!;
  };
  const masks = (imageId: number) => api<Annotation[]>('annotations.list', { imageId });
  const shot = (name: string) => page.screenshot({ path: join(screenshotDir, `${name}.png`) });
  const openImage = async (name: string) => {
    await page.goto(`${server.openUrl}#/image/${ids[name]}`);
    await expect.poll(() => page.getByTestId('canvas').getAttribute('data-ready'), { timeout: 20_000 }).toBe('true');
  };

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    const folder = join(dir.path, 'scenes');
    mkdirSync(folder);
    const ex = support();
    await writeScene(join(folder, 'example.png'), ex);
    for (const dx of SHIFTS) await writeScene(join(folder, `query${dx}.png`), query(dx));
    backend = new Backend({ shell: 'web' });
    backend.openProject(folder);
    await indexFolder(backend.project!);
    for (const img of (await api<{ items: Image[] }>('images.list', {})).items) ids[img.path] = img.id;
    // The labeler's mask of the red disk, in its category: what is marked as the example below.
    red = (await api<{ id: number }>('categories.add', { name: 'red thing', color: '#e6194b' })).id;
    disk = (await api<Annotation>('annotations.add', { imageId: ids['example.png'], categoryId: red, mask: toCocoRle(encode(ex.masks[0]!, 160, 200), true) })).id;
    server = await startServer({ backend, port: 0, staticDir: ui });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await backend?.close();
    await disposeSharedInferenceHost();
    dir?.cleanup();
  });

  it('marks a mask as an example with U; the Ref LDM-Seg panel lists it under its category', async () => {
    await openImage('example.png');
    await page.getByTestId('pipeline').selectOption('refldmseg');
    await page.getByTestId('refldmseg-model').selectOption('fixture');
    await expect.poll(() => page.getByTestId('examples-empty').count()).toBe(1);
    expect(await page.getByTestId('find-all').isDisabled()).toBe(true);

    await page.locator(`[data-testid="annotation-row"][data-id="${disk}"]`).click();
    await page.keyboard.press('u');
    await expect.poll(() => api<Example[]>('examples.list', {})).toEqual([expect.objectContaining({ annotationId: disk, imageId: ids['example.png'], categoryId: red })]);
    await expect.poll(() => page.getByTestId('example-row').count()).toBe(1);
    expect(await page.getByTestId('examples').locator('.example-category').allTextContents()).toEqual([' red thing']);
    expect(await page.getByTestId('example-row').textContent()).toContain(`example.png #${disk}`);
    expect(await page.getByTestId('example-row').locator('input').isChecked()).toBe(true);
    expect(await page.getByTestId('use-as-example').textContent()).toBe('★');
    // A second U keeps one example of the mask.
    await page.keyboard.press('u');
    await page.waitForTimeout(300);
    expect(await api<Example[]>('examples.list', {})).toHaveLength(1);
    await shot('example-marked');
  });

  it('"Find in all images" runs as a job: each scene\'s proposal is its red square, offered in the example\'s category', async () => {
    await page.getByTestId('find-all').click();
    const job = await lastJob();
    expect(job.state).toBe('done');
    expect(job.result as BatchReport).toMatchObject({ pipeline: 'refldmseg', model: 'fixture-ref-ldm-seg-f', total: SHIFTS.length + 1, segmented: SHIFTS.length + 1, proposals: SHIFTS.length + 1, failed: [] });
    await expect.poll(() => page.getByTestId('job-summary').textContent(), { timeout: 10_000 }).toContain(`${SHIFTS.length + 1} images segmented`);
    for (const dx of SHIFTS) {
      const [p, ...more] = await masks(ids[`query${dx}.png`]!);
      expect(more).toEqual([]);
      expect(p).toMatchObject({ source: 'refldmseg', categoryId: null, proposed: true, suggestedCategoryId: red });
      expect(iou(decode(fromCocoRle(p!.mask)), query(dx).masks[0]!)).toBeGreaterThanOrEqual(0.9);
    }
  });

  it('offers a proposal in the example\'s category in its row; one click accepts it into that category', async () => {
    await openImage('query0.png');
    const [p] = await masks(ids['query0.png']!);
    const offer = page.getByTestId('accept-suggested');
    await expect.poll(() => offer.textContent()).toBe('✓ red thing?');
    await shot('example-proposal');
    await offer.click();
    await expect.poll(async () => (await masks(ids['query0.png']!))[0]).toMatchObject({ id: p!.id, categoryId: red, suggestedCategoryId: null });
    expect(backend.project!.getAnnotation(p!.id)).toMatchObject({ categoryId: red });
    // Accepted, it is the labeler's mask: the image is being labelled.
    expect((await api<Image>('images.get', { id: ids['query0.png'] })).status).toBe('in_progress');
    await expect.poll(() => offer.count()).toBe(0);
    await expect.poll(() => page.getByTestId('annotation-row').locator('select').inputValue()).toBe(String(red));
    await shot('example-proposal-accepted');
  });

  it('A accepts the selected proposal in its offered category', async () => {
    await openImage('query16.png');
    const [p] = await masks(ids['query16.png']!);
    await page.locator(`[data-testid="annotation-row"][data-id="${p!.id}"]`).click();
    await page.keyboard.press('a');
    await expect.poll(() => backend.project!.getAnnotation(p!.id)?.categoryId).toBe(red);
  });

  it('deletes an example from the panel; the mask stays', async () => {
    await page.getByTestId('examples').getByRole('button', { name: `Delete example example.png #${disk}` }).click();
    await expect.poll(() => api<Example[]>('examples.list', {})).toEqual([]);
    await expect.poll(() => page.getByTestId('example-row').count()).toBe(0);
    expect(backend.project!.getAnnotation(disk)).toMatchObject({ categoryId: red });
  });
});
