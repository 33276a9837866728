// The import dialog's COCO panoptic choice in Debian's Chromium against web mode: a panoptic export (the JSON and its
// PNG folder) imported into a fresh project gives back the same masks, with the categories it created and the image the
// project lacks in the report; a JSON whose PNG folder is missing is refused with the reason and imports nothing.
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { indexFolder } from '../../src/core/project';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { encode, fromCompressedString, toCocoRle } from '../../src/shared/masks';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir } from '../helpers/folder';
import { diskMask, rectMask } from '../helpers/masks';

const ui = join(__dirname, '..', '..', 'out', 'renderer');
const W = 64, H = 48;

/** Masks of a project by "<image path> <category>" as RLE counts. */
async function projectMasks(backend: Backend): Promise<Map<string, number[]>> {
  const api = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
  const names = new Map((await api('categories.list', {})).map((c: { id: number; name: string }) => [c.id, c.name]));
  const out = new Map<string, number[]>();
  for (const img of (await api('images.list', {})).items)
    for (const a of await api('annotations.list', { imageId: img.id })) out.set(`${img.path} ${names.get(a.categoryId)}`, Array.from(fromCompressedString(a.mask.counts, H, W).counts));
  return out;
}

describe.skipIf(!hasChromium)('import dialog: COCO panoptic (web mode)', () => {
  let dir: ReturnType<typeof tempDir>;
  let source: string;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const api = (method: string, input: unknown) => backend.dispatch(method, input) as Promise<any>;

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    source = join(dir.path, 'source');
    mkdirSync(source);
    for (const name of ['street.png', 'park.png']) await sharp({ create: { width: W, height: H, channels: 3, background: { r: 90, g: 160, b: 60 } } }).png().toFile(join(source, name));
    backend = new Backend({ shell: 'web' });
    backend.openProject(source);
    await indexFolder(backend.project!);
    const road = await api('categories.add', { name: 'road', isthing: false });
    const car = await api('categories.add', { name: 'car', isthing: true });
    for (const [i, img] of (await api('images.list', {})).items.entries()) {
      await api('annotations.add', { imageId: img.id, categoryId: road.id, mask: toCocoRle(encode(rectMask(H, W, 0, 32, W, H), H, W), false) });
      await api('annotations.add', { imageId: img.id, categoryId: car.id, mask: toCocoRle(encode(diskMask(H, W, 30 + i, 16, 10), H, W), false) });
    }
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

  /** The source's panoptic export from the export dialog, at its prefilled path. */
  async function exportPanoptic(): Promise<string> {
    await page.goto(server.openUrl);
    await page.getByTestId('open-export').click();
    await page.getByTestId('kind-panoptic').check();
    const out = join(source, '.panoptic.json');
    await expect.poll(() => page.getByTestId('panoptic-out').inputValue()).toBe(out);
    await page.getByTestId('export-run').click();
    await expect.poll(() => page.getByTestId('report-segments').textContent(), { timeout: 20_000 }).toBe('4 from 4 masks');
    return out;
  }

  /** A project of street.png alone with the export copied in (its PNG folder too unless `withoutPngs`), in a page. */
  async function freshProject(name: string, withoutPngs = false) {
    const folder = join(dir.path, name);
    cpSync(join(source, 'street.png'), join(folder, 'street.png'));
    cpSync(join(source, '.panoptic.json'), join(folder, '.panoptic.json'));
    if (!withoutPngs) cpSync(join(source, '.panoptic'), join(folder, '.panoptic'), { recursive: true });
    const fresh = new Backend({ shell: 'web' });
    fresh.openProject(folder);
    const s = await startServer({ backend: fresh, port: 0, staticDir: ui });
    await page.goto(s.openUrl);
    await page.getByTestId('open-import').click();
    await page.getByTestId('import-kind-panoptic').check();
    await page.getByTestId('import-path').fill(join(folder, '.panoptic.json'));
    await page.getByTestId('import-run').click();
    return { fresh, folder, close: async () => (await s.close(), await fresh.close()) };
  }

  it('a panoptic export imported into a fresh project: the same masks, its categories created, the missing image reported', async () => {
    await exportPanoptic();
    const { fresh, close } = await freshProject('fresh');
    try {
      await expect.poll(() => page.getByTestId('import-annotations').textContent(), { timeout: 20_000 }).toBe('2');
      expect(await page.getByTestId('import-images').textContent()).toBe('1');
      expect(await page.getByTestId('import-categories-created').textContent()).toBe('2');
      expect(await page.getByTestId('import-images-unmatched').textContent()).toBe('1');
      expect(await page.getByTestId('import-skipped').textContent()).toMatch(/^2image \d+: no image "park\.png" in the project folderannotation #\d+: image \d+: its image was skipped$/);
      await page.screenshot({ path: join(screenshotDir, 'import-panoptic.png') });
      const original = await projectMasks(backend);
      const back = await projectMasks(fresh);
      expect([...back.keys()].sort()).toEqual(['street.png car', 'street.png road']);
      for (const [k, counts] of back) expect(counts, k).toEqual(original.get(k));
      expect((await fresh.dispatch('categories.list', {}) as { name: string; isthing: boolean }[]).map((c) => [c.name, c.isthing])).toEqual([['road', false], ['car', true]]);
    } finally {
      await close();
    }
  });

  it('a panoptic JSON without its PNG folder is refused with the reason, and nothing is imported', async () => {
    const { fresh, folder, close } = await freshProject('fresh-no-pngs', true);
    try {
      await expect.poll(() => page.getByTestId('import-error').textContent(), { timeout: 20_000 })
        .toBe(`the PNG folder ${join(folder, '.panoptic')} is missing (a panoptic JSON's PNGs are in the folder of its name beside it) Nothing was imported.`);
      await page.screenshot({ path: join(screenshotDir, 'import-panoptic-refused.png') });
      expect(await fresh.dispatch('categories.list', {})).toEqual([]);
      expect((await fresh.dispatch('project.stats', {}) as { annotations: number }).annotations).toBe(0);
    } finally {
      await close();
    }
  });
});
