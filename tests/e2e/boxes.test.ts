// Boxes and points in the canvas, in Debian's Chromium against web mode: the Box tool draws, moves and resizes a box
// (undoable), its category is set in the side panel, J makes a box from a mask and a mask from a box (the fixture
// click segmenter inside it), the Point tool places a point, the click tool takes a dragged box; the COCO download
// holds the box as bbox with `segmentation: []` and the point as a keypoint. Every result is checked THROUGH THE API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { Backend } from '../../src/core/api/backend';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { indexFolder } from '../../src/core/project';
import { decode, encode, fromCocoRle, toCocoRle } from '../../src/shared/masks';
import type { Annotation } from '../../src/shared/contract';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir } from '../helpers/folder';
import { SCENE, iou01, sceneRgb, shapeMask } from './diffseg-scene';

const ui = join(__dirname, '..', '..', 'out', 'renderer');

describe.skipIf(!hasChromium)('boxes and points in the canvas (Chromium, web mode)', () => {
  let dir: ReturnType<typeof tempDir>;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let imageId: number;
  let shapeCat: number;
  let carCat: number;
  let maskId: number;
  let boxId: number;

  const api = <T,>(method: string, input: unknown) => backend.dispatch(method, input) as Promise<T>;
  const list = () => api<Annotation[]>('annotations.list', { imageId });
  const byId = async (id: number) => (await list()).find((a) => a.id === id);
  const canvas = () => page.getByTestId('canvas');
  /** Screen position of image point (ix, iy) (continuous: a pixel's corner at whole numbers). */
  const toScreen = async (ix: number, iy: number) => {
    const c = canvas();
    const [box, s, x, y] = await Promise.all([c.boundingBox(), c.getAttribute('data-scale'), c.getAttribute('data-x'), c.getAttribute('data-y')]);
    return { x: box!.x + Number(x) + ix * Number(s), y: box!.y + Number(y) + iy * Number(s) };
  };
  const dragImage = async (from: [number, number], to: [number, number]) => {
    const a = await toScreen(...from), b = await toScreen(...to);
    await page.mouse.move(a.x, a.y);
    await page.mouse.down();
    await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 4 });
    await page.mouse.move(b.x, b.y, { steps: 4 });
    await page.mouse.up();
  };
  const settled = () => expect.poll(() => canvas().getAttribute('data-busy')).toBe('false');
  const shot = (name: string) => page.screenshot({ path: join(screenshotDir, `${name}.png`) });
  const newest = async (shape: Annotation['shape']) => (await list()).filter((a) => a.shape === shape).at(-1);

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    const folder = join(dir.path, 'scenes');
    mkdirSync(folder);
    await sharp(Buffer.from(sceneRgb()), { raw: { width: SCENE.width, height: SCENE.height, channels: 3 } }).png().toFile(join(folder, 'shapes.png'));
    backend = new Backend({ shell: 'web' });
    backend.openProject(folder);
    await indexFolder(backend.project!);
    imageId = (await api<{ items: { id: number }[] }>('images.list', {})).items[0]!.id;
    shapeCat = (await api<{ id: number }>('categories.add', { name: 'shape' })).id;
    carCat = (await api<{ id: number }>('categories.add', { name: 'car' })).id;
    // The green rectangle (shape 1) as a mask, for "box from mask".
    maskId = (await api<Annotation>('annotations.add', { imageId, categoryId: shapeCat, mask: toCocoRle(encode(shapeMask(1), SCENE.height, SCENE.width), true) })).id;
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

  it('draws a box with the Box tool, moves it, resizes it by a corner, and undoes the resize', async () => {
    await page.goto(server.openUrl);
    await page.getByTestId('image-cell').dblclick();
    await expect.poll(async () => `${await canvas().getAttribute('data-image')} ${await canvas().getAttribute('data-ready')}`, { timeout: 20_000 }).toBe(`${imageId} true`);
    await page.getByTestId('diffseg-model').selectOption('fixture');
    await canvas().focus();
    await page.keyboard.press('r');
    await expect.poll(() => canvas().getAttribute('data-tool')).toBe('box');
    // Around the red square (24, 28, 90 × 90).
    await dragImage([24, 28], [114, 118]);
    await settled();
    const drawn = await newest('box');
    expect(drawn).toMatchObject({ shape: 'box', bbox: [24, 28, 90, 90], categoryId: shapeCat, area: 8100 });
    boxId = drawn!.id;
    await shot('boxes-drawn');
    // Drag from inside: moved by whole pixels.
    await dragImage([60, 60], [70, 65]);
    await settled();
    await expect.poll(async () => (await byId(boxId))!.bbox).toEqual([34, 33, 90, 90]);
    // The bottom-right corner: resized, the top-left corner stays.
    await dragImage([124, 123], [110, 140]);
    await settled();
    await expect.poll(async () => (await byId(boxId))!.bbox).toEqual([34, 33, 76, 107]);
    expect(await api<{ undoLabel: string }>('history.state', { imageId })).toMatchObject({ undoLabel: 'resize box' });
    await shot('boxes-resized');
    await page.keyboard.press('Control+z');
    await expect.poll(async () => (await byId(boxId))!.bbox).toEqual([34, 33, 90, 90]);
    await page.keyboard.press('Control+z');
    await expect.poll(async () => (await byId(boxId))!.bbox).toEqual([24, 28, 90, 90]);
  });

  it('sets the box\'s category in the side panel, and places a point with the Point tool', async () => {
    const row = page.locator(`[data-testid="annotation-row"][data-id="${boxId}"]`);
    await row.getByLabel('Category').selectOption(String(carCat));
    await expect.poll(async () => (await byId(boxId))!.categoryId).toBe(carCat);
    await canvas().focus();
    await page.keyboard.press('t');
    const p = await toScreen(200.5, 150.5);
    await page.mouse.click(p.x, p.y);
    await settled();
    await expect.poll(async () => (await newest('point'))?.bbox).toEqual([200.5, 150.5, 0, 0]);
  });

  it('J: box from the selected mask, then mask from the selected box (the segment inside it)', async () => {
    await page.locator(`[data-testid="annotation-row"][data-id="${maskId}"]`).click();
    await expect.poll(() => page.getByTestId('convert-shape').textContent()).toBe('Box from mask');
    await canvas().focus();
    await page.keyboard.press('j');
    await settled();
    const fromMask = (await list()).find((a) => a.shape === 'box' && a.id !== boxId);
    expect(fromMask).toMatchObject({ bbox: [170, 24, 120, 70], categoryId: shapeCat });

    const masksBefore = (await list()).filter((a) => a.shape === 'mask').length;
    await page.locator(`[data-testid="annotation-row"][data-id="${boxId}"]`).click();
    await expect.poll(() => page.getByTestId('convert-shape').textContent()).toBe('Mask from box');
    await page.getByTestId('convert-shape').click();
    await expect.poll(async () => (await list()).filter((a) => a.shape === 'mask').length, { timeout: 60_000 }).toBe(masksBefore + 1);
    const made = await newest('mask');
    expect(made!.categoryId).toBe(carCat);
    expect(iou01(decode(fromCocoRle(made!.mask)), shapeMask(0))).toBeGreaterThanOrEqual(0.9);
    await shot('boxes-mask-from-box');
  });

  it('the click tool: a dragged box gives the segment inside it; Enter keeps it', async () => {
    await canvas().focus();
    await page.keyboard.press('c');
    await expect.poll(() => canvas().getAttribute('data-tool')).toBe('click');
    // Around the blue disk (centre 240, 172, radius 45).
    await dragImage([190, 122], [290, 222]);
    await expect.poll(() => canvas().getAttribute('data-click-box')).toBe('190,122,100,100');
    await expect.poll(async () => `${await canvas().getAttribute('data-click-status')} ${(await canvas().getAttribute('data-click-area')) !== ''}`, { timeout: 60_000 }).toBe('idle true');
    await shot('boxes-click-box');
    const before = (await list()).length;
    await page.keyboard.press('Enter');
    await expect.poll(async () => (await list()).length).toBe(before + 1);
    const kept = await newest('mask');
    expect(kept!.source).toBe('diffseg-click');
    expect(iou01(decode(fromCocoRle(kept!.mask)), shapeMask(2))).toBeGreaterThanOrEqual(0.9);
    await page.keyboard.press('v');
  });

  it('exports COCO with the box as bbox and segmentation [] and the point as a keypoint', async () => {
    await page.getByTestId('open-export').click();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-run').click()]);
    const file = join(dir.path, 'export.json');
    await download.saveAs(file);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    expect(doc.annotations.find((a: { id: number }) => a.id === boxId)).toMatchObject({ category_id: carCat, segmentation: [], bbox: [24, 28, 90, 90], area: 8100 });
    expect(doc.annotations.find((a: { keypoints?: unknown }) => a.keypoints)).toMatchObject({ keypoints: [200.5, 150.5, 2], num_keypoints: 1, segmentation: [] });
    await shot('boxes-export');
    await page.getByTestId('export-dialog').getByRole('button', { name: 'Close' }).click();
  });
});
