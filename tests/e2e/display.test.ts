// How masks are shown and drawn, in Chromium against web mode: the fill opacity slider and outline-only mode change
// the canvas pixels (sampled) and survive a reload; "No overlap" keeps two overlapping polygons apart, one Ctrl+Z
// undoing both changes, and leaves locked masks whole; a shortcut given another key works under it, the help shows it, and reset brings the default back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { join } from 'node:path';
import { area, encode, intersect, polygonsToRle, subtract, toCocoRle } from '../../src/shared/masks';
import { hasChromium } from '../helpers/browser';
import { openWorkplace, type Workplace } from './canvas-workplace';

const W = 200, H = 150;
const IMAGE: [number, number, number] = [200, 40, 40];
const GREY: [number, number, number] = [154, 161, 173]; // an unassigned mask's colour
/** A mask of the pixels [x0, x1) × [y0, y1). */
function rect(x0: number, y0: number, x1: number, y1: number) {
  const m = new Uint8Array(W * H);
  for (let y = y0; y < y1; y++) m.fill(1, y * W + x0, y * W + x1);
  return encode(m, H, W);
}

describe.skipIf(!hasChromium)('mask display and shortcuts (Chromium, web mode)', () => {
  let wp: Workplace;
  let plain: number, shapes: number;
  const press = (key: string) => wp.page.keyboard.press(key);
  /** The canvas pixel (RGB) at the middle of image pixel (x, y). */
  const pixel = async (x: number, y: number) => {
    const p = await wp.toScreen(x + 0.5, y + 0.5);
    const box = (await wp.page.getByTestId('canvas').boundingBox())!;
    return wp.page.evaluate(
      ([sx, sy]) => Array.from(document.querySelector<HTMLCanvasElement>('[data-testid="canvas"] canvas')!.getContext('2d')!.getImageData(sx!, sy!, 1, 1).data.slice(0, 3)),
      [Math.round(p.x - box.x), Math.round(p.y - box.y)],
    );
  };
  const near = (got: number[], want: number[]) => got.every((v, i) => Math.abs(v - want[i]!) <= 2);
  const blend = (a: number) => IMAGE.map((v, i) => Math.round(v * (1 - a) + GREY[i]! * a));
  const stats = () => wp.page.evaluate(() => (window as any).__difflabelCanvas.drawStats() as { masksMs: number; setMasksMs: number; draws: number });

  beforeAll(async () => {
    wp = await openWorkplace(async (folder) => {
      for (const name of ['plain.png', 'shapes.png'])
        await sharp({ create: { width: W, height: H, channels: 3, background: { r: IMAGE[0], g: IMAGE[1], b: IMAGE[2] } } }).png().toFile(join(folder, name));
    });
    plain = await wp.imageId('plain.png');
    shapes = await wp.imageId('shapes.png');
    // 50 masks, 10 × 5 squares of 16 px.
    for (let i = 0; i < 50; i++) {
      const x = 20 * (i % 10) + 2, y = 20 * Math.floor(i / 10) + 20;
      await wp.api('annotations.add', { imageId: shapes, categoryId: null, mask: toCocoRle(rect(x, y, x + 16, y + 16), true) });
    }
  });
  afterAll(() => wp?.close());

  it('the opacity slider and outline-only mode change the drawn pixels without decoding masks again, and persist', async () => {
    const { page } = wp;
    await wp.open(shapes);
    await page.mouse.move(0, 0); // no hover highlight
    // Mask 0 covers [2, 18) × [20, 36): (10, 28) is inside, (2, 28) on its edge; (10, 10) is no mask's.
    expect(near(await pixel(10, 28), blend(0.38))).toBe(true);
    expect(near(await pixel(2, 28), GREY)).toBe(true);
    const loaded = await stats();

    await page.getByTestId('mask-opacity').fill('100');
    await expect.poll(() => pixel(10, 28)).toEqual(GREY);
    await page.getByTestId('mask-opacity').fill('0');
    await expect.poll(async () => near(await pixel(10, 28), IMAGE)).toBe(true);
    expect(near(await pixel(2, 28), GREY)).toBe(true); // the outline stays
    await page.getByTestId('mask-opacity').fill('70');
    await expect.poll(async () => near(await pixel(10, 28), blend(0.7))).toBe(true);
    const styled = await stats();
    // Only redraws: the masks were not decoded again (setMasks did not run).
    expect(styled.setMasksMs).toBe(loaded.setMasksMs);
    expect(styled.draws).toBeGreaterThan(loaded.draws);
    console.log(`50 masks: decoding and tinting at load ${loaded.setMasksMs.toFixed(2)} ms; a draw after an opacity change ${styled.masksMs.toFixed(2)} ms`);

    await page.getByTestId('canvas').focus();
    await press('o');
    await expect.poll(async () => near(await pixel(10, 28), IMAGE)).toBe(true);
    expect(near(await pixel(2, 28), GREY)).toBe(true);
    expect(near(await pixel(10, 10), IMAGE)).toBe(true);
    await expect(page.getByTestId('mask-outline').getAttribute('class')).resolves.toContain('active');
    await wp.shot('display-outline');

    await page.reload();
    await wp.waitReady(shapes);
    await page.mouse.move(0, 0);
    await expect.poll(async () => near(await pixel(10, 28), IMAGE)).toBe(true); // still outline-only
    await page.getByTestId('mask-outline').click();
    await page.mouse.move(0, 0);
    await expect.poll(async () => near(await pixel(10, 28), blend(0.7))).toBe(true); // the opacity kept too
    expect(await page.getByTestId('mask-opacity').inputValue()).toBe('70');
    await wp.shot('display-opacity-70');
    await page.getByTestId('mask-opacity').fill('38');
  });

  it('with No overlap on, a polygon drawn over another takes its pixels from it; one Ctrl+Z gives both back; a locked mask keeps its pixels', async () => {
    const { page } = wp;
    await wp.open(plain);
    await page.getByTestId('no-overlap').click();
    await page.getByTestId('canvas').focus();
    const polygon = async (x0: number, y0: number, x1: number, y1: number) => {
      await press('p');
      for (const [x, y] of [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) await wp.clickImage(x!, y!);
      await press('Enter');
      await wp.idle();
    };
    const a = polygonsToRle([[20, 20, 100, 20, 100, 100, 20, 100]], H, W);
    const b = polygonsToRle([[60, 60, 160, 60, 160, 130, 60, 130]], H, W);
    await polygon(20, 20, 100, 100);
    await wp.expectMasks(plain, [a]);
    await polygon(60, 60, 160, 130);
    await wp.expectMasks(plain, [subtract(a, b), b]);
    const [m1, m2] = await wp.masks(plain);
    expect(area(intersect(m1!.rle, m2!.rle))).toBe(0);
    await press('Escape'); // the selection is drawn once more on top
    await page.mouse.move(0, 0);
    await expect.poll(async () => near(await pixel(80, 80), blend(0.38))).toBe(true); // one tint, not two layered
    await wp.shot('display-no-overlap');

    await press('Control+z');
    await wp.expectMasks(plain, [a]);
    await press('Control+Shift+z');
    await wp.expectMasks(plain, [subtract(a, b), b]);

    // A locked mask keeps its pixels: a polygon drawn over it and over B leaves it out and takes only from B.
    await page.getByTestId('annotation-row').first().getByRole('button', { name: 'Lock' }).click();
    await page.getByTestId('canvas').focus();
    await polygon(30, 30, 90, 110);
    const d = subtract(polygonsToRle([[30, 30, 90, 30, 90, 110, 30, 110]], H, W), subtract(a, b));
    await wp.expectMasks(plain, [subtract(a, b), subtract(b, d), d]);
    await wp.shot('display-no-overlap-locked');

    // Kept across a reload, and off again: masks may overlap.
    await page.reload();
    await wp.waitReady(plain);
    await expect(page.getByTestId('no-overlap').getAttribute('class')).resolves.toContain('active');
    await page.getByTestId('no-overlap').click();
    await page.getByTestId('canvas').focus();
    await polygon(10, 10, 30, 30);
    const c = polygonsToRle([[10, 10, 30, 10, 30, 30, 10, 30]], H, W);
    await wp.expectMasks(plain, [subtract(a, b), subtract(b, d), d, c]);
  });

  it('a shortcut given another key works under it, a key in use is refused, the help shows the keys, reset restores them', async () => {
    const { page } = wp;
    await wp.open(plain);
    await page.getByTestId('canvas').focus();
    await press('?');
    await page.getByTestId('change-keys').click();
    const row = page.getByTestId('key-polygon');
    await row.getByRole('button', { name: 'Change' }).click();
    await press('b'); // the Brush tool's
    await expect.poll(() => page.getByTestId('keys-note').textContent()).toContain('B is already used by "Brush tool"');
    await expect.poll(() => row.locator('kbd').textContent()).toBe('P');
    await row.getByRole('button', { name: 'Change' }).click();
    await press('k');
    await expect.poll(() => row.locator('kbd').textContent()).toBe('K');
    await wp.shot('display-keys');
    await page.getByRole('button', { name: 'Close' }).click(); // back to the help
    await expect.poll(() => page.getByTestId('help').locator('.shortcut', { hasText: 'Polygon tool' }).locator('kbd').textContent()).toBe('K');
    await press('Escape');

    await page.getByTestId('canvas').focus();
    await press('k');
    await expect.poll(() => wp.canvasAttr('data-tool')).toBe('polygon');
    await press('v');
    await press('p'); // P is no shortcut now
    expect(await wp.canvasAttr('data-tool')).toBe('select');
    expect(await page.getByTestId('tool-polygon').getAttribute('title')).toMatch(/^Polygon \(K\)/);

    await page.reload();
    await wp.waitReady(plain);
    await page.getByTestId('canvas').focus();
    await press('k');
    await expect.poll(() => wp.canvasAttr('data-tool')).toBe('polygon');

    await press('?');
    await page.getByTestId('change-keys').click();
    await page.getByTestId('reset-keys').click();
    await expect.poll(() => page.getByTestId('key-polygon').locator('kbd').textContent()).toBe('P');
    await page.getByRole('button', { name: 'Close' }).click();
    await press('Escape');
    await page.getByTestId('canvas').focus();
    await press('v');
    await press('p');
    await expect.poll(() => wp.canvasAttr('data-tool')).toBe('polygon');
    expect(await page.evaluate(() => localStorage.getItem('difflabel.keys'))).toBeNull();
  });
});
