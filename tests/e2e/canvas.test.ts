// The annotation canvas in Debian's Chromium against web mode: draw, brush, undo/redo, reload, wand,
// merge/split, fill holes, export — every result checked THROUGH THE API against masks computed here.
//
// Predictable geometry: polygon vertices snap to pixel corners, so clicking at integer image coordinates
// gives exactly those vertices; brush points snap to pixel centres and cover the pixels whose centre lies
// within size/2 of the stroke polyline (a click is a disc). The test reads the view transform from the
// canvas element's data-scale/-x/-y to turn image coordinates into screen coordinates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { Backend } from '../../src/core/api/backend';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { indexFolder } from '../../src/core/project';
import { decode, encode, fromCocoRle, iou, polygonsToRle, rleEquals, subtract, union, type Rle } from '../../src/shared/masks';
import type { Annotation } from '../../src/shared/contract';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir } from '../helpers/folder';

const ui = join(__dirname, '..', '..', 'out', 'renderer');
const W = 240, H = 160;
// A flat orange disc (the wand's target) on a flat blue background; pixels decided by their centres.
const DISC = { cx: 175, cy: 80, r: 38 };
const inDisc = (x: number, y: number) => (x + 0.5 - DISC.cx) ** 2 + (y + 0.5 - DISC.cy) ** 2 <= DISC.r ** 2;
const POLY = [20, 20, 110, 25, 100, 120, 30, 110];

function pixelMask(pred: (x: number, y: number) => boolean): Rle {
  const m = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (pred(x, y)) m[y * W + x] = 1;
  return encode(m, H, W);
}
/** The brush footprint: pixel centres within size/2 of the segment a–b (a click: a = b). */
function capsule(ax: number, ay: number, bx: number, by: number, size: number): Rle {
  const r2 = (size / 2) ** 2;
  return pixelMask((x, y) => {
    const px = x + 0.5, py = y + 0.5, dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
    const t = l2 ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / l2)) : 0;
    return (ax + t * dx - px) ** 2 + (ay + t * dy - py) ** 2 <= r2;
  });
}

