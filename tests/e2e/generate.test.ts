// Generate in the app (Chromium, web mode, the grounded fixture model): the Generate… panel starts a job of 3
// images, the gallery shows them with their masks, two are kept and one discarded; the grid then holds the two
// beside the originals, their masks are of the named category, and the discarded file is gone.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { disposeSharedInferenceHost } from '../../src/core/pipelines/common/inference';
import { layoutMask } from '../../src/core/pipelines/grounded/fixture';
import { indexFolder } from '../../src/core/project';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { decode, fromCompressedString } from '../../src/shared/masks';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { makeImageFolder, tempDir } from '../helpers/folder';

const ui = join(__dirname, '..', '..', 'out', 'renderer');

describe.skipIf(!hasChromium)('generate images in the app and keep two of three (Chromium, web mode, fixture model)', () => {
  let dir: ReturnType<typeof tempDir>;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const shot = (name: string) => page.screenshot({ path: join(screenshotDir, `${name}.png`) });

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    await makeImageFolder(dir.path, 2, () => [64, 48]);
    backend = new Backend({ shell: 'web' });
    backend.openProject(dir.path);
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

  it('generates 3 images, keeps two: the grid shows them with the originals, masked as "red"; the discarded file is gone', async () => {
    await page.goto(server.openUrl);
    await expect.poll(() => page.getByTestId('image-cell').count(), { timeout: 20_000 }).toBe(2);
    await page.getByTestId('open-generate').click();
    const dialog = page.getByTestId('generate-dialog');
    await dialog.getByTestId('generate-prompt').fill('a photo of a red square');
    await dialog.getByTestId('generate-categories').fill('red');
    await dialog.getByTestId('generate-count').fill('3');
    await dialog.getByTestId('generate-seed').fill('5');
    await dialog.getByTestId('generate-sampler').selectOption('ddim');
    await dialog.getByTestId('generate-steps').fill('3');
    await dialog.getByTestId('generate-model').selectOption('fixture');
    await dialog.getByTestId('generate-start').click();

    await expect.poll(() => dialog.getByTestId('held-item').count(), { timeout: 120_000 }).toBe(3);
    await expect.poll(() => backend.jobs.list().find((j) => j.kind === 'generate')?.state, { timeout: 60_000 }).toBe('done');
    await expect.poll(() => dialog.getByTestId('generate-notice').textContent()).toBe('3 images made');
    // Each preview gave way to its image in the gallery.
    expect(await dialog.getByTestId('sampling').count()).toBe(0);
    // Held images are not in the project yet.
    expect(backend.project!.countImages()).toBe(2);
    await page.waitForTimeout(300); // the overlays are drawn once each image has loaded
    await shot('generate-gallery');

    const paths = await dialog.getByTestId('held-item').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')!));
    expect(paths.every((p) => /^generated\/a-photo-of-a-red-square-s[567]-[0-9a-f]{12}\.png$/.test(p))).toBe(true);
    const [keepA, discardC, keepB] = paths as [string, string, string];
    await dialog.locator(`[data-path="${keepA}"]`).getByTestId('keep').click();
    await expect.poll(() => dialog.getByTestId('held-item').count()).toBe(2);
    await dialog.locator(`[data-path="${discardC}"]`).getByTestId('discard').click();
    await expect.poll(() => dialog.getByTestId('held-item').count()).toBe(1);
    await dialog.locator(`[data-path="${keepB}"]`).getByTestId('keep').click();
    await expect.poll(() => dialog.getByTestId('held-item').count()).toBe(0);
    await dialog.getByRole('button', { name: 'Close' }).last().click();

    await expect.poll(() => page.getByTestId('image-cell').count(), { timeout: 20_000 }).toBe(4);
    const titles = await page.getByTestId('image-cell').evaluateAll((els) => els.map((e) => e.getAttribute('title')));
    expect(titles.sort()).toEqual(['a/img000.png', 'b/img001.png', keepA, keepB].sort());
    await shot('generate-grid');

    const store = backend.project!;
    const red = store.getCategoryByName('red')!;
    expect(store.listCategories().map((c) => c.name)).toEqual(['red']);
    for (const path of [keepA, keepB]) {
      const img = store.getImageByPath(path)!;
      const [mask] = store.listAnnotations({ imageId: img.id });
      expect(store.listAnnotations({ imageId: img.id })).toHaveLength(1);
      expect(mask).toMatchObject({ categoryId: red.id, source: 'grounded' });
      const bits = decode(fromCompressedString(mask!.rle, 512, 512));
      const want = layoutMask('red');
      let inter = 0, union = 0;
      for (let i = 0; i < bits.length; i++) {
        inter += bits[i]! & want[i]!;
        union += bits[i]! | want[i]!;
      }
      expect(inter / union).toBeGreaterThanOrEqual(0.9);
      expect(existsSync(join(dir.path, ...path.split('/')))).toBe(true);
    }
    expect(store.getImageByPath(discardC)).toBeUndefined();
    expect(readdirSync(join(dir.path, 'generated')).sort()).toEqual([keepA, keepB].map((p) => p.split('/')[1]).sort());
    expect(readdirSync(join(dir.path, '.difflabel', 'generated', 'generated'))).toEqual([]);
  });

  it('shows a preview of the image being sampled before it is done, scaled up smoothly; Cancel clears it', async () => {
    await page.getByTestId('open-generate').click();
    const dialog = page.getByTestId('generate-dialog');
    await dialog.getByTestId('generate-prompt').fill('a photo of a blue disc');
    await dialog.getByTestId('generate-categories').fill('blue');
    await dialog.getByTestId('generate-count').fill('1');
    await dialog.getByTestId('generate-seed').fill('21');
    await dialog.getByTestId('generate-sampler').selectOption('ddim');
    // Many steps: the fixture's are milliseconds, and the preview must be seen while the image is sampled.
    await dialog.getByTestId('generate-steps').fill('600');
    await dialog.getByTestId('generate-model').selectOption('fixture');
    await dialog.getByTestId('generate-start').click();

    const preview = dialog.getByTestId('sampling-preview');
    await preview.waitFor({ state: 'visible', timeout: 60_000 });
    // Seen before the image is done: nothing is held yet, and the job runs.
    expect(await dialog.getByTestId('held-item').count()).toBe(0);
    expect(backend.jobs.list().find((j) => j.kind === 'generate' && j.state === 'running')).toBeDefined();
    await expect.poll(() => dialog.getByTestId('sampling').textContent()).toMatch(/^Image 1, step \d+ of 600: a rough preview$/);
    const size = await preview.evaluate((img: HTMLImageElement) => ({ natural: [img.naturalWidth, img.naturalHeight], shown: img.getBoundingClientRect().width, rendering: getComputedStyle(img).imageRendering }));
    expect(size.natural).toEqual([64, 64]);
    expect(size.shown).toBeGreaterThanOrEqual(200);
    expect(size.rendering).toBe('auto');
    // The fixture's layout in the preview: the blue disc's centre (latent cell (46, 17)) reads blue where it is shown.
    const disc = await preview.evaluate((img: HTMLImageElement) => {
      const c = document.createElement('canvas');
      c.width = c.height = 64;
      const ctx = c.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      return Array.from(ctx.getImageData(46, 17, 1, 1).data.slice(0, 3));
    });
    expect(disc[2]).toBeGreaterThan(200);
    expect(disc[0]).toBeLessThan(55);
    await shot('generate-preview');

    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => backend.jobs.list().find((j) => j.kind === 'generate' && j.state !== 'done')?.state, { timeout: 60_000 }).toBe('cancelled');
    await expect.poll(() => dialog.getByTestId('sampling').count()).toBe(0);
    expect(await dialog.getByTestId('held-item').count()).toBe(0);
    await shot('generate-preview-cancelled');
  });
});
