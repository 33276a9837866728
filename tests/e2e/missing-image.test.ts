// An image whose file vanished, in the web UI (Debian's Chromium): the grid shows it as missing with its masks
// count, the Missing filter finds it, and opening it says the file is missing instead of showing a broken image.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { Backend } from '../../src/core/api/backend';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { encode, toCompressedString } from '../../src/shared/masks';
import type { IndexReport } from '../../src/core/project';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';

const ui = join(__dirname, '..', '..', 'out', 'renderer');

describe.skipIf(!hasChromium)('a missing image in the web UI', () => {
  let dir: ReturnType<typeof tempDir>;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let missingId: number;
  const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    const folder = join(dir.path, 'photos');
    const paths = await makeImageFolder(folder, 6, () => [40, 30]);
    backend = new Backend({ shell: 'web' });
    backend.openProject(folder);
    await backend.jobs.wait((await call('project.index', {})).jobId);
    const img = (await call('images.list', {})).items.find((i: any) => i.path === paths[2]);
    missingId = img.id;
    for (const x of [0, 10]) {
      const mask = { size: [30, 40], counts: toCompressedString(encode(rectMask(30, 40, x, 0, x + 5, 5), 30, 40)) };
      await call('annotations.add', { imageId: missingId, categoryId: null, mask });
    }
    renameSync(join(folder, paths[2]!), join(dir.path, 'away.png'));
    const job = await backend.jobs.wait((await call('project.index', {})).jobId);
    expect((job.result as IndexReport).missing).toEqual([{ path: paths[2], annotations: 2, since: expect.any(Number) }]);
    server = await startServer({ backend, port: 0, staticDir: ui });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await backend?.close();
    dir?.cleanup();
  });

  it('shows it as missing with its masks count, and the Missing filter finds it', async () => {
    await page.goto(server.openUrl);
    await expect.poll(() => page.getByTestId('image-cell').count(), { timeout: 20_000 }).toBe(6);
    expect(await page.getByTestId('count-missing').textContent()).toBe('1');
    const cell = page.locator('[data-testid="image-cell"][data-missing="true"]');
    expect(await cell.count()).toBe(1);
    expect(await cell.locator('.thumb .badge.missing').textContent()).toBe('missing');
    expect(await cell.locator('.meta').textContent()).toMatch(/2 masks/);
    expect(await cell.getAttribute('title')).toBe('file missing: a/img002.png — masks kept');

    await page.getByRole('button', { name: /^Missing/ }).click();
    await expect.poll(() => page.getByTestId('image-cell').count()).toBe(1);
    expect(await page.getByTestId('image-cell').getAttribute('data-missing')).toBe('true');
    await page.screenshot({ path: join(screenshotDir, 'grid-missing.png') });
  });

  it('opens it read-only: the canvas says the file is missing, the masks are listed, edits are refused', async () => {
    await page.getByTestId('image-cell').dblclick();
    await expect.poll(() => page.getByTestId('canvas-note').textContent()).toBe('file missing: a/img002.png — masks kept');
    expect(await page.getByTestId('canvas').getAttribute('data-masks')).toBe('2');
    expect(await page.getByTestId('annotation-row').count()).toBe(2);
    expect(await page.getByTestId('masks-read-only').textContent()).toMatch(/file is missing/);
    expect(await page.getByTestId('mark-done').isDisabled()).toBe(true);
    // The strip keeps the Missing filter and marks the row.
    expect(await page.getByLabel('Status filter').inputValue()).toBe('missing');
    expect(await page.locator('[data-testid="strip-row"].missing').count()).toBe(1);
    // Deleting a mask goes to the back end, which refuses it (409): the toast says why, the masks stay.
    await page.getByTestId('annotation-row').first().locator('.ann-meta').click();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/is missing.*masks are kept/);
    expect((await call('annotations.list', { imageId: missingId })).length).toBe(2);
    await page.screenshot({ path: join(screenshotDir, 'canvas-missing.png') });
  });
});
