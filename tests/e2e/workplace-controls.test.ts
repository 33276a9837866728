// Small controls of the workplace in Chromium (web mode): deleting a category after a confirmation that counts the
// masks it leaves unassigned, the status bar's execution provider, and "Choose folder…" in a browser.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { encode, toCompressedString } from '../../src/shared/masks';
import { hasChromium, screenshotDir } from '../helpers/browser';
import { rectMask } from '../helpers/masks';
import { startWorkplace, type Workplace } from './workplace';

describe.skipIf(!hasChromium)('workplace controls', () => {
  let w: Workplace;
  const page = () => w.page;
  const mask = (x: number) => ({ size: [36, 48], counts: toCompressedString(encode(rectMask(36, 48, x, 2, x + 6, 8), 36, 48)) });

  beforeAll(async () => {
    w = await startWorkplace();
  });
  afterAll(async () => {
    await w?.close();
  });

  it('deletes a category after a confirmation that says how many masks become unassigned', async () => {
    const birds = await w.call('categories.add', { name: 'birds' });
    const trees = await w.call('categories.add', { name: 'trees' });
    for (const x of [0, 10]) await w.call('annotations.add', { imageId: w.ids[5], categoryId: birds.id, mask: mask(x) });
    await w.call('annotations.add', { imageId: w.ids[6], categoryId: birds.id, mask: mask(0) });
    await w.open(5);
    await expect.poll(() => page().getByTestId('category-row').count()).toBe(2);

    // Esc in a rename cancels it (it also hands the keyboard back, which must not commit the text by blurring it).
    await page().locator('.cat-name', { hasText: 'birds' }).dblclick();
    await page().locator('.cat-rename').fill('sparrows');
    await page().locator('.cat-rename').press('Escape');
    expect(await page().locator('.cat-rename').count()).toBe(0);
    await page().waitForTimeout(300);
    expect((await w.call('categories.list', {})).map((c: { name: string }) => c.name)).toEqual(['birds', 'trees']);

    await page().getByRole('button', { name: 'Delete category birds' }).click();
    const confirm = page().getByTestId('category-delete');
    expect(await confirm.textContent()).toMatch(/Delete “birds”\?\s*Its 3 masks on 2 images become unassigned\./);
    await page().screenshot({ path: join(screenshotDir, 'category-delete.png') });
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    expect(await confirm.count()).toBe(0);
    expect((await w.call('categories.list', {})).map((c: { name: string }) => c.name)).toEqual(['birds', 'trees']);

    await page().getByRole('button', { name: 'Delete category birds' }).click();
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => page().getByTestId('category-row').count()).toBe(1);
    expect((await w.call('categories.list', {})).map((c: { name: string }) => c.name)).toEqual(['trees']);
    for (const i of [5, 6]) expect((await w.call('annotations.list', { imageId: w.ids[i] })).every((a: { categoryId: number | null }) => a.categoryId === null)).toBe(true);
    // The masks panel shows them as unassigned now.
    await expect.poll(() => page().locator('[data-testid="annotation-row"] select').evaluateAll((s) => s.map((x) => (x as HTMLSelectElement).value))).toEqual(['', '']);

    // A category no mask uses: the confirmation says so, and the row goes.
    await page().getByRole('button', { name: 'Delete category trees' }).click();
    expect(await confirm.textContent()).toMatch(/Delete “trees”\?\s*No mask uses it\./);
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => page().getByTestId('category-row').count()).toBe(0);
    expect(await w.call('categories.list', {})).toEqual([]);
    expect(trees.id).toBeGreaterThan(0);
  });

  it('shows the CPU provider without "(fallback)" when no GPU provider is installed', async () => {
    await expect.poll(() => page().getByTestId('runtime').textContent()).toBe('EP: cpu');
  });

  it('"Choose folder…" in a browser says why it only focuses the path box', async () => {
    await page().getByRole('button', { name: 'Open folder…' }).click();
    await page().getByRole('button', { name: 'Choose folder…' }).click();
    await expect.poll(() => page().evaluate(() => document.activeElement?.id)).toBe('folder-path');
    expect(await page().getByTestId('picker-note').textContent()).toMatch(/browser cannot.*type the folder's path/i);
    await page().screenshot({ path: join(screenshotDir, 'open-folder-web.png') });
  });
});
