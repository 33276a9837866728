// Several images selected in the grid (Chromium, web mode, Ref LDM-Seg's fixture model), as in a file browser: a
// click selects one, Ctrl+click toggles, Shift+click selects the range in the grid's order, Ctrl+A all it shows, Esc
// clears; the selection stays while the virtualised grid scrolls its cells away, and double-click or Enter opens an
// image. "Find in selected images (N)" runs on those images only: checked through the jobs' reports and the masks.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { disposeSharedInferenceHost } from '../../src/core/pipelines/common/inference';
import { indexFolder } from '../../src/core/project';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { decode, encode, fromCocoRle, toCocoRle } from '../../src/shared/masks';
import type { Annotation, BatchReport, Image, Job } from '../../src/shared/contract';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir } from '../helpers/folder';
import { iou, query, support, writeScene } from '../pipelines/refldmseg/scenes';

const ui = join(__dirname, '..', '..', 'out', 'renderer');
const SHIFTS = [0, 16, 32, 48];
/** Plain images after the scenes (by path), enough that the grid scrolls the scenes' cells out of the page. */
const FILLERS = 60;

describe.skipIf(!hasChromium)('selecting images in the grid (Chromium, web mode, fixture model)', () => {
  let dir: ReturnType<typeof tempDir>;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const ids: Record<string, number> = {};

  const api = <T,>(method: string, input: unknown) => backend.dispatch(method, input) as Promise<T>;
  const jobs = () => backend.jobs.list().filter((j) => j.kind === 'refldmseg');
  const waitJob = async (count: number): Promise<Job> => {
    await expect.poll(() => jobs().length, { timeout: 20_000 }).toBe(count);
    await expect.poll(() => jobs().at(-1)?.state, { timeout: 120_000 }).toMatch(/done|failed|cancelled/);
    return jobs().at(-1)!;
  };
  const masks = (name: string) => api<Annotation[]>('annotations.list', { imageId: ids[name] });
  const shot = (name: string) => page.screenshot({ path: join(screenshotDir, `${name}.png`) });
  const cell = (name: string) => page.locator(`[data-testid="image-cell"][data-id="${ids[name]}"]`);
  const selectedIds = async () =>
    (await page.locator('[data-testid="image-cell"][aria-selected="true"]').evaluateAll((l) => l.map((c) => Number(c.getAttribute('data-id'))))).sort((a, b) => a - b);
  const idsOf = (...names: string[]) => names.map((n) => ids[n]!).sort((a, b) => a - b);
  const count = () => page.getByTestId('selection-count');
  const scroller = () => page.locator('.grid-scroller');

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    const folder = join(dir.path, 'scenes');
    mkdirSync(folder);
    const ex = support();
    await writeScene(join(folder, 'example.png'), ex);
    for (const dx of SHIFTS) await writeScene(join(folder, `query${dx}.png`), query(dx));
    writeFileSync(join(folder, 'query99.png'), 'not a PNG'); // unreadable: selectable, but nothing to segment
    for (let i = 0; i < FILLERS; i++)
      await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 90, g: 90 + i, b: 120 } } }).png().toFile(join(folder, `zfill${String(i).padStart(2, '0')}.png`));
    backend = new Backend({ shell: 'web' });
    backend.openProject(folder);
    await indexFolder(backend.project!);
    for (let offset = 0; ; offset += 500) {
      const r = await api<{ items: Image[]; total: number }>('images.list', { offset });
      for (const img of r.items) ids[img.path] = img.id;
      if (offset + 500 >= r.total) break;
    }
    // The labeler's mask of the red disk, marked as the example (examples.test.ts marks one with U in the app).
    const red = (await api<{ id: number }>('categories.add', { name: 'red thing', color: '#e6194b' })).id;
    const disk = await api<Annotation>('annotations.add', { imageId: ids['example.png'], categoryId: red, mask: toCocoRle(encode(ex.masks[0]!, 160, 200), true) });
    await api('examples.add', { annotationId: disk.id });
    server = await startServer({ backend, port: 0, staticDir: ui });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await backend?.close();
    await disposeSharedInferenceHost();
    dir?.cleanup();
  });

  it('a click selects one image and opens none; Ctrl+click toggles; Shift+click selects the range in the grid\'s order', async () => {
    await page.goto(server.openUrl);
    await page.getByTestId('pipeline').selectOption('refldmseg');
    await page.getByTestId('refldmseg-model').selectOption('fixture');
    await expect.poll(() => cell('query0.png').count(), { timeout: 20_000 }).toBe(1);
    await cell('query0.png').click();
    expect(page.url()).not.toContain('#/image/');
    expect(await selectedIds()).toEqual(idsOf('query0.png'));
    await expect.poll(() => count().textContent()).toBe('1 selected');
    await cell('query0.png').click({ modifiers: ['Control'] });
    expect(await selectedIds()).toEqual([]);
    await cell('query16.png').click({ modifiers: ['Control'] });
    await cell('query48.png').click({ modifiers: ['Control'] });
    expect(await selectedIds()).toEqual(idsOf('query16.png', 'query48.png'));
    await cell('query48.png').click({ modifiers: ['Control'] });
    // Shift: from the image clicked last to this one, in the grid's order (by path); it replaces the selection.
    await cell('query0.png').click({ modifiers: ['Shift'] });
    await expect.poll(selectedIds).toEqual(idsOf('query0.png', 'query16.png', 'query32.png', 'query48.png'));
    await cell('query16.png').click();
    await cell('query32.png').click({ modifiers: ['Shift'] });
    await expect.poll(selectedIds).toEqual(idsOf('query16.png', 'query32.png'));
    await expect.poll(() => count().textContent()).toBe('2 selected');
    // The batch button runs on the selection now, not on every image.
    expect(await page.getByTestId('segment-batch').textContent()).toBe('Segment selected images (2)');
    await shot('grid-selection');
  });

  it('keeps the selection while the virtualised grid scrolls its cells out of the page and back', async () => {
    await scroller().evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await expect.poll(() => cell('query16.png').count()).toBe(0);
    await expect.poll(() => cell(`zfill${FILLERS - 1}.png`).count()).toBe(1);
    await expect.poll(() => count().textContent()).toBe('2 selected');
    await scroller().evaluate((el) => el.scrollTo(0, 0));
    await expect.poll(() => cell('query16.png').count()).toBe(1);
    expect(await selectedIds()).toEqual(idsOf('query16.png', 'query32.png'));
  });

  it('"Find in selected images (2)" in the example panel finds the example in those two images only', async () => {
    // Enter opens the image clicked last without a modifier (the range's start); the selection stays.
    await page.keyboard.press('Enter');
    await expect.poll(() => page.url()).toContain(`#/image/${ids['query16.png']}`);
    await expect.poll(() => page.getByTestId('canvas').getAttribute('data-ready'), { timeout: 20_000 }).toBe('true');
    const find = page.getByTestId('find-selected');
    await expect.poll(() => find.textContent()).toBe('Find in selected images (2)');
    await shot('example-find-selected');
    await find.click();
    const job = await waitJob(1);
    expect(job.state).toBe('done');
    expect(job.result as BatchReport).toMatchObject({ pipeline: 'refldmseg', total: 2, segmented: 2, proposals: 2, failed: [] });
    for (const dx of [16, 32]) {
      const [p, ...more] = await masks(`query${dx}.png`);
      expect(more).toEqual([]);
      expect(p).toMatchObject({ source: 'refldmseg', proposed: true });
      expect(iou(decode(fromCocoRle(p!.mask)), query(dx).masks[0]!)).toBeGreaterThanOrEqual(0.9);
    }
    expect(await masks('query0.png')).toEqual([]);
    expect(await masks('query48.png')).toEqual([]);
    expect(await masks('example.png')).toHaveLength(1); // the example itself, nothing proposed
  });

  it('Ctrl+A selects every image the grid shows, Esc clears, and so does Clear', async () => {
    await page.getByTestId('back-to-grid').click();
    await expect.poll(() => count().textContent()).toBe('2 selected');
    // Pressed again until the grid has its keys: right after going back it may still be mounting (a loaded CI machine).
    await expect.poll(async () => (await page.keyboard.press('Control+a'), count().textContent())).toBe(`${SHIFTS.length + 2 + FILLERS} selected`);
    expect(await selectedIds()).toEqual(await page.getByTestId('image-cell').evaluateAll((l) => l.map((c) => Number(c.getAttribute('data-id'))).sort((a, b) => a - b)));
    await shot('grid-select-all');
    await page.keyboard.press('Escape');
    await expect.poll(() => count().count()).toBe(0);
    expect(await selectedIds()).toEqual([]);
    expect(await page.getByTestId('segment-batch').textContent()).toBe('Segment all images');

    // Within a search, Ctrl+A selects what it shows only.
    await page.getByPlaceholder('Search path…').fill('query');
    await expect.poll(() => page.getByTestId('image-cell').count()).toBe(SHIFTS.length + 1);
    await scroller().click({ position: { x: 5, y: 600 } }); // the grid, not the search box, has the keys
    await page.keyboard.press('Control+a');
    await expect.poll(() => count().textContent()).toBe(`${SHIFTS.length + 1} selected`);
    // The unreadable file is selected, but a run leaves it out.
    expect(await page.getByTestId('segment-batch').textContent()).toBe(`Segment selected images (${SHIFTS.length})`);
    expect(await page.getByTestId('segment-batch').getAttribute('title')).toContain('(1 missing or unreadable left out)');
    await page.getByTestId('selection-clear').click();
    await expect.poll(() => count().count()).toBe(0);
  });

  it('the toolbar\'s batch button runs on the selection; double-click opens an image', async () => {
    await cell('query48.png').click();
    await page.getByTestId('segment-batch').click();
    const job = await waitJob(2);
    expect(job.result as BatchReport).toMatchObject({ total: 1, segmented: 1, failed: [] });
    expect(await masks('query48.png')).toHaveLength(1);
    expect(await masks('query0.png')).toEqual([]);
    // Double-click opens an image and leaves the selection as it was (its first click selects nothing for good).
    await cell('query0.png').dblclick();
    await expect.poll(() => page.url()).toContain(`#/image/${ids['query0.png']}`);
    await expect.poll(() => page.getByTestId('canvas').getAttribute('data-ready'), { timeout: 20_000 }).toBe('true');
    // The strip's batch button runs on the selection too.
    expect(await page.getByTestId('segment-batch').textContent()).toBe('Segment selected images (1)');
    await page.getByTestId('back-to-grid').click();
    await expect.poll(selectedIds).toEqual(idsOf('query48.png'));
    // With nothing selected, a double-click leaves nothing selected: the batch buttons keep to every image.
    await page.keyboard.press('Escape');
    await cell('query32.png').dblclick();
    await expect.poll(() => page.url()).toContain(`#/image/${ids['query32.png']}`);
    await expect.poll(() => page.getByTestId('segment-batch').textContent()).toBe('Segment filtered images');
  });
});
