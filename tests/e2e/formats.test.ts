// Every format from the app, in Debian's Chromium against web mode: masks exported from one project through the
// Export dialog are imported through the Import dialog into a fresh project (images copied, not indexed yet: the
// import indexes first), and each mask comes back: exactly (IoU 1) for the formats that store pixels, IoU ≥ 0.99
// for polygons, and as its box for YOLO detection. YOLO segmentation is exported with its images copied into the
// dataset. A refused folder shows its reason and changes nothing.
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { indexFolder } from '../../src/core/project';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { area, bbox, boxRle, encode, fromCompressedString, intersect, toCocoRle, union, type Rle } from '../../src/shared/masks';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir } from '../helpers/folder';
import { diskMask, rectMask } from '../helpers/masks';

const ui = join(__dirname, '..', '..', 'out', 'renderer');
const W = 64, H = 48;
const IMAGES = ['one.png', 'sub/two.png'];

/** Masks of a project by "image category", decoded. */
async function projectMasks(backend: Backend): Promise<Map<string, Rle>> {
  const api = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
  const names = new Map((await api('categories.list', {})).map((c: { id: number; name: string }) => [c.id, c.name]));
  const out = new Map<string, Rle>();
  for (const img of (await api('images.list', {})).items)
    for (const a of await api('annotations.list', { imageId: img.id }))
      out.set(`${img.path} ${names.get(a.categoryId)}`, a.shape === 'box' ? boxRle(a.bbox, H, W) : fromCompressedString(a.mask.counts, H, W));
  return out;
}
const iou = (a: Rle, b: Rle) => area(intersect(a, b)) / area(union(a, b));
const boxOf = (m: Rle) => {
  const [x, y, w, h] = bbox(m);
  return encode(rectMask(H, W, x, y, x + w, y + h), H, W);
};

