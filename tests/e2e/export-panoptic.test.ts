// The export dialog's panoptic choice in Debian's Chromium against web mode: the path is prefilled (dot-named in
// the project folder), the export writes the JSON and its PNGs, and the report shows the overlap it resolved.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { indexFolder } from '../../src/core/project';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { encode, toCocoRle } from '../../src/shared/masks';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';
import { readPanoptic } from '../helpers/panoptic-reader';

const ui = join(__dirname, '..', '..', 'out', 'renderer');
const W = 64, H = 48;

describe.skipIf(!hasChromium)('export dialog: COCO panoptic (web mode)', () => {
  let dir: ReturnType<typeof tempDir>;
  let folder: string;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const api = (method: string, input: unknown) => backend.dispatch(method, input) as Promise<any>;

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    folder = join(dir.path, 'scenes');
    mkdirSync(folder);
    await sharp({ create: { width: W, height: H, channels: 3, background: { r: 90, g: 160, b: 60 } } }).png().toFile(join(folder, 'street.png'));
    backend = new Backend({ shell: 'web' });
    backend.openProject(folder);
    await indexFolder(backend.project!);
    const imageId = (await api('images.list', {})).items[0].id;
    const road = await api('categories.add', { name: 'road', isthing: false });
    const car = await api('categories.add', { name: 'car', isthing: true });
    await api('annotations.add', { imageId, categoryId: road.id, mask: toCocoRle(encode(rectMask(H, W, 0, 24, W, H), H, W), false) });
    await api('annotations.add', { imageId, categoryId: car.id, mask: toCocoRle(encode(rectMask(H, W, 10, 20, 20, 30), H, W), false) });
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

  it('writes the JSON and the PNG folder at the prefilled path and shows the pixels that changed hands', async () => {
    await page.goto(server.openUrl);
    await page.getByTestId('open-export').click();
    await page.getByTestId('kind-panoptic').check();
    const out = join(folder, '.panoptic.json');
    await expect.poll(() => page.getByTestId('panoptic-out').inputValue()).toBe(out);
    await page.getByTestId('export-run').click();
    await expect.poll(() => page.getByTestId('report-segments').textContent(), { timeout: 20_000 }).toBe('2 from 2 masks');
    expect(await page.getByTestId('report-changed-hands').textContent()).toBe(String(10 * 6)); // the car over the road
    await page.screenshot({ path: join(screenshotDir, 'export-panoptic.png') });
    const read = await readPanoptic(out, join(folder, '.panoptic'));
    expect(read.problems).toEqual([]);
    expect([...read.images.get('street.png')!.segments.values()].map((s) => s.pixels.length)).toEqual([W * 24 - 60, 100]);
  });
});
