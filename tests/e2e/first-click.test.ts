// A new user's first minutes: `npm start` where Electron cannot be fetched says in words what is missing, and the
// first DiffSeg click with no model installed says, in the app's words and in full, what to choose and how to get a
// real model; choosing the offered test fixture then makes the same click work.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { defaultModelDirs, listBundles } from '../../src/core/ml/bundle';
import { indexFolder } from '../../src/core/project';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { NODE, ROOT } from '../helpers/app';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir, writeImage } from '../helpers/folder';
import { SCENE, sceneRgb } from './diffseg-scene';

const ui = join(__dirname, '..', '..', 'out', 'renderer');
const models = tempDir('difflabel-no-models-');
process.env['DIFFLABEL_MODELS_DIR'] = models.path;
delete process.env['DIFFLABEL_DIFFSEG_MODEL'];
// A checkout with a converted bundle in resources/models has a model: the no-model path cannot be shown there.
const installed = listBundles(defaultModelDirs()).some((b) => b.ok);

describe.skipIf(!hasChromium || installed)('the first DiffSeg click with no model installed (Chromium, web mode)', () => {
  let dir: ReturnType<typeof tempDir>;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;

  const canvas = () => page.getByTestId('canvas');
  const note = () => page.getByTestId('diffseg-error');
  const clickShape = async () => {
    const c = canvas();
    const [box, s, x, y] = await Promise.all([c.boundingBox(), c.getAttribute('data-scale'), c.getAttribute('data-x'), c.getAttribute('data-y')]);
    const [ix, iy] = SCENE.shapes[0]!.click;
    await page.mouse.click(box!.x + Number(x) + (ix + 0.5) * Number(s), box!.y + Number(y) + (iy + 0.5) * Number(s));
  };
  /** The note is shown whole: nothing scrolled away inside it, and it lies within the window and the side panel. */
  const shownInFull = async () => {
    const el = note();
    const [box, side, overflow] = await Promise.all([
      el.boundingBox(),
      page.locator('aside.side').boundingBox(),
      el.evaluate((n) => ({ scroll: n.scrollHeight, client: n.clientHeight, scrollW: n.scrollWidth, clientW: n.clientWidth })),
    ]);
    expect(overflow.scroll).toBeLessThanOrEqual(overflow.client + 1);
    expect(overflow.scrollW).toBeLessThanOrEqual(overflow.clientW + 1);
    expect(box!.y + box!.height).toBeLessThanOrEqual(800);
    expect(box!.x).toBeGreaterThanOrEqual(side!.x);
    expect(box!.x + box!.width).toBeLessThanOrEqual(side!.x + side!.width + 1);
  };

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    const folder = join(dir.path, 'scenes');
    mkdirSync(folder);
    await sharp(Buffer.from(sceneRgb()), { raw: { width: SCENE.width, height: SCENE.height, channels: 3 } }).png().toFile(join(folder, 'shapes.png'));
    backend = new Backend({ shell: 'web' });
    backend.openProject(folder);
    await indexFolder(backend.project!);
    server = await startServer({ backend, port: 0, staticDir: ui });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await backend?.close();
    dir?.cleanup();
    models.cleanup();
  });

  it('the click says what to choose (the "Test fixture" entry) and how to convert a real model, in full', async () => {
    await page.goto(server.openUrl);
    await page.getByTestId('image-cell').dblclick();
    await expect.poll(() => canvas().getAttribute('data-ready'), { timeout: 20_000 }).toBe('true');
    expect(await page.getByTestId('diffseg-model').inputValue()).toBe(''); // Automatic
    await canvas().focus();
    await page.keyboard.press('c');
    await clickShape();
    await expect.poll(() => note().count(), { timeout: 30_000 }).toBe(1);
    const text = (await note().textContent())!;
    // The app's words: the entry as the selector names it, and the README's command; not the CLI's flags.
    const fixtureLabel = (await page.getByTestId('diffseg-model').locator('option[value="fixture"]').textContent())!;
    expect(text).toContain(`“${fixtureLabel}”`);
    expect(text).toContain('npx difflabel models convert');
    expect(text).toContain('README');
    expect(text).not.toMatch(/--model|bundle folder/);
    await shownInFull();
    expect(await canvas().getAttribute('data-click-area')).toBe('');
    await page.screenshot({ path: join(screenshotDir, 'first-click-no-model.png') });
  });

  it('"Segment everything" with no model gives the same note at once, and no job runs', async () => {
    await page.keyboard.press('Escape');
    await expect.poll(() => note().count()).toBe(0);
    await page.getByTestId('segment-everything').click();
    await expect.poll(() => note().count(), { timeout: 10_000 }).toBe(1);
    expect(await note().textContent()).toContain('npx difflabel models convert');
    await shownInFull();
    expect(backend.jobs.list().filter((j) => j.kind === 'diffseg')).toEqual([]);
  });

  it('the note\'s button chooses the test fixture, and the same click then shows a live mask', async () => {
    await note().getByRole('button', { name: /test fixture/i }).click();
    expect(await page.getByTestId('diffseg-model').inputValue()).toBe('fixture');
    await expect.poll(() => note().count()).toBe(0);
    await canvas().focus();
    await page.keyboard.press('c');
    await clickShape();
    await expect
      .poll(async () => `${await canvas().getAttribute('data-click-status')} ${Number(await canvas().getAttribute('data-click-area')) > 0}`, { timeout: 60_000 })
      .toBe('idle true');
    expect(await note().count()).toBe(0);
    await page.screenshot({ path: join(screenshotDir, 'first-click-fixture.png') });
  });
});

describe('npm start where Electron\'s binary cannot be fetched', () => {
  // Only meaningful where the binary is not installed: otherwise nothing is fetched.
  it.skipIf(existsSync(join(ROOT, 'node_modules', 'electron', 'path.txt')))('says in words what is missing, then serves web mode', async () => {
    const t = tempDir();
    await writeImage(join(t.path, 'a.png'), 40, 30);
    const cache = tempDir('difflabel-electron-cache-');
    // A display, so Electron is wanted; a mirror nothing listens on and an empty download cache, so fetching fails at once.
    const env = { ...process.env, DIFFLABEL_NO_BUILD: '1', DISPLAY: ':99', ELECTRON_MIRROR: 'http://127.0.0.1:9/', electron_config_cache: cache.path };
    const child = spawn(NODE, ['scripts/start.mjs', t.path], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    try {
      await expect.poll(() => /open http:\/\/\S+/.test(out) || child.exitCode !== null, { timeout: 60_000 }).toBe(true);
      const line = out.split('\n').find((l) => /web mode instead/.test(l));
      expect(line).toBe("Electron's binary is not installed and could not be downloaded (no network access to 127.0.0.1:9); serving the same UI in web mode instead.");
      expect(out).not.toMatch(/TypeError|fetch failed|\n\s+at /);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {}
      t.cleanup();
      cache.cleanup();
    }
  });
});
