// "No overlap" for the edits besides drawing, in Chromium against web mode: with the option on, merging, splitting
// and accepting a proposal (giving it a category) leave no two masks sharing a pixel, the changed mask keeping
// its pixels, and one Ctrl+Z gives everything back. The proposals come from DiffSeg's test fixture model.
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Annotation, Job } from '../../src/shared/contract';
import { area, encode, intersect, subtract, toCocoRle, union, type Rle } from '../../src/shared/masks';
import { hasChromium } from '../helpers/browser';
import { openWorkplace, type Workplace } from './canvas-workplace';
import { SCENE, sceneRgb } from './diffseg-scene';

const { width: W, height: H } = SCENE;
/** A mask of the pixels [x0, x1) × [y0, y1). */
function rect(x0: number, y0: number, x1: number, y1: number): Rle {
  const m = new Uint8Array(W * H);
  for (let y = y0; y < y1; y++) m.fill(1, y * W + x0, y * W + x1);
  return encode(m, H, W);
}

describe.skipIf(!hasChromium)('no overlap when merging, splitting and accepting proposals (Chromium, web mode)', () => {
  let wp: Workplace;
  let merging: number, splitting: number, proposing: number, category: number;
  const add = async (imageId: number, rle: Rle, categoryId: number | null = category) =>
    (await wp.api<Annotation>('annotations.add', { imageId, categoryId, mask: toCocoRle(rle, true) })).id;
  const select = async (...ids: number[]) => {
    for (const [i, id] of ids.entries()) await wp.page.locator(`[data-testid="annotation-row"][data-id="${id}"] .swatch`).click({ modifiers: i ? ['Shift'] : [] });
  };

  beforeAll(async () => {
    wp = await openWorkplace(async (folder) => {
      for (const name of ['merge.png', 'split.png', 'propose.png'])
        await sharp(Buffer.from(sceneRgb()), { raw: { width: W, height: H, channels: 3 } }).png().toFile(join(folder, name));
    });
    merging = await wp.imageId('merge.png');
    splitting = await wp.imageId('split.png');
    proposing = await wp.imageId('propose.png');
    category = (await wp.api<{ id: number }>('categories.add', { name: 'thing' })).id;
  });
  afterAll(() => wp?.close());

  it('merge: the merged mask takes its pixels from the mask lying across it; one Ctrl+Z gives them back', async () => {
    const a = rect(20, 20, 60, 60), b = rect(100, 20, 140, 60), across = rect(40, 30, 120, 40);
    const ia = await add(merging, a), ib = await add(merging, b);
    await add(merging, across);
    await wp.open(merging);
    await wp.page.getByTestId('no-overlap').click();
    await select(ia, ib);
    await wp.page.getByTestId('canvas').focus();
    await wp.page.keyboard.press('m');
    await wp.idle();
    await wp.expectMasks(merging, [union(a, b), subtract(across, union(a, b))]);
    await wp.shot('no-overlap-merge');
    await wp.page.keyboard.press('Control+z');
    await wp.expectMasks(merging, [a, b, across]);
  });

  it('split: the parts take their pixels from the mask lying across them', async () => {
    const pieces = union(rect(20, 100, 60, 140), rect(100, 100, 140, 140)), across = rect(40, 110, 120, 120);
    const id = await add(splitting, pieces);
    await add(splitting, across);
    await wp.open(splitting);
    await select(id);
    await wp.page.getByTestId('canvas').focus();
    await wp.page.keyboard.press('x');
    await wp.idle();
    await wp.expectMasks(splitting, [rect(20, 100, 60, 140), rect(100, 100, 140, 140), subtract(across, pieces)]);
    await wp.page.keyboard.press('Control+z');
    await wp.expectMasks(splitting, [pieces, across]);
  });

  it('accepting a proposal (giving it a category) takes its pixels from the labelled mask it overlaps', async () => {
    const { jobId } = await wp.api<{ jobId: string }>('pipelines.run', { pipeline: 'diffseg', model: 'fixture', imageIds: [proposing] });
    await expect.poll(async () => (await wp.api<Job[]>('jobs.list', {})).find((j) => j.id === jobId)?.state, { timeout: 60_000 }).toBe('done');
    const labelled = rect(60, 60, 150, 80); // over the red rectangle's right edge and the background
    await add(proposing, labelled);
    const masks = await wp.masks(proposing);
    const overlapping = masks.filter((m) => m.categoryId === null).sort((p, q) => area(intersect(q.rle, labelled)) - area(intersect(p.rle, labelled)));
    const proposal = overlapping[0]!;
    const shared = area(intersect(proposal.rle, labelled));
    expect(shared).toBeGreaterThan(0);
    const before = masks.map((m) => m.rle);

    await wp.open(proposing);
    // On since the first test: the option is kept per user.
    await expect(wp.page.getByTestId('no-overlap').getAttribute('class')).resolves.toContain('active');
    await select(proposal.id);
    await wp.page.getByTestId('canvas').focus();
    await wp.page.keyboard.press('1');
    await wp.idle();
    await wp.expectMasks(proposing, masks.map((m) => (m.id === proposal.id ? m.rle : m.categoryId === null ? m.rle : subtract(m.rle, proposal.rle))));
    const after = await wp.masks(proposing);
    expect(after.find((m) => m.id === proposal.id)!.categoryId).toBe(category);
    expect(area(after.find((m) => m.categoryId === category && m.id !== proposal.id)!.rle)).toBe(area(labelled) - shared);
    await wp.shot('no-overlap-accept');
    await wp.page.keyboard.press('Control+z');
    await wp.expectMasks(proposing, before);
  });
});
