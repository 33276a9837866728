// The workplace's layout at 1280×800 in Chromium (web mode): the toolbar holds every control with any tool
// active and does not change height, names the open image and its place in the filter, and toasts stay out of
// the way (inside the canvas, never taking a click, gone at the next action). Asserted on bounding boxes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { hasChromium, screenshotDir } from '../helpers/browser';
import { fileName, startWorkplace, type Workplace } from './workplace';

type Box = { x: number; y: number; width: number; height: number };
const inside = (a: Box, b: Box) => a.x >= b.x && a.y >= b.y && a.x + a.width <= b.x + b.width && a.y + a.height <= b.y + b.height;
const overlap = (a: Box, b: Box) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

describe.skipIf(!hasChromium)('workplace layout at 1280×800', () => {
  let w: Workplace;
  const page = () => w.page;
  const box = async (testId: string) => (await page().getByTestId(testId).boundingBox())!;
  const toast = () => page().getByRole('alert');

  beforeAll(async () => {
    w = await startWorkplace();
  });
  afterAll(async () => {
    await w?.close();
  });

  it('the toolbar fits with every tool active and keeps its height; Export and ? stay on screen', async () => {
    await w.open(11);
    await expect.poll(() => page().getByTestId('canvas').getAttribute('data-ready'), { timeout: 20_000 }).toBe('true');
    const bar = page().locator('.annotate .toolbar');
    const viewport = { x: 0, y: 0, width: 1280, height: 800 };
    const first = { bar: (await bar.boundingBox())!, canvas: await box('canvas') };
    for (const key of ['v', 'p', 'b', 'e', 'w', 'c']) {
      await page().keyboard.press(key);
      const label = `tool ${key}`;
      expect(await bar.evaluate((el) => el.scrollWidth - el.clientWidth), label).toBe(0);
      const barBox = (await bar.boundingBox())!;
      expect(barBox, label).toEqual(first.bar);
      expect(await box('canvas'), label).toEqual(first.canvas);
      for (const id of ['open-export', 'open-help', 'mark-done', 'image-name', 'image-position']) {
        const b = await box(id);
        expect(inside(b, barBox) && inside(b, viewport), `${label}: ${id} at ${JSON.stringify(b)}`).toBe(true);
      }
      if (key === 'b') await page().screenshot({ path: join(screenshotDir, 'layout-toolbar-brush.png') });
    }
    await page().keyboard.press('v');
  });

  it('names the open image and its place in the current filter', async () => {
    expect(await page().getByTestId('image-name').textContent()).toBe(fileName(11));
    expect(await page().getByTestId('image-position').textContent()).toBe('12 / 50');
    await page().getByPlaceholder('Search path…').fill('img01');
    await expect.poll(() => page().getByTestId('image-position').textContent()).toBe('2 / 10');
    await page().getByPlaceholder('Search path…').press('Escape');
    await page().keyboard.press('ArrowRight');
    await expect.poll(() => page().getByTestId('image-name').textContent()).toBe(fileName(12));
    expect(await page().getByTestId('image-position').textContent()).toBe('3 / 10');
    // Outside the filter (the search no longer matches it), the image says so instead of a number.
    await page().getByPlaceholder('Search path…').fill('img02');
    await expect.poll(() => page().getByTestId('image-position').textContent()).toBe('– / 10');
    await page().getByPlaceholder('Search path…').fill('');
    await expect.poll(() => page().getByTestId('image-position').textContent()).toBe('13 / 50');
    await page().getByPlaceholder('Search path…').press('Escape');
  });

  it('a toast sits inside the canvas, lets clicks through, and goes at the next action or message', async () => {
    await w.open(0);
    await page().keyboard.press('ArrowLeft');
    await expect.poll(() => toast().textContent()).toBe('This is the first image');
    const t = (await toast().boundingBox())!;
    expect(inside(t, (await page().locator('.canvas-area').boundingBox())!)).toBe(true);
    for (const other of ['.annotate .toolbar', '.strip', '.side', '.statusbar']) expect(overlap(t, (await page().locator(other).boundingBox())!), other).toBe(false);
    const under = await page().evaluate(([x, y]) => document.elementFromPoint(x!, y!)?.closest('[role="alert"]') !== null, [t.x + t.width / 2, t.y + t.height / 2]);
    expect(under).toBe(false);
    await page().screenshot({ path: join(screenshotDir, 'layout-toast.png') });

    // A new message replaces it at once.
    await page().keyboard.press('g');
    await expect.poll(() => toast().textContent()).toBe('Select one mask to fill its holes');
    expect(await toast().count()).toBe(1);
    // Any next action dismisses it, long before its 4 s are up.
    await page().keyboard.press('h');
    await expect.poll(() => toast().count(), { timeout: 1000 }).toBe(0);
    await page().keyboard.press('h');
    await page().keyboard.press('ArrowLeft');
    await expect.poll(() => toast().count()).toBe(1);
    await page().getByTestId('canvas').click();
    await expect.poll(() => toast().count(), { timeout: 1000 }).toBe(0);
  });
});
