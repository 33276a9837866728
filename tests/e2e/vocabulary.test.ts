// "Label everything" from a vocabulary in the app (Chromium, web mode, the vocabulary mode's fixture model): the
// field is prefilled from the categories, the vocabulary typed (one category a line) and its stuff box are stored
// with the project and still there after a reload, "Label all images" runs as a job, each scene's proposals are its
// red disk and blue square offered as red and blue, accepting them (✓ in the row, or A) gives those categories,
// and the export dialog's panoptic files carry them, read back by the independent panoptic reader.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { disposeSharedInferenceHost } from '../../src/core/pipelines/common/inference';
import { indexFolder } from '../../src/core/project';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { decode, fromCocoRle } from '../../src/shared/masks';
import type { Annotation, BatchReport, Category, Image, Job } from '../../src/shared/contract';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir } from '../helpers/folder';
import { readPanoptic } from '../helpers/panoptic-reader';
import { iou, scene, writeScene } from '../pipelines/refldmseg/scenes';
import { BLUE, colourScene, GREY, RED } from '../pipelines/vocabulary/scene';

const ui = join(__dirname, '..', '..', 'out', 'renderer');
// The fixture scene and its mirror image: a red disk and a blue square on grey ([ground, disk, square] masks),
// the square's sides on the fixture's 8-pixel latent grid in both.
const SCENES = {
  'scene-a.png': colourScene(),
  'scene-b.png': scene(512, 384, [
    { kind: 'rect', x0: 0, y0: 0, x1: 512, y1: 384, colour: GREY },
    { kind: 'disk', cx: 362, cy: 190, r: 90, colour: RED },
    { kind: 'rect', x0: 48, y0: 112, x1: 208, y1: 272, colour: BLUE },
  ]),
};
type Name = keyof typeof SCENES;
const NAMES = Object.keys(SCENES) as Name[];

