// Editing in the canvas, in Chromium against web mode: an unfinished polygon outlives an image switch and a
// reload; a mask with a hole and two parts is vertex-edited ring by ring; the brush starts a new mask away from
// the selected one; Backspace never deletes a mask just accepted or closed. Every result is checked THROUGH
// THE API against masks computed here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import sharp from 'sharp';
import { area, encode, polygonsToRle, rleEquals, subtract, toCocoRle, union, type Rle } from '../../src/shared/masks';
import { hasChromium } from '../helpers/browser';
import { SCENE, sceneRgb } from './diffseg-scene';
import { openWorkplace, type Workplace } from './canvas-workplace';

const W = 120, H = 80;
const flat = (folder: string, name: string, background: { r: number; g: number; b: number }) =>
  sharp({ create: { width: W, height: H, channels: 3, background } }).png().toFile(join(folder, name));
const poly = (...rings: number[][]) => polygonsToRle(rings, H, W);
/** The brush footprint: pixel centres within size/2 of the segment a–b (a click: a = b). */
function capsule(ax: number, ay: number, bx: number, by: number, size: number): Rle {
  const m = new Uint8Array(W * H), r2 = (size / 2) ** 2;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const px = x + 0.5, py = y + 0.5, dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
      const t = l2 ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / l2)) : 0;
      if ((ax + t * dx - px) ** 2 + (ay + t * dy - py) ** 2 <= r2) m[y * W + x] = 1;
    }
  return encode(m, H, W);
}

