// The workplace as a new user first meets it: a folder of 50 small images (img000.png … img049.png, two of them
// broken files) served in web mode to Debian's Chromium at 1280×800. Shared by the navigation and layout tests.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { Backend } from '../../src/core/api/backend';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { launchChromium } from '../helpers/browser';
import { tempDir, writeImage } from '../helpers/folder';

export const UI = join(__dirname, '..', '..', 'out', 'renderer');
export const COUNT = 50;
/** Indexes (= positions in path order) of the files that are not images. */
export const BROKEN = [20, 21];
export const fileName = (i: number) => `img${String(i).padStart(3, '0')}.png`;

export interface Workplace {
  backend: Backend;
  server: RunningServer;
  browser: Browser;
  page: Page;
  /** Image ids by position in path order. */
  ids: number[];
  call(method: string, input: unknown): Promise<any>;
  /** Loads the page afresh with image `i` open. */
  open(i: number): Promise<void>;
  /** Position of the open image (from the URL), -1 when none. */
  opened(): Promise<number>;
  /** Waits until image `i` is the open one. */
  expectOpened(i: number): Promise<void>;
  close(): Promise<void>;
}

export async function startWorkplace(): Promise<Workplace> {
  if (!existsSync(join(UI, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
  const dir = tempDir();
  const folder = join(dir.path, 'photos');
  mkdirSync(folder);
  for (let i = 0; i < COUNT; i++) {
    if (BROKEN.includes(i)) writeFileSync(join(folder, fileName(i)), 'not an image');
    else await writeImage(join(folder, fileName(i)), 48, 36, 'png', { r: (i * 37) % 256, g: (i * 91) % 256, b: 120 });
  }
  const backend = new Backend({ shell: 'web' });
  backend.openProject(folder);
  const call = (method: string, input: unknown) => backend.dispatch(method, input) as Promise<any>;
  await backend.jobs.wait((await call('project.index', {})).jobId);
  const items: { id: number; path: string }[] = (await call('images.list', {})).items;
  expect(items.map((i) => i.path)).toEqual(Array.from({ length: COUNT }, (_, i) => fileName(i)));
  const ids = items.map((i) => i.id);
  const server = await startServer({ backend, port: 0, staticDir: UI });
  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const opened = async () => {
    const m = /#\/image\/(\d+)$/.exec(page.url());
    return m ? ids.indexOf(Number(m[1])) : -1;
  };
  return {
    backend,
    server,
    browser,
    page,
    ids,
    call,
    async open(i) {
      await page.goto('about:blank');
      await page.goto(`${server.openUrl}#/image/${ids[i]}`);
      await page.getByTestId('image-strip').waitFor();
    },
    opened,
    expectOpened: (i) => expect.poll(opened, { timeout: 10_000 }).toBe(i),
    async close() {
      await browser.close();
      await server.close();
      await backend.close();
      dir.cleanup();
    },
  };
}
