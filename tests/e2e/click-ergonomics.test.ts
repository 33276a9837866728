// The click-segment tool's ergonomics, in Debian's Chromium against web mode with the DiffSeg fixture model: the
// hover preview (what a click at the pointer would give, from the cached attention only), Ctrl+Z / Ctrl+Shift+Z on
// the points while there are points, and a − click that removes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { Backend } from '../../src/core/api/backend';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { indexFolder } from '../../src/core/project';
import type { Annotation } from '../../src/shared/contract';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir } from '../helpers/folder';
import { SCENE, sceneRgb } from './diffseg-scene';

const ui = join(__dirname, '..', '..', 'out', 'renderer');

describe.skipIf(!hasChromium)('click segment ergonomics (Chromium, web mode, fixture model)', () => {
  let dir: ReturnType<typeof tempDir>;
  let folder: string;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let imageId: number;

  const api = <T,>(method: string, input: unknown) => backend.dispatch(method, input) as Promise<T>;
  const list = () => api<Annotation[]>('annotations.list', { imageId });
  const canvas = () => page.getByTestId('canvas');
  const attr = (name: string) => canvas().getAttribute(name);
  const toScreen = async (ix: number, iy: number) => {
    const c = canvas();
    const [box, s, x, y] = await Promise.all([c.boundingBox(), attr('data-scale'), attr('data-x'), attr('data-y')]);
    return { x: box!.x + Number(x) + (ix + 0.5) * Number(s), y: box!.y + Number(y) + (iy + 0.5) * Number(s) };
  };
  const shapeAt = async (i: number) => {
    const [x, y] = SCENE.shapes[i]!.click;
    return toScreen(x, y);
  };
  const clickShape = async (i: number, button: 'left' | 'right' = 'left') => {
    const p = await shapeAt(i);
    await page.mouse.click(p.x, p.y, { button });
  };
  const hoverShape = async (i: number) => {
    const p = await shapeAt(i);
    await page.mouse.move(p.x - 3, p.y - 3);
    await page.mouse.move(p.x, p.y, { steps: 3 });
  };
  /** Waits until the live mask answers for `points` clicks and no request is running. */
  const liveMask = async (points: number) => {
    await expect.poll(() => attr('data-click-points')).toBe(String(points));
    await expect.poll(async () => `${await attr('data-click-status')} ${(await attr('data-click-area')) !== ''}`, { timeout: 60_000 }).toBe('idle true');
  };
  const cacheFiles = () => {
    const d = join(folder, '.difflabel', 'cache', 'diffseg');
    return existsSync(d) ? readdirSync(d, { recursive: true }).length : 0;
  };
  const shot = (name: string) => page.screenshot({ path: join(screenshotDir, `${name}.png`) });

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    folder = join(dir.path, 'scenes');
    mkdirSync(folder);
    await sharp(Buffer.from(sceneRgb()), { raw: { width: SCENE.width, height: SCENE.height, channels: 3 } }).png().toFile(join(folder, 'shapes.png'));
    backend = new Backend({ shell: 'web' });
    backend.openProject(folder);
    await indexFolder(backend.project!);
    imageId = (await api<{ items: { id: number }[] }>('images.list', {})).items[0]!.id;
    await api('categories.add', { name: 'shape' });
    server = await startServer({ backend, port: 0, staticDir: ui });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${server.openUrl}#/image/${imageId}`);
    await page.waitForSelector('[data-testid="canvas"][data-ready="true"]', { timeout: 20_000 });
    await page.getByTestId('diffseg-model').selectOption('fixture');
    await canvas().focus();
    await page.keyboard.press('c');
    await page.waitForSelector('[data-testid="canvas"][data-tool="click"]');
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await backend?.close();
    dir?.cleanup();
  });

  it('hovering before the first click asks nothing of the model; after it, the hover shows the mask the click then gives', async () => {
    expect(await page.getByTestId('hover-preview').isChecked()).toBe(true);
    await hoverShape(1);
    await page.waitForTimeout(800);
    expect(await attr('data-hover-area')).toBe('');
    expect(cacheFiles()).toBe(0);

    await clickShape(0);
    await liveMask(1);
    await hoverShape(1);
    await expect.poll(() => attr('data-hover-area'), { timeout: 20_000 }).not.toBe('');
    await expect.poll(() => attr('data-hover-status')).toBe('idle');
    const hovered = Number(await attr('data-hover-area'));
    expect(hovered).toBeGreaterThan(Number(await attr('data-click-area')));
    await shot('click-hover-preview');
    await clickShape(1);
    await liveMask(2);
    expect(Number(await attr('data-click-area'))).toBe(hovered);
    await shot('click-after-hover');
  });

  it('turned off, hovering shows nothing', async () => {
    await page.getByTestId('hover-preview').uncheck();
    await hoverShape(3);
    await page.waitForTimeout(800);
    expect(await attr('data-hover-area')).toBe('');
    await page.getByTestId('hover-preview').check();
    await canvas().focus();
  });

  it('Ctrl+Z takes back the last point (not a stored edit); Ctrl+Shift+Z and Ctrl+Y put it back', async () => {
    // A stored mask first, so an undo of the stored history would show.
    await page.keyboard.press('Enter');
    await expect.poll(async () => (await list()).length, { timeout: 20_000 }).toBe(1);
    await expect.poll(() => attr('data-busy')).toBe('false');
    await clickShape(0);
    await liveMask(1);
    const one = await attr('data-click-area');
    await clickShape(3);
    await liveMask(2);
    const two = await attr('data-click-area');
    await page.keyboard.press('Control+z');
    await liveMask(1);
    expect(await attr('data-click-area')).toBe(one);
    await shot('click-undo-point');
    await page.keyboard.press('Control+Shift+z');
    await liveMask(2);
    expect(await attr('data-click-area')).toBe(two);
    await page.keyboard.press('Control+z');
    await liveMask(1);
    await page.keyboard.press('Control+y');
    await liveMask(2);
    expect(await list()).toHaveLength(1);
    // With no points left Ctrl+Z is the stored history's again.
    await page.keyboard.press('Escape');
    await expect.poll(() => attr('data-click-points')).toBe('0');
    await page.keyboard.press('Control+z');
    await expect.poll(async () => (await list()).length).toBe(0);
  });

  it('a − click that removes nothing says so and leaves the points as they were', async () => {
    await clickShape(0);
    await liveMask(1);
    const before = await attr('data-click-area');
    await clickShape(2, 'right'); // the disk: nowhere in the + region
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 20_000 }).toMatch(/removes nothing/);
    await shot('click-removes-nothing');
    await liveMask(1);
    expect(await attr('data-click-area')).toBe(before);
    // A − click that removes something is kept.
    await clickShape(1);
    await liveMask(2);
    const both = Number(await attr('data-click-area'));
    await clickShape(1, 'right');
    await liveMask(3);
    expect(Number(await attr('data-click-area'))).toBeLessThan(both);
  });
});