describe.skipIf(!hasChromium)('editing in the canvas (Chromium, web mode)', () => {
  let wp: Workplace;
  const ids: Record<string, number> = {};
  const expectMasks = (imageId: number, expected: Rle[]) => wp.expectMasks(imageId, expected);
  const press = (key: string) => wp.page.keyboard.press(key);
  const toast = () => wp.page.getByRole('alert');
  const selectedRows = () => wp.page.locator('[data-testid="annotation-row"].selected').count();

  beforeAll(async () => {
    wp = await openWorkplace(
      async (folder) => {
        await flat(folder, 'a.png', { r: 90, g: 160, b: 60 });
        await flat(folder, 'b.png', { r: 60, g: 90, b: 160 });
        await flat(folder, 'c.png', { r: 160, g: 120, b: 60 });
        await sharp(Buffer.from(sceneRgb()), { raw: { width: SCENE.width, height: SCENE.height, channels: 3 } }).png().toFile(join(folder, 'shapes.png'));
      },
      () => localStorage.setItem('difflabel.diffsegModel', 'fixture'),
    );
    for (const name of ['a.png', 'b.png', 'c.png', 'shapes.png']) ids[name] = await wp.imageId(name);
  });
  afterAll(() => wp?.close());

  it('an unfinished polygon is kept when the arrow keys switch images, and restored on return', async () => {
    const a = ids['a.png']!, b = ids['b.png']!;
    await wp.open(a);
    await wp.page.getByTestId('canvas').focus();
    await press('p');
    for (const [x, y] of [[10, 10], [60, 10], [60, 50]]) await wp.clickImage(x!, y!);
    await press('ArrowRight');
    await wp.waitReady(b);
    await press('ArrowLeft');
    await wp.waitReady(a);
    await expect.poll(() => toast().textContent()).toContain('Unfinished polygon restored (3 vertices)');
    await wp.shot('editing-draft-restored');
    // The restored draft goes on where it stopped: one more vertex and Enter close the four-sided polygon.
    await wp.clickImage(10, 50);
    await press('Enter');
    await expectMasks(a, [poly([10, 10, 60, 10, 60, 50, 10, 50])]);
    await wp.idle();
    expect(await wp.canvasAttr('data-draft')).toBe('0');
  });

  it('a draft survives a strip click and a reload; Esc drops it', async () => {
    const a = ids['a.png']!, b = ids['b.png']!;
    const square = poly([10, 10, 60, 10, 60, 50, 10, 50]), triangle = [70, 20, 110, 20, 90, 70];
    for (let i = 0; i < triangle.length; i += 2) await wp.clickImage(triangle[i]!, triangle[i + 1]!);
    await wp.page.getByTestId('strip-row').filter({ hasText: 'b.png' }).click();
    await wp.waitReady(b);
    await wp.page.getByTestId('strip-row').filter({ hasText: 'a.png' }).click();
    await wp.waitReady(a);
    await wp.page.reload();
    await wp.waitReady(a);
    await wp.page.getByTestId('canvas').focus();
    await press('Enter'); // closes the draft placed before the strip click and the reload
    await expectMasks(a, [square, poly(triangle)]);
    await wp.idle();
    await expectMasks(b, []); // drafts belong to their image

    // Esc drops a draft for good: nothing comes back after a reload, and Enter then closes nothing.
    await press('p');
    for (const [x, y] of [[80, 60], [110, 60], [110, 75]]) await wp.clickImage(x!, y!);
    expect(await wp.canvasAttr('data-draft')).toBe('3');
    await press('Escape');
    expect(await wp.canvasAttr('data-draft')).toBe('0');
    await wp.page.reload();
    await wp.waitReady(a);
    expect(await wp.canvasAttr('data-draft')).toBe('0');
    await wp.page.getByTestId('canvas').focus();
    await press('Enter');
    await wp.idle();
    await expectMasks(a, [square, poly(triangle)]);
  });

  it('a mask with a hole and two parts: every ring has vertex handles, and edits keep the hole and the parts', async () => {
    const b = ids['b.png']!;
    const A = [10, 10, 50, 10, 50, 50, 10, 50], HOLE = [25, 25, 35, 25, 35, 35, 25, 35], B = [70, 20, 100, 20, 100, 60, 70, 60];
    const shape = (outerA: number[], hole: number[], outerB: number[]) => union(subtract(poly(outerA), poly(hole)), poly(outerB));
    await wp.api('annotations.add', { imageId: b, categoryId: null, mask: toCocoRle(shape(A, HOLE, B), true), source: 'manual' });
    await wp.open(b);
    await wp.page.getByTestId('canvas').focus();
    await press('v');
    await wp.clickImage(15.5, 15.5);
    await expect.poll(selectedRows).toBe(1);
    await wp.shot('editing-rings');

    // A vertex of the hole.
    await wp.drag([35, 35], [40, 40]);
    const HOLE2 = [25, 25, 35, 25, 40, 40, 25, 35];
    await expectMasks(b, [shape(A, HOLE2, B)]);
    await wp.idle();
    expect(await wp.canvasAttr('data-handles')).toBe('12');
    // A vertex of the second part.
    await wp.drag([100, 60], [110, 70]);
    const B2 = [70, 20, 100, 20, 110, 70, 70, 60];
    await expectMasks(b, [shape(A, HOLE2, B2)]);
    await wp.idle();
    // Grabbing an edge of the hole inserts a vertex there.
    await wp.drag([30, 25], [30, 18]);
    const HOLE3 = [25, 25, 30, 18, 35, 25, 40, 40, 25, 35];
    await expectMasks(b, [shape(A, HOLE3, B2)]);
    await wp.idle();
    expect(await wp.canvasAttr('data-handles')).toBe('13');
    await wp.shot('editing-rings-edited');
    // Alt+click deletes it again; each edit is one undo step.
    await wp.clickImage(30, 18, ['Alt']);
    await expectMasks(b, [shape(A, HOLE2, B2)]);
    await wp.idle();
    await press('Control+z');
    await expectMasks(b, [shape(A, HOLE3, B2)]);
    await wp.idle();
  });

  it('the brush starts a new mask where the stroke does not reach the selected one; Shift adds a separate part', async () => {
    const c = ids['c.png']!;
    const square = poly([10, 10, 30, 10, 30, 30, 10, 30]);
    await wp.api('annotations.add', { imageId: c, categoryId: null, mask: toCocoRle(square, true), source: 'manual' });
    await wp.open(c);
    await wp.page.getByTestId('canvas').focus();
    await press('v');
    await wp.clickImage(20.5, 20.5);
    await expect.poll(selectedRows).toBe(1);
    await press('b');
    expect(await wp.page.getByTestId('brush-size').textContent()).toBe('15');
    // Far from the square: a new mask, selected, and a message that says so.
    await wp.drag([80.5, 40.5], [95.5, 40.5]);
    const far = capsule(80.5, 40.5, 95.5, 40.5, 15);
    await expectMasks(c, [square, far]);
    await wp.idle();
    await expect.poll(() => toast().textContent()).toMatch(/new mask/i);
    await wp.shot('editing-brush-new-mask');
    // Overlapping the selected (new) mask: painted into it.
    await wp.drag([100.5, 40.5], [105.5, 40.5]);
    const joined = union(far, capsule(100.5, 40.5, 105.5, 40.5, 15));
    await expectMasks(c, [square, joined]);
    await wp.idle();
    // A gap of 2 pixels still counts as touching: the joined mask ends at row 47, this click starts at row 50.
    const dab = capsule(94.5, 57.5, 94.5, 57.5, 15);
    expect(area(subtract(dab, joined))).toBe(area(dab));
    await wp.clickImage(94.5, 57.5);
    const nearJoined = union(joined, dab);
    await expectMasks(c, [square, nearJoined]);
    await wp.idle();
    // Shift: a separate part of the selected mask on purpose.
    await wp.clickImage(40.5, 65.5, ['Shift']);
    await expectMasks(c, [square, union(nearJoined, capsule(40.5, 65.5, 40.5, 65.5, 15))]);
    await wp.idle();
  });

  it('Backspace after accepting a click mask or closing a polygon keeps the mask; Delete deletes it', async () => {
    const s = ids['shapes.png']!;
    await wp.open(s);
    await wp.page.getByTestId('canvas').focus();
    await press('c');
    const [cx, cy] = SCENE.shapes[0]!.click;
    await wp.clickImage(cx + 0.5, cy + 0.5);
    await expect.poll(async () => `${await wp.canvasAttr('data-click-status')} ${(await wp.canvasAttr('data-click-area')) !== ''}`, { timeout: 60_000 }).toBe('idle true');
    await press('Enter');
    await expect.poll(async () => (await wp.masks(s)).length, { timeout: 20_000 }).toBe(1);
    await expect.poll(() => wp.canvasAttr('data-click-points')).toBe('0');
    await expect.poll(selectedRows).toBe(1);
    await wp.idle();
    // The points are gone; Backspace says so and leaves the accepted (selected) mask alone.
    await press('Backspace');
    await wp.idle();
    expect(await wp.masks(s)).toHaveLength(1);
    expect(await selectedRows()).toBe(1);
    expect(await toast().textContent()).toContain('No point to take back');

    // The same in the polygon tool: Enter closes, a Backspace too many does not delete the new polygon.
    await press('p');
    for (const [x, y] of [[200, 150], [300, 150], [300, 230]]) await wp.clickImage(x!, y!);
    await press('Backspace'); // takes back the last vertex
    await wp.clickImage(250, 230);
    await press('Enter');
    const triangle = polygonsToRle([[200, 150, 300, 150, 250, 230]], SCENE.height, SCENE.width);
    await expect.poll(async () => (await wp.masks(s)).some((m) => rleEquals(m.rle, triangle))).toBe(true);
    await wp.idle();
    await press('Backspace');
    await wp.idle();
    expect(await wp.masks(s)).toHaveLength(2);
    // Delete deletes the selected mask in any tool.
    await press('Delete');
    await expect.poll(async () => (await wp.masks(s)).length).toBe(1);
    await wp.idle();
    // Elsewhere Backspace still deletes the selection (keyboards without a Delete key).
    await press('v');
    await wp.clickImage(cx + 0.5, cy + 0.5);
    await expect.poll(selectedRows).toBe(1);
    await press('Backspace');
    await expect.poll(async () => (await wp.masks(s)).length).toBe(0);
    await wp.idle();
    // The help overlay states the rule.
    await press('?');
    await expect.poll(() => wp.page.getByTestId('help').textContent()).toContain('never deletes a mask');
    await wp.shot('editing-help');
    await press('Escape');
  });
});