describe.skipIf(!hasChromium)('label everything from a vocabulary in the app (Chromium, web mode, fixture model)', () => {
  let dir: ReturnType<typeof tempDir>;
  let folder: string;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const ids = {} as Record<Name, number>;
  let red: number;

  const api = <T,>(method: string, input: unknown) => backend.dispatch(method, input) as Promise<T>;
  const masks = (name: Name) => api<Annotation[]>('annotations.list', { imageId: ids[name] });
  const blue = async () => (await api<Category[]>('categories.list', {})).find((c) => c.name === 'blue');
  const jobs = () => backend.jobs.list().filter((j) => j.kind === 'vocabulary');
  const shot = (name: string) => page.screenshot({ path: join(screenshotDir, `${name}.png`) });
  const field = () => page.getByTestId('vocabulary-text');
  const openImage = async (name: Name) => {
    await page.goto(`${server.openUrl}#/image/${ids[name]}`);
    await expect.poll(() => page.getByTestId('canvas').getAttribute('data-ready'), { timeout: 20_000 }).toBe('true');
  };
  /** The proposal of `name` suggesting category `id`, and how well it covers the scene's shape `shape` (1 disk, 2 square). */
  const proposalOf = async (name: Name, id: number) => (await masks(name)).find((a) => a.suggestedCategoryId === id);
  const cover = (a: Annotation, name: Name, shape: 1 | 2) => iou(decode(fromCocoRle(a.mask)), SCENES[name].masks[shape]!);

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    folder = join(dir.path, 'scenes');
    mkdirSync(folder);
    for (const name of NAMES) await writeScene(join(folder, name), SCENES[name]);
    backend = new Backend({ shell: 'web' });
    backend.openProject(folder);
    await indexFolder(backend.project!);
    for (const img of (await api<{ items: Image[] }>('images.list', {})).items) ids[img.path as Name] = img.id;
    // A category the project has before any vocabulary: the field starts from it, and "red" proposals are offered in it.
    red = (await api<Category>('categories.add', { name: 'red', color: '#e6194b' })).id;
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

  it('starts from the categories; the vocabulary typed and its stuff box are stored and still there after a reload', async () => {
    await openImage('scene-a.png');
    await page.getByTestId('pipeline').selectOption('vocabulary');
    await expect.poll(() => field().inputValue()).toBe('red');
    expect(await page.getByTestId('segment-everything').count()).toBe(0); // the panel's own buttons run it, with the vocabulary
    // Without an installed model, a run says what to do (as the other pipelines' panels do).
    const installed = (await api<{ ok: boolean; fixture: boolean }[]>('models.list', {})).filter((m) => m.ok && !m.fixture);
    if (!installed.length) {
      await page.getByTestId('vocabulary-here').click();
      await expect.poll(() => page.getByTestId('vocabulary-error').textContent(), { timeout: 30_000 }).toContain('No model for Vocabulary (attention) is installed.');
      await shot('vocabulary-no-model');
    }
    await page.getByTestId('vocabulary-model').selectOption('fixture');

    // A word in two entries is refused and said; nothing is stored or run, and the field keeps what was typed.
    await field().fill('red\ncrimson, red');
    await page.getByTestId('vocabulary-here').click();
    const refused = 'The vocabulary was not stored: "red" is in vocabulary entries 1 and 2: a word names one category';
    await expect.poll(() => page.locator('.toast').textContent()).toBe(refused);
    expect(await api('vocabulary.get', {})).toEqual({ names: ['red'], stuff: [] });
    expect(await field().inputValue()).toBe('red\ncrimson, red');
    expect(jobs()).toEqual([]);
    await shot('vocabulary-refused');

    await field().fill('');
    await page.keyboard.type('red');
    await page.keyboard.press('Enter');
    await page.keyboard.type('blue');
    expect(await page.getByTestId('vocabulary-entry').allTextContents()).toEqual(['red', 'blue']);
    // Ticking blue's box leaves the field: both the list and the box are stored.
    await page.getByLabel('blue is stuff').check();
    await expect.poll(() => api('vocabulary.get', {})).toEqual({ names: ['red', 'blue'], stuff: ['blue'] });
    await shot('vocabulary-typed');

    await page.reload();
    await expect.poll(() => field().inputValue(), { timeout: 20_000 }).toBe('red\nblue');
    expect(await page.getByLabel('blue is stuff').isChecked()).toBe(true);
    expect(await page.getByLabel('red is stuff').isChecked()).toBe(false);
  });

  it('"Label all images" runs as a job: each scene\'s disk is offered as red and its square as blue', async () => {
    await page.getByTestId('vocabulary-all').click();
    await expect.poll(() => jobs().at(-1)?.state, { timeout: 120_000 }).toMatch(/done|failed|cancelled/);
    const job = jobs().at(-1) as Job;
    expect(job.state).toBe('done');
    expect(job.result as BatchReport).toMatchObject({ pipeline: 'vocabulary', total: 2, segmented: 2, proposals: 4, failed: [] });
    await expect.poll(() => page.getByTestId('job-summary').textContent(), { timeout: 10_000 }).toContain('2 images segmented');
    // "blue" was no category: the run made it, as stuff (its box).
    expect(await blue()).toMatchObject({ name: 'blue', isthing: false });
    const blueId = (await blue())!.id;
    for (const name of NAMES) {
      const all = await masks(name);
      expect(all).toHaveLength(2);
      for (const a of all) expect(a).toMatchObject({ source: 'vocabulary', categoryId: null, proposed: true });
      expect(cover((await proposalOf(name, red))!, name, 1)).toBeGreaterThanOrEqual(0.9);
      expect(cover((await proposalOf(name, blueId))!, name, 2)).toBeGreaterThanOrEqual(0.9);
    }
    await expect.poll(() => page.getByTestId('accept-suggested').allTextContents()).toEqual(expect.arrayContaining(['✓ red?', '✓ blue?']));
    await shot('vocabulary-proposals');
  });

  it('accepts the proposals in their offered categories: ✓ in the rows of one image, A on the other', async () => {
    const blueId = (await blue())!.id;
    const offers = page.getByTestId('accept-suggested');
    await offers.first().click();
    await expect.poll(() => offers.count()).toBe(1);
    await offers.first().click();
    await expect.poll(() => offers.count()).toBe(0);
    await shot('vocabulary-accepted');

    await openImage('scene-b.png');
    for (const id of [red, blueId]) {
      const p = (await proposalOf('scene-b.png', id))!;
      await page.locator(`[data-testid="annotation-row"][data-id="${p.id}"]`).click();
      await page.keyboard.press('a');
      await expect.poll(() => backend.project!.getAnnotation(p.id)?.categoryId).toBe(id);
    }
    for (const name of NAMES) {
      const byCategory = (await masks(name)).map((a) => [a.categoryId, a.suggestedCategoryId]);
      expect(byCategory.sort()).toEqual([[red, null], [blueId, null]].sort());
    }
  });

  it('exports COCO panoptic from the export dialog: each PNG holds the red disk as a thing and the blue square as stuff', async () => {
    const blueId = (await blue())!.id;
    await page.goto(server.openUrl);
    await page.getByTestId('open-export').click();
    await page.getByTestId('kind-panoptic').check();
    const out = join(folder, '.panoptic.json');
    await expect.poll(() => page.getByTestId('panoptic-out').inputValue()).toBe(out);
    await page.getByTestId('export-run').click();
    await expect.poll(() => page.getByTestId('report-segments').textContent(), { timeout: 20_000 }).toBe('4 from 4 masks');
    expect(await page.getByTestId('report-changed-hands').textContent()).toBe('0'); // a DiffSeg segmentation does not overlap itself
    await shot('vocabulary-panoptic-export');

    const read = await readPanoptic(out, join(folder, '.panoptic'));
    expect(read.problems).toEqual([]);
    const categories = new Map<number, { name: string; isthing: number }>(read.doc.categories.map((c: { id: number; name: string; isthing: number }) => [c.id, c]));
    for (const name of NAMES) {
      const png = read.images.get(name)!;
      expect([...png.segments.keys()].sort()).toEqual([1, 2]);
      const accepted = await masks(name);
      for (const s of png.segments.values()) {
        const category = categories.get(s.category_id)!;
        const mask = accepted.find((a) => a.categoryId === (category.name === 'red' ? red : blueId))!;
        expect(category).toMatchObject(category.name === 'red' ? { isthing: 1 } : { name: 'blue', isthing: 0 });
        // The segment is the accepted mask, pixel for pixel.
        const pixels = decode(fromCocoRle(mask.mask));
        expect(s.pixels).toEqual([...pixels.keys()].filter((p) => pixels[p] === 1));
        expect(cover(mask, name, category.name === 'red' ? 1 : 2)).toBeGreaterThanOrEqual(0.9);
      }
    }
  });

  it('the grid\'s batch button labels with the stored vocabulary: the same prompt as the panel\'s, so both images are skipped', async () => {
    await page.getByTestId('export-dialog').getByRole('button', { name: 'Close', exact: true }).click();
    const before = jobs().length;
    await page.getByTestId('segment-batch').click();
    await expect.poll(() => jobs().length).toBe(before + 1);
    await expect.poll(() => jobs().at(-1)?.state, { timeout: 60_000 }).toMatch(/done|failed|cancelled/);
    expect(jobs().at(-1)!.result as BatchReport).toMatchObject({ pipeline: 'vocabulary', total: 2, segmented: 0, skipped: 2, failed: [] });
  });
});