describe.skipIf(!hasChromium)('export and import every format from the app (web mode)', () => {
  let dir: ReturnType<typeof tempDir>;
  let source: string;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let original: Map<string, Rle>;
  const api = (method: string, input: unknown) => backend.dispatch(method, input) as Promise<any>;

  /** A folder with the source's images, not indexed. */
  const freshFolder = (name: string) => {
    const folder = join(dir.path, name);
    for (const p of IMAGES) cpSync(join(source, p), join(folder, p));
    return folder;
  };

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    source = join(dir.path, 'source');
    mkdirSync(join(source, 'sub'), { recursive: true });
    for (const p of IMAGES) await sharp({ create: { width: W, height: H, channels: 3, background: { r: 90, g: 160, b: 60 } } }).png().toFile(join(source, p));
    backend = new Backend({ shell: 'web' });
    backend.openProject(source);
    await indexFolder(backend.project!);
    const box = await api('categories.add', { name: 'box' });
    const round = await api('categories.add', { name: 'round thing' });
    for (const [i, img] of (await api('images.list', {})).items.entries()) {
      await api('annotations.add', { imageId: img.id, categoryId: box.id, mask: toCocoRle(encode(rectMask(H, W, 2 + i, 3, 20, 30), H, W), false) });
      await api('annotations.add', { imageId: img.id, categoryId: round.id, mask: toCocoRle(encode(diskMask(H, W, 44, 24 - i, 12), H, W), false) });
    }
    original = await projectMasks(backend);
    server = await startServer({ backend, port: 0, staticDir: ui });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await backend?.close();
    dir?.cleanup();
  });

  /** Opens `folder` as a project in web mode, imports `path` through the dialog and answers the project's masks. */
  async function importFromApp(folder: string, kind: string, path: string, shot: string): Promise<Map<string, Rle>> {
    const fresh = new Backend({ shell: 'web' });
    fresh.openProject(folder);
    const s = await startServer({ backend: fresh, port: 0, staticDir: ui });
    try {
      await page.goto(s.openUrl);
      await page.getByTestId('open-import').click();
      await page.getByTestId(`import-kind-${kind}`).check();
      await page.getByTestId('import-path').fill(path);
      await page.getByTestId('import-run').click();
      await expect.poll(() => page.getByTestId('import-annotations').textContent(), { timeout: 20_000 }).toBe('4');
      expect(await page.getByTestId('import-skipped').textContent()).toBe('0');
      expect(await page.getByTestId('import-images').textContent()).toBe('2');
      await page.screenshot({ path: join(screenshotDir, shot) });
      // The grid behind shows the new masks once the dialog is closed.
      await page.getByTestId('import-dialog').getByRole('button', { name: 'Close' }).click();
      await expect.poll(() => page.getByText('64×48 · 2 masks').count(), { timeout: 10_000 }).toBe(2);
      return await projectMasks(fresh);
    } finally {
      await s.close();
      await fresh.close();
    }
  }

  async function exportFromApp(kind: string, copyImages = false): Promise<string> {
    await page.goto(server.openUrl);
    await page.getByTestId('open-export').click();
    await page.getByTestId(`kind-${kind}`).check();
    const out = join(source, `.${kind}`);
    await expect.poll(() => page.getByTestId('export-out').inputValue()).toBe(out);
    if (copyImages) await page.getByTestId('export-copy-images').check();
    await page.getByTestId('export-run').click();
    await expect.poll(() => page.getByTestId('report-annotations').textContent(), { timeout: 20_000 }).toBe('4');
    expect(await page.getByTestId('report-images').textContent()).toBe('2');
    expect(await page.getByTestId('report-skipped').textContent()).toBe('0');
    await page.screenshot({ path: join(screenshotDir, `formats-export-${kind}.png`) });
    return out;
  }

  const cases = [
    { kind: 'masks', importAs: 'masks', min: 1 },
    { kind: 'voc', importAs: 'voc', min: 1 },
    { kind: 'yolo-seg', importAs: 'yolo', min: 0.99, copyImages: true },
    { kind: 'labelme', importAs: 'labelme', min: 0.99 },
    { kind: 'yolo-det', importAs: 'yolo', min: 1, boxes: true },
  ] as const;
  for (const c of cases)
    it(`${c.kind}: exported from the dialog, imported into a fresh project from the dialog, the same masks (boxes for detection)`, async () => {
      const out = await exportFromApp(c.kind, 'copyImages' in c);
      // The copies, where Ultralytics finds them beside labels/, and data.yaml naming them.
      if ('copyImages' in c) for (const p of IMAGES) expect(readFileSync(join(out, 'images', p)).equals(readFileSync(join(source, p)))).toBe(true);
      const folder = freshFolder(`fresh-${c.kind}`);
      cpSync(out, join(folder, `.${c.kind}`), { recursive: true });
      const back = await importFromApp(folder, c.importAs, join(folder, `.${c.kind}`), `formats-import-${c.kind}.png`);
      expect([...back.keys()].sort()).toEqual([...original.keys()].sort());
      for (const [k, m] of original) expect(iou(back.get(k)!, 'boxes' in c ? boxOf(m) : m), k).toBeGreaterThanOrEqual(c.min);
    });

  it('COCO instances: downloaded from the dialog, imported from the file in a fresh project', async () => {
    await page.goto(server.openUrl);
    await page.getByTestId('open-export').click();
    const folder = freshFolder('fresh-coco');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-run').click()]);
    await download.saveAs(join(folder, 'coco.json'));
    const back = await importFromApp(folder, 'coco', join(folder, 'coco.json'), 'formats-import-coco.png');
    for (const [k, m] of original) expect(iou(back.get(k)!, m), k).toBe(1);
  });

  it('a folder that is not the chosen format is refused with its reason, and the project keeps no category', async () => {
    const folder = freshFolder('fresh-refused');
    const fresh = new Backend({ shell: 'web' });
    fresh.openProject(folder);
    const s = await startServer({ backend: fresh, port: 0, staticDir: ui });
    try {
      await page.goto(s.openUrl);
      await page.getByTestId('open-import').click();
      await page.getByTestId('import-kind-voc').check();
      await page.getByTestId('import-path').fill(join(folder, 'sub'));
      await page.getByTestId('import-run').click();
      await expect.poll(() => page.getByTestId('import-error').textContent(), { timeout: 20_000 }).toMatch(/^no SegmentationObject folder in .* Nothing was imported\.$/);
      await page.screenshot({ path: join(screenshotDir, 'formats-import-refused.png') });
      expect(await fresh.dispatch('categories.list', {})).toEqual([]);
      expect((await fresh.dispatch('project.stats', {}) as { annotations: number }).annotations).toBe(0);
    } finally {
      await s.close();
      await fresh.close();
    }
  });
});
