// The labeler's workplace in Debian's Chromium against web mode, for the canvas tool tests: a project made from
// the given image files, the page at 1280×800, and the few moves those tests make on the canvas (image
// coordinates to screen, clicks, drags, waiting for the canvas and the autosave).
import { expect } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { Backend } from '../../src/core/api/backend';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { indexFolder } from '../../src/core/project';
import { area, fromCocoRle, rleEquals, type Rle } from '../../src/shared/masks';
import type { Annotation } from '../../src/shared/contract';
import { launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir } from '../helpers/folder';

const ui = join(__dirname, '..', '..', 'out', 'renderer');

export interface Workplace {
  page: Page;
  folder: string;
  api<T>(method: string, input: unknown): Promise<T>;
  /** Image id by file name. */
  imageId(name: string): Promise<number>;
  /** The image's stored masks, decoded. */
  masks(imageId: number): Promise<{ id: number; categoryId: number | null; source: string; rle: Rle }[]>;
  /** Polls until the image holds exactly these masks (any order), pixel for pixel. */
  expectMasks(imageId: number, expected: Rle[]): Promise<void>;
  /** Opens the image through the URL hash and waits until its pixels are drawn. */
  open(imageId: number): Promise<void>;
  waitReady(imageId: number): Promise<void>;
  /** Waits until every edit reached the back end. */
  idle(): Promise<void>;
  /** Screen position of image point (ix, iy). */
  toScreen(ix: number, iy: number): Promise<{ x: number; y: number }>;
  clickImage(ix: number, iy: number, modifiers?: ('Shift' | 'Alt')[]): Promise<void>;
  /** Presses at one image point, moves to the other in steps, releases. */
  drag(from: [number, number], to: [number, number], modifiers?: ('Shift' | 'Alt')[]): Promise<void>;
  canvasAttr(name: string): Promise<string | null>;
  shot(name: string): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * A project of the images `write` puts into the folder, served in web mode, and a page open on its grid.
 * `init` runs in the page before any of its scripts (e.g. to preset localStorage).
 */
export async function openWorkplace(write: (folder: string) => Promise<void>, init?: () => void): Promise<Workplace> {
  if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
  const dir = tempDir();
  const folder = join(dir.path, 'images');
  mkdirSync(folder);
  let backend: Backend | undefined, server: RunningServer | undefined, browser: Browser | undefined;
  const close = async () => {
    await browser?.close();
    await server?.close();
    await backend?.close();
    dir.cleanup();
  };
  try {
    await write(folder);
    backend = new Backend({ shell: 'web' });
    backend.openProject(folder);
    await indexFolder(backend.project!);
    server = await startServer({ backend, port: 0, staticDir: ui });
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    if (init) await page.addInitScript(init);
    await page.goto(server.openUrl);
    const b = backend;
    const api = <T,>(method: string, input: unknown) => b.dispatch(method, input) as Promise<T>;
    const masks = async (imageId: number) =>
      (await api<Annotation[]>('annotations.list', { imageId })).map((a) => ({ id: a.id, categoryId: a.categoryId, source: a.source, rle: fromCocoRle(a.mask) }));
    const canvas = () => page.getByTestId('canvas');
    const toScreen = async (ix: number, iy: number) => {
      const c = canvas();
      const [box, s, x, y] = await Promise.all([c.boundingBox(), c.getAttribute('data-scale'), c.getAttribute('data-x'), c.getAttribute('data-y')]);
      return { x: box!.x + Number(x) + ix * Number(s), y: box!.y + Number(y) + iy * Number(s) };
    };
    const withKeys = async (modifiers: string[], act: () => Promise<void>) => {
      for (const m of modifiers) await page.keyboard.down(m);
      await act();
      for (const m of modifiers) await page.keyboard.up(m);
    };
    const waitReady = (id: number) =>
      expect.poll(async () => `${await canvas().getAttribute('data-image')} ${await canvas().getAttribute('data-ready')}`, { timeout: 20_000 }).toBe(`${id} true`);
    return {
      page,
      folder,
      api,
      imageId: async (name) => (await api<{ items: { id: number; path: string }[] }>('images.list', { search: name })).items.find((i) => i.path.endsWith(name))!.id,
      masks,
      expectMasks: (imageId, expected) =>
        expect
          .poll(
            async () => {
              const got = await masks(imageId);
              if (got.length !== expected.length) return `have ${got.length} masks, want ${expected.length}`;
              const left = [...expected];
              for (const g of got) {
                const i = left.findIndex((e) => rleEquals(e, g.rle));
                if (i < 0) return `mask ${g.id} (${area(g.rle)} px) matches none expected (${left.map(area).join(', ')} px)`;
                left.splice(i, 1);
              }
              return 'ok';
            },
            { timeout: 10_000 },
          )
          .toBe('ok'),
      open: async (id) => {
        await page.evaluate((i) => (location.hash = `#/image/${i}`), id);
        await waitReady(id);
      },
      waitReady,
      idle: () => expect.poll(() => canvas().getAttribute('data-busy')).toBe('false'),
      toScreen,
      clickImage: async (ix, iy, modifiers = []) => {
        const p = await toScreen(ix, iy);
        await withKeys(modifiers, () => page.mouse.click(p.x, p.y));
      },
      drag: async (from, to, modifiers = []) => {
        const a = await toScreen(...from), b = await toScreen(...to);
        await withKeys(modifiers, async () => {
          await page.mouse.move(a.x, a.y);
          await page.mouse.down();
          await page.mouse.move(b.x, b.y, { steps: 8 });
          await page.mouse.up();
        });
      },
      canvasAttr: (name) => canvas().getAttribute(name),
      shot: (name) => page.screenshot({ path: join(screenshotDir, `${name}.png`) }),
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
