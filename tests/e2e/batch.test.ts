// Batch DiffSeg from the UI (fixture model, Chromium, web mode): "Segment all images" as a job the grid follows
// without blanking, the job bar in words with the time left and out of the canvas's way, a summary at the end or on
// cancel, proposals that leave images Unlabeled (with a "Has proposals" filter), and bulk deletes as one undo step.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { disposeSharedInferenceHost } from '../../src/core/pipelines/common/inference';
import { indexFolder } from '../../src/core/project';
import { startServer, type RunningServer } from '../../src/core/server/server';
import type { Annotation, BatchReport, Image, Job } from '../../src/shared/contract';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir } from '../helpers/folder';
import { makeScene, writeScene } from '../pipelines/diffseg/fixture-scenes';

const ui = join(__dirname, '..', '..', 'out', 'renderer');
const N = 8;

describe.skipIf(!hasChromium)('batch DiffSeg in the UI (Chromium, web mode, fixture model)', () => {
  let dir: ReturnType<typeof tempDir>;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;

  const api = <T,>(method: string, input: unknown) => backend.dispatch(method, input) as Promise<T>;
  const images = async () => (await api<{ items: Image[] }>('images.list', {})).items;
  const diffsegJobs = () => backend.jobs.list().filter((j) => j.kind === 'diffseg');
  const lastJob = (): Job | undefined => diffsegJobs().at(-1);
  const waitJob = async () => {
    await expect.poll(() => lastJob()?.state, { timeout: 120_000 }).not.toBe('running');
    return lastJob()!;
  };
  const shot = (name: string) => page.screenshot({ path: join(screenshotDir, `${name}.png`) });
  const summary = () => page.getByTestId('job-summary');
  const jobRow = () => page.getByTestId('job');

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    const folder = join(dir.path, 'scenes');
    mkdirSync(folder);
    for (let i = 0; i < N; i++) await writeScene(join(folder, `scene${i}.png`), makeScene(240, 180, 3, 41 + i));
    backend = new Backend({ shell: 'web' });
    backend.openProject(folder);
    await indexFolder(backend.project!);
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

  it('the grid keeps its cells while "Segment all images" runs; the job bar says what runs and how long is left; a summary follows', async () => {
    await page.goto(server.openUrl);
    await expect.poll(() => page.locator('.cell .thumb img').evaluateAll((l) => l.filter((i) => (i as HTMLImageElement).naturalWidth > 0).length), { timeout: 20_000 }).toBe(N);
    await page.getByTestId('diffseg-model').selectOption('fixture');
    // Count every cell that turns into a placeholder and every thumbnail taken out of the page from now on.
    await page.evaluate(() => {
      const seen = { placeholders: 0, thumbsRemoved: 0 };
      (window as unknown as { seen: typeof seen }).seen = seen;
      new MutationObserver((records) => {
        for (const r of records) {
          for (const n of r.addedNodes) if (n instanceof HTMLElement && (n.matches('.placeholder') || n.querySelector('.placeholder'))) seen.placeholders++;
          for (const n of r.removedNodes) if (n instanceof HTMLElement && (n.tagName === 'IMG' || n.querySelector('img'))) seen.thumbsRemoved++;
        }
      }).observe(document.querySelector('.grid')!, { childList: true, subtree: true });
    });

    await page.getByTestId('segment-batch').click();
    await expect.poll(() => jobRow().textContent(), { timeout: 20_000 }).toMatch(new RegExp(`^Segmenting images with DiffSeg — \\d of ${N}`));
    // Once an image is done, the time left is estimated.
    await expect.poll(() => jobRow().textContent(), { timeout: 60_000 }).toMatch(/about \d+ (s|min) left/);
    // Finished images show their masks while the job still runs.
    await expect.poll(async () => (await page.getByTestId('image-cell').allTextContents()).filter((t) => /[1-9]\d* masks/.test(t)).length, { timeout: 60_000 }).toBeGreaterThan(0);
    expect(lastJob()!.state).toBe('running');
    await shot('batch-grid-running');

    const job = await waitJob();
    expect(job.state).toBe('done');
    const report = job.result as BatchReport;
    expect(report).toMatchObject({ total: N, segmented: N, skipped: 0, failed: [] });
    await expect.poll(() => summary().textContent(), { timeout: 10_000 }).toContain(`${N} images segmented`);
    const text = (await summary().textContent())!;
    expect(text).toContain(`${report.proposals} proposals`);
    expect(text).toContain('0 skipped');
    expect(text).toContain('0 failed');
    expect(await jobRow().count()).toBe(0);
    // Every cell shows its image's masks, and nothing blanked or reloaded on the way.
    const counts = new Map((await images()).map((i) => [i.path, i.annotations]));
    await expect
      .poll(async () => (await page.getByTestId('image-cell').allTextContents()).every((t) => [...counts].some(([p, n]) => t.includes(p) && t.includes(`${n} masks`))))
      .toBe(true);
    expect(await page.evaluate(() => (window as unknown as { seen: object }).seen)).toEqual({ placeholders: 0, thumbsRemoved: 0 });
    await shot('batch-grid-summary');
  }, 240_000);

  it('proposals leave the images Unlabeled; the "Has proposals" chip lists them, as images.list does', async () => {
    expect((await images()).map((i) => i.status)).toEqual(Array(N).fill('unlabeled'));
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent()).toBe(String(N));
    expect(await page.getByTestId('count-in_progress').textContent()).toBe('0');
    await expect.poll(() => page.getByTestId('count-proposals').textContent()).toBe(String(N));
    await page.getByRole('button', { name: /Has proposals/ }).click();
    await expect.poll(() => page.getByTestId('image-cell').count()).toBe(N);
    expect((await api<{ total: number }>('images.list', { proposals: true })).total).toBe(N);
    await page.getByRole('button', { name: /^All/ }).click();
  });

  it('running again skips what is done, and the summary says so', async () => {
    await page.getByTestId('segment-batch').click();
    await expect.poll(() => summary().textContent(), { timeout: 60_000 }).toContain(`${N} skipped`);
    expect((await waitJob()).result).toMatchObject({ segmented: 0, skipped: N });
    expect(await summary().textContent()).toContain('0 images segmented');
    await summary().getByRole('button', { name: /close/i }).click();
    expect(await summary().count()).toBe(0);
  });

  it('in the canvas the job bar sits below it (the image does not move); a cancel shows what was done', async () => {
    await page.getByTestId('image-cell').first().dblclick();
    const canvas = page.getByTestId('canvas');
    await expect.poll(() => canvas.getAttribute('data-ready'), { timeout: 20_000 }).toBe('true');
    // Other settings: every image is segmented again.
    await page.getByTestId('diffseg-settings').locator('summary').click();
    await page.getByTestId('diffseg-tau').fill('0.9');
    const before = await Promise.all([canvas.getAttribute('data-x'), canvas.getAttribute('data-y'), canvas.getAttribute('data-scale')]);
    const box = (await canvas.boundingBox())!;
    // The strip beside the canvas keeps its rows too: count thumbnails taken out of it from now on.
    await expect.poll(() => page.locator('.strip-thumb img').count(), { timeout: 20_000 }).toBe(N);
    await page.evaluate(() => {
      const strip = { thumbsRemoved: 0 };
      (window as unknown as { strip: typeof strip }).strip = strip;
      new MutationObserver((records) => {
        for (const r of records) for (const n of r.removedNodes) if (n instanceof HTMLElement && (n.tagName === 'IMG' || n.querySelector('img'))) strip.thumbsRemoved++;
      }).observe(document.querySelector('[data-testid="image-strip"]')!, { childList: true, subtree: true });
    });

    await page.getByTestId('segment-batch').click();
    await expect.poll(() => jobRow().textContent(), { timeout: 20_000 }).toMatch(/Segmenting images with DiffSeg — [1-9] of 8/);
    const bar = (await jobRow().boundingBox())!;
    const now = (await canvas.boundingBox())!;
    // Not over the canvas: entirely below it.
    expect(bar.y).toBeGreaterThanOrEqual(now.y + now.height - 1);
    expect(now.y).toBe(box.y);
    expect(await Promise.all([canvas.getAttribute('data-x'), canvas.getAttribute('data-y'), canvas.getAttribute('data-scale')])).toEqual(before);
    await shot('batch-canvas-running');

    await jobRow().getByRole('button', { name: 'Cancel' }).click();
    const job = await waitJob();
    expect(job.state).toBe('cancelled');
    const report = job.result as BatchReport;
    expect(report.cancelled).toBe(true);
    expect(report.segmented).toBeGreaterThanOrEqual(1);
    expect(report.segmented).toBeLessThan(N);
    await expect.poll(() => summary().textContent(), { timeout: 10_000 }).toMatch(/cancelled/i);
    const text = (await summary().textContent())!;
    expect(text).toContain(`${report.segmented} ${report.segmented === 1 ? 'image' : 'images'} segmented`);
    expect(text).toContain(`${report.proposals} proposals`);
    expect(text).toContain(`${N - report.segmented - report.skipped - report.failed.length} still to do`);
    expect(await page.evaluate(() => (window as unknown as { strip: object }).strip)).toEqual({ thumbsRemoved: 0 });
    await shot('batch-canvas-cancelled');

    // The strip filters by proposals too, as the grid's chip does.
    await page.getByLabel('Status filter').selectOption('proposals');
    const withProposals = (await api<{ total: number }>('images.list', { proposals: true, limit: 1 })).total;
    expect(withProposals).toBeGreaterThan(0);
    await expect.poll(() => page.getByTestId('strip-row').count(), { timeout: 10_000 }).toBe(withProposals);
    await page.getByLabel('Status filter').selectOption('');
  }, 240_000);

  it('"Delete proposals (N)" and Delete with several masks selected are each one undo step', async () => {
    const imageId = Number(await page.getByTestId('canvas').getAttribute('data-image'));
    const list = () => api<Annotation[]>('annotations.list', { imageId });
    const all = (await list()).map((a) => a.id);
    const proposals = (await list()).filter((a) => a.categoryId === null && a.source === 'diffseg').map((a) => a.id);
    expect(proposals.length).toBeGreaterThanOrEqual(3);
    await expect.poll(() => page.getByTestId('delete-proposals').textContent()).toContain(`(${proposals.length})`);

    await page.getByTestId('delete-proposals').click();
    await expect.poll(async () => (await list()).length, { timeout: 20_000 }).toBe(all.length - proposals.length);
    await expect.poll(() => page.getByTestId('undo').isEnabled()).toBe(true);
    await page.getByTestId('canvas').focus();
    await page.keyboard.press('Control+z');
    await expect.poll(async () => (await list()).map((a) => a.id), { timeout: 20_000 }).toEqual(all);
    await expect.poll(() => page.getByTestId('annotation-row').count()).toBe(all.length);

    // Three masks selected in the list (click, then Shift+click, beside the category select), Delete, one Ctrl+Z.
    const swatches = page.getByTestId('annotation-row').locator('.swatch');
    await swatches.nth(0).click();
    await swatches.nth(1).click({ modifiers: ['Shift'] });
    await swatches.nth(2).click({ modifiers: ['Shift'] });
    await expect.poll(() => page.locator('[data-testid="annotation-row"].selected').count()).toBe(3);
    await page.keyboard.press('Delete');
    await expect.poll(async () => (await list()).length, { timeout: 20_000 }).toBe(all.length - 3);
    await page.keyboard.press('Control+z');
    await expect.poll(async () => (await list()).map((a) => a.id), { timeout: 20_000 }).toEqual(all);
  });
});