describe.skipIf(!hasChromium)('annotation canvas in Chromium (web mode)', () => {
  let dir: ReturnType<typeof tempDir>;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let imageId: number;

  const api = <T,>(method: string, input: unknown) => backend.dispatch(method, input) as Promise<T>;
  const list = () => api<Annotation[]>('annotations.list', { imageId });
  const masks = async () => (await list()).map((a) => ({ id: a.id, categoryId: a.categoryId, source: a.source, rle: fromCocoRle(a.mask) }));
  /** Polls the API until the image holds exactly `expected` masks (in any order), pixel for pixel. */
  const expectMasks = async (expected: Rle[]) => {
    await expect
      .poll(
        async () => {
          const got = await masks();
          if (got.length !== expected.length) return `have ${got.length} masks, want ${expected.length}`;
          const left = [...expected];
          for (const g of got) {
            const i = left.findIndex((e) => rleEquals(e, g.rle));
            if (i < 0) return `mask ${g.id} matches none expected`;
            left.splice(i, 1);
          }
          return 'ok';
        },
        { timeout: 10_000 },
      )
      .toBe('ok');
  };
  const idle = () => expect.poll(() => page.getByTestId('canvas').getAttribute('data-busy')).toBe('false');
  const toScreen = async (ix: number, iy: number) => {
    const c = page.getByTestId('canvas');
    const [box, s, x, y] = await Promise.all([c.boundingBox(), c.getAttribute('data-scale'), c.getAttribute('data-x'), c.getAttribute('data-y')]);
    return { x: box!.x + Number(x) + ix * Number(s), y: box!.y + Number(y) + iy * Number(s) };
  };
  const clickImage = async (ix: number, iy: number, opts?: { modifiers?: ('Shift' | 'Alt')[] }) => {
    const p = await toScreen(ix, iy);
    for (const m of opts?.modifiers ?? []) await page.keyboard.down(m);
    await page.mouse.click(p.x, p.y);
    for (const m of opts?.modifiers ?? []) await page.keyboard.up(m);
  };
  const shot = (name: string) => page.screenshot({ path: join(screenshotDir, `canvas-${name}.png`) });
  const waitReady = () =>
    expect.poll(async () => `${await page.getByTestId('canvas').getAttribute('data-image')} ${await page.getByTestId('canvas').getAttribute('data-ready')}`, { timeout: 20_000 }).toBe(`${imageId} true`);

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    const folder = join(dir.path, 'scenes');
    mkdirSync(folder);
    const px = Buffer.alloc(W * H * 3);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) px.set(inDisc(x, y) ? [235, 140, 30] : [40, 70, 120], (y * W + x) * 3);
    await sharp(px, { raw: { width: W, height: H, channels: 3 } }).png().toFile(join(folder, 'scene.png'));
    await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 90, g: 160, b: 60 } } }).png().toFile(join(folder, 'second.png'));
    backend = new Backend({ shell: 'web' });
    backend.openProject(folder);
    await indexFolder(backend.project!);
    imageId = (await api<{ items: { id: number; path: string }[] }>('images.list', { search: 'scene' })).items[0]!.id;
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

  it('opens an image from the grid into the canvas, with a category added in the side panel', async () => {
    await page.goto(server.openUrl);
    await page.getByPlaceholder('Search path…').fill('scene');
    await expect.poll(() => page.getByTestId('image-cell').count()).toBe(1);
    await page.getByTestId('image-cell').dblclick();
    await waitReady();
    expect(page.url()).toContain(`#/image/${imageId}`);
    await page.getByTestId('new-category').fill('shape');
    await page.getByTestId('new-category').press('Enter');
    await expect.poll(() => page.getByTestId('category-row').count()).toBe(1);
    await expect.poll(() => page.getByTestId('runtime').textContent()).not.toBe('runtime…');
    await shot('open');
  });

  it('draws a polygon, brushes a hole into it, undoes and redoes, and keeps it all across a reload', async () => {
    const cats = await api<{ id: number }[]>('categories.list', {});
    await page.keyboard.press('p');
    for (let i = 0; i < POLY.length; i += 2) await clickImage(POLY[i]!, POLY[i + 1]!);
    await shot('polygon-draft');
    await clickImage(POLY[0]!, POLY[1]!); // clicking the first vertex closes it
    const poly = polygonsToRle([POLY], H, W);
    await expectMasks([poly]);
    expect((await masks())[0]!.categoryId).toBe(cats[0]!.id);
    await idle();

    // Eraser, size 9 (15 → 13 → 11 → 9 with "["), one click at the centre of pixel (60, 70): a hole.
    await page.keyboard.press('e');
    for (let i = 0; i < 3; i++) await page.keyboard.press('[');
    await expect.poll(() => page.getByTestId('brush-size').textContent()).toBe('9');
    await clickImage(60.5, 70.5);
    const holed = subtract(poly, capsule(60.5, 70.5, 60.5, 70.5, 9));
    await expectMasks([holed]);
    await idle();
    await shot('hole');

    await page.keyboard.press('Control+z');
    await expectMasks([poly]);
    await idle();
    await page.keyboard.press('Control+Shift+z');
    await expectMasks([holed]);
    await idle();

    await page.reload();
    await waitReady();
    await expectMasks([holed]);
    // The history lives in the project: undo still works after the reload, and Ctrl+Y redoes.
    await expect.poll(() => page.getByTestId('undo').isEnabled()).toBe(true);
    await page.keyboard.press('Control+z');
    await expectMasks([poly]);
    await idle();
    await page.keyboard.press('Control+y');
    await expectMasks([holed]);
    await idle();
    await shot('after-reload');
  });

  it('brushes a straight stroke into the selected mask (one capsule, one undo step)', async () => {
    const [m] = await list();
    await page.keyboard.press('v');
    await clickImage(40.5, 40.5); // inside the polygon: selects it
    await expect.poll(() => page.locator('[data-testid="annotation-row"].selected').count()).toBe(1);
    await page.keyboard.press('b');
    // "[" steps 2 px below 20 (odd sizes stay odd): press until the size reads 5.
    for (let i = 0; i < 10 && (await page.getByTestId('brush-size').textContent()) !== '5'; i++) await page.keyboard.press('[');
    expect(await page.getByTestId('brush-size').textContent()).toBe('5');
    // From inside the polygon's right edge outwards (a stroke away from the selected mask starts a new one).
    const a = await toScreen(104.5, 60.5), b = await toScreen(130.5, 60.5);
    await page.mouse.move(a.x, a.y);
    await page.mouse.down();
    await page.mouse.move(b.x, b.y, { steps: 12 });
    await page.mouse.up();
    const holed = fromCocoRle(m!.mask);
    const brushed = union(holed, capsule(104.5, 60.5, 130.5, 60.5, 5));
    await expectMasks([brushed]);
    await idle();
    await page.keyboard.press('Control+z');
    await expectMasks([holed]);
    await idle();
  });

  it('magic wand on the flat disc gives its shape (IoU ≥ 0.95), and merge/split/fill holes work', async () => {
    const holed = (await masks())[0]!.rle;
    await page.keyboard.press('w');
    await clickImage(DISC.cx, DISC.cy);
    await expect.poll(async () => (await list()).length).toBe(2);
    await idle();
    const wandMask = (await masks()).find((m) => m.source === 'wand');
    expect(wandMask).toBeDefined();
    const disc = pixelMask(inDisc);
    expect(iou(wandMask!.rle, disc)).toBeGreaterThanOrEqual(0.95);
    await shot('wand');

    // Merge the two (Shift+click adds to the selection), then split them apart again.
    await page.keyboard.press('v');
    await clickImage(40.5, 40.5);
    await clickImage(DISC.cx, DISC.cy, { modifiers: ['Shift'] });
    await expect.poll(() => page.locator('[data-testid="annotation-row"].selected').count()).toBe(2);
    await page.keyboard.press('m');
    await expectMasks([union(holed, wandMask!.rle)]);
    await idle();
    await page.keyboard.press('x');
    await expectMasks([holed, wandMask!.rle]);
    await idle();

    // Fill holes on the polygon mask, then undo it.
    await page.keyboard.press('Escape');
    await clickImage(40.5, 40.5);
    await page.keyboard.press('g');
    await expectMasks([polygonsToRle([POLY], H, W), wandMask!.rle]);
    await idle();
    await page.keyboard.press('Control+z');
    await expectMasks([holed, wandMask!.rle]);
    await idle();
    await shot('selected');
  });

  it('lists every shortcut in the help overlay', async () => {
    await page.keyboard.press('?');
    await expect.poll(() => page.getByTestId('help').isVisible()).toBe(true);
    expect(await page.getByTestId('help').textContent()).toContain('Magic wand');
    await shot('help');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByTestId('help').count()).toBe(0);
  });

  it('exports COCO polygons from the UI: a valid file, the holed mask kept as RLE', async () => {
    await page.getByTestId('open-export').click();
    await page.getByTestId('format-polygons').check();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-run').click()]);
    const file = join(dir.path, 'export.json');
    await download.saveAs(file);
    await expect.poll(() => page.getByTestId('report-holes').textContent()).toBe('1');
    await shot('export');
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    expect(doc.info).toBeDefined();
    expect(doc.categories.map((c: { name: string }) => c.name)).toEqual(['shape']);
    const img = doc.images.find((i: { file_name: string }) => i.file_name === 'scene.png');
    expect(img).toMatchObject({ width: W, height: H });
    const anns = doc.annotations.filter((a: { image_id: number }) => a.image_id === img.id);
    expect(anns).toHaveLength(2);
    const stored = await masks();
    for (const a of anns) {
      // Polygons rasterise back to the stored mask; the mask with a hole travels as RLE.
      const rle = Array.isArray(a.segmentation) ? polygonsToRle(a.segmentation, H, W) : fromCocoRle(a.segmentation);
      expect(stored.some((m) => rleEquals(m.rle, rle))).toBe(true);
      expect(a.area).toBe(decode(rle).reduce((s, v) => s + v, 0));
      expect(a.iscrowd).toBe(0);
    }
    expect(anns.filter((a: { segmentation: unknown }) => !Array.isArray(a.segmentation))).toHaveLength(1);
    await page.keyboard.press('Escape');
  });

  it('edits a polygon drawn in this session: drag a vertex, insert one on an edge, Alt+click deletes one', async () => {
    const second = (await api<{ items: { id: number }[] }>('images.list', { search: 'second' })).items[0]!.id;
    await page.evaluate((id) => (location.hash = `#/image/${id}`), second);
    imageId = second;
    await waitReady();
    const [w, h] = [64, 48];
    await page.keyboard.press('p');
    for (const [x, y] of [[10, 10], [40, 10], [40, 30], [10, 30]]) await clickImage(x!, y!);
    await page.keyboard.press('Enter');
    const rect = [10, 10, 40, 10, 40, 30, 10, 30];
    await expect.poll(async () => (await masks()).length).toBe(1);
    expect(rleEquals((await masks())[0]!.rle, polygonsToRle([rect], h, w))).toBe(true);
    await idle();

    await page.keyboard.press('v'); // the new polygon is selected: its vertices are handles
    const drag = async (from: [number, number], to: [number, number]) => {
      const a = await toScreen(...from), b = await toScreen(...to);
      await page.mouse.move(a.x, a.y);
      await page.mouse.down();
      await page.mouse.move(b.x, b.y, { steps: 6 });
      await page.mouse.up();
    };
    await drag([40, 30], [50, 40]);
    const moved = [10, 10, 40, 10, 50, 40, 10, 30];
    await expect.poll(async () => rleEquals((await masks())[0]!.rle, polygonsToRle([moved], h, w))).toBe(true);
    await idle();
    await drag([25, 10], [25, 4]); // grabbing an edge inserts a vertex there
    const inserted = [10, 10, 25, 4, 40, 10, 50, 40, 10, 30];
    await expect.poll(async () => rleEquals((await masks())[0]!.rle, polygonsToRle([inserted], h, w))).toBe(true);
    await idle();
    // The mask bitmap follows the edit: a pixel in the new tip is tinted, not the image's plain green.
    const tip = await toScreen(25.5, 8.5);
    const box = (await page.getByTestId('canvas').boundingBox())!;
    const rgb = await page.evaluate(([x, y]) => Array.from(document.querySelector<HTMLCanvasElement>('[data-testid="canvas"] canvas')!.getContext('2d')!.getImageData(x!, y!, 1, 1).data), [Math.round(tip.x - box.x), Math.round(tip.y - box.y)]);
    expect(rgb.slice(0, 3)).not.toEqual([90, 160, 60]);
    await shot('vertex-edit');
    await clickImage(25, 4, { modifiers: ['Alt'] });
    await expect.poll(async () => rleEquals((await masks())[0]!.rle, polygonsToRle([moved], h, w))).toBe(true);
    await idle();
    await page.keyboard.press('Control+z'); // one undo step per vertex edit
    await expect.poll(async () => rleEquals((await masks())[0]!.rle, polygonsToRle([inserted], h, w))).toBe(true);
    await idle();
  });

  it('zooms at the cursor (the pixel under it stays put), pans with Space+drag, fits and shows 1:1', async () => {
    const c = page.getByTestId('canvas');
    const view = async () => ({ s: Number(await c.getAttribute('data-scale')), x: Number(await c.getAttribute('data-x')), y: Number(await c.getAttribute('data-y')) });
    const box = (await c.boundingBox())!;
    const sx = box.x + 300, sy = box.y + 200;
    const v0 = await view();
    await page.mouse.move(sx, sy);
    await page.mouse.wheel(0, -300);
    await expect.poll(async () => (await view()).s).toBeGreaterThan(v0.s * 1.2);
    const v1 = await view();
    const under = (v: typeof v0) => [(sx - box.x - v.x) / v.s, (sy - box.y - v.y) / v.s];
    expect(under(v1)[0]).toBeCloseTo(under(v0)[0]!, 6);
    expect(under(v1)[1]).toBeCloseTo(under(v0)[1]!, 6);
    await page.keyboard.down('Space');
    await page.mouse.down();
    await page.mouse.move(sx + 80, sy + 30, { steps: 4 });
    await page.mouse.up();
    await page.keyboard.up('Space');
    const v2 = await view();
    expect([v2.x - v1.x, v2.y - v1.y]).toEqual([80, 30]);
    await page.keyboard.press('0');
    await expect.poll(async () => (await view()).s).toBe(1);
    await page.keyboard.press('f');
    await expect.poll(async () => (await view()).s).toBeCloseTo(v0.s, 6);
    expect(await page.getByTestId('zoom').textContent()).toMatch(/%$/);
  });

  it('marks the image done (D), which past the last image wraps to the first, and moves between images with the arrow keys', async () => {
    // Both images in the strip's filter: the search typed in the grid is kept across the reload.
    await page.getByPlaceholder('Search path…').fill('');
    await page.getByPlaceholder('Search path…').press('Escape');
    const images = (await api<{ items: { id: number; path: string }[] }>('images.list', {})).items;
    expect(images.findIndex((i) => i.id === imageId)).toBe(images.length - 1);
    const first = String(images[0]!.id);
    await page.keyboard.press('d');
    await expect.poll(async () => (await api<{ status: string }>('images.get', { id: imageId })).status).toBe('done');
    await expect.poll(() => page.getByTestId('canvas').getAttribute('data-image')).toBe(first);
    expect(await page.getByRole('alert').textContent()).toMatch(/back to the first image/);
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.getByTestId('canvas').getAttribute('data-image')).toBe(String(imageId));
    expect(page.url()).toContain(`#/image/${imageId}`);
    await expect.poll(() => page.getByTestId('mark-done').textContent()).toMatch(/Done/);
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => page.getByTestId('canvas').getAttribute('data-image')).toBe(first);
  });
});
