// Moving through a folder from the keyboard in Chromium (web mode): every → counts, shortcuts come back after the
// search box or a select, broken images are skipped and explain themselves, D wraps around, Mark done warns about
// masks export would skip, and the strip's filter survives a reload. Results are read from the URL and the API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { encode, toCompressedString } from '../../src/shared/masks';
import { hasChromium, screenshotDir } from '../helpers/browser';
import { rectMask } from '../helpers/masks';
import { COUNT, fileName, startWorkplace, type Workplace } from './workplace';

describe.skipIf(!hasChromium)('keyboard navigation through a 50-image folder', () => {
  let w: Workplace;
  const page = () => w.page;
  const status = async (i: number) => (await w.call('images.get', { id: w.ids[i] })).status as string;
  const toast = () => page().getByRole('alert');
  const search = () => page().getByPlaceholder('Search path…');
  const focused = () => page().evaluate(() => document.activeElement?.tagName ?? '');

  beforeAll(async () => {
    w = await startWorkplace();
  });
  afterAll(async () => {
    await w?.close();
  });

  it('ten quick → presses move ten images, in order, and no further', async () => {
    await w.open(0);
    for (let i = 0; i < 10; i++) await page().keyboard.press('ArrowRight');
    await w.expectOpened(10);
    await page().waitForTimeout(500);
    expect(await w.opened()).toBe(10);
    for (let i = 0; i < 4; i++) await page().keyboard.press('ArrowLeft');
    await w.expectOpened(6);
  });

  it('Esc in the search box hands the keyboard back without clearing it; a select hands it back after a choice', async () => {
    await w.open(3);
    await search().fill('img00');
    await expect.poll(() => page().getByTestId('strip-row').count()).toBe(10);
    await search().press('Escape');
    expect(await focused()).not.toBe('INPUT');
    expect(await search().inputValue()).toBe('img00');
    await page().keyboard.press('ArrowRight');
    await w.expectOpened(4);

    await page().getByLabel('Status filter').selectOption('unlabeled');
    expect(await focused()).not.toBe('SELECT');
    await page().keyboard.press('ArrowRight');
    await w.expectOpened(5);

    // Esc in a select hands the keyboard back too.
    await page().getByLabel('Status filter').focus();
    await page().keyboard.press('Escape');
    expect(await focused()).not.toBe('SELECT');
    await page().keyboard.press('ArrowLeft');
    await w.expectOpened(4);

    await page().getByLabel('Status filter').selectOption('');
    await search().fill('');
    await search().press('Escape');
  });

  it('→ and ← skip broken images; opened from the strip, a broken image shows its recorded reason', async () => {
    await w.open(19);
    await page().keyboard.press('ArrowRight');
    await w.expectOpened(22);
    await page().keyboard.press('ArrowLeft');
    await w.expectOpened(19);

    const reason: string = (await w.call('images.get', { id: w.ids[20] })).error;
    expect(reason).toBeTruthy();
    await search().fill(fileName(20));
    await expect.poll(() => page().getByTestId('strip-row').count()).toBe(1);
    await page().getByTestId('strip-row').click();
    await w.expectOpened(20);
    await expect.poll(() => page().getByTestId('canvas-note').textContent()).toContain(reason);
    expect(await page().getByTestId('canvas-note').textContent()).not.toMatch(/cannot load the image/);
    expect(await page().getByTestId('mark-done').isDisabled()).toBe(true);
    await page().screenshot({ path: join(screenshotDir, 'navigation-broken.png') });
    await search().fill('');
    await search().press('Escape');
    // From the broken image, → goes on to the next readable one.
    await page().keyboard.press('ArrowRight');
    await w.expectOpened(22);

    // The grid opens it too, with the same reason.
    await page().getByTestId('back-to-grid').click();
    await page().locator('input.search').fill(fileName(20));
    await expect.poll(() => page().getByTestId('image-cell').count()).toBe(1);
    await page().getByTestId('image-cell').dblclick();
    await w.expectOpened(20);
    await expect.poll(() => page().getByTestId('canvas-note').textContent()).toContain(reason);
    await search().fill('');
  });

  it('→ stops at the last image; D there marks it done and wraps to the first, saying so', async () => {
    await w.open(COUNT - 1);
    await page().keyboard.press('ArrowRight');
    await expect.poll(() => toast().textContent()).toBe('This is the last image');
    expect(await w.opened()).toBe(COUNT - 1);

    await page().keyboard.press('d');
    await w.expectOpened(0);
    expect(await status(COUNT - 1)).toBe('done');
    await expect.poll(() => toast().textContent()).toMatch(/back to the first image/i);
    await page().screenshot({ path: join(screenshotDir, 'navigation-wrapped.png') });
  });

  it('in the Unlabeled filter, D on the last one wraps to the first still unlabeled; with none left it says so', async () => {
    await w.open(0);
    await page().getByLabel('Status filter').selectOption('unlabeled');
    await search().fill(fileName(48));
    await expect.poll(() => page().getByTestId('strip-row').count()).toBe(1);
    await page().getByTestId('strip-row').click();
    await w.expectOpened(48);
    await search().fill('');
    await search().press('Escape');
    await page().keyboard.press('d');
    await w.expectOpened(0);
    expect(await status(48)).toBe('done');
    await expect.poll(() => toast().textContent()).toMatch(/back to the first image/i);

    // Only img000 left unlabeled in the filter with the search: marking it leaves nothing to go to.
    await search().fill('img00');
    for (const i of [1, 2, 3, 4, 5, 6, 7, 8, 9]) await w.call('images.setStatus', { id: w.ids[i], status: 'done' });
    await search().press('Escape');
    await page().keyboard.press('d');
    await expect.poll(() => toast().textContent()).toMatch(/every image in this filter is done/i);
    expect(await status(0)).toBe('done');
    expect(await w.opened()).toBe(0);
    for (const i of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 48, 49]) await w.call('images.setStatus', { id: w.ids[i], status: 'unlabeled' });
    await page().getByLabel('Status filter').selectOption('');
    await search().fill('');
    await search().press('Escape');
  });

  it('Mark done on an image with unassigned masks marks it and says export leaves them out', async () => {
    const mask = { size: [36, 48], counts: toCompressedString(encode(rectMask(36, 48, 2, 2, 12, 12), 36, 48)) };
    await w.call('annotations.add', { imageId: w.ids[30], categoryId: null, mask });
    await w.call('annotations.add', { imageId: w.ids[30], categoryId: null, mask: { ...mask, counts: toCompressedString(encode(rectMask(36, 48, 20, 20, 30, 30), 36, 48)) } });
    await w.open(30);
    await expect.poll(() => page().getByTestId('annotation-row').count()).toBe(2);
    await page().keyboard.press('d');
    await w.expectOpened(31);
    expect(await status(30)).toBe('done');
    await expect.poll(() => toast().textContent()).toMatch(/2 masks have no category.*export leaves them out/);
    await page().screenshot({ path: join(screenshotDir, 'navigation-unassigned.png') });
  });

  it('keeps the strip\'s status filter and search across a reload', async () => {
    await w.call('images.setStatus', { id: w.ids[40], status: 'done' });
    await w.open(40);
    await page().getByLabel('Status filter').selectOption('done');
    await search().fill('img04');
    await expect.poll(() => page().getByTestId('strip-row').count()).toBe(1);
    await page().reload();
    await page().getByTestId('image-strip').waitFor();
    expect(await page().getByLabel('Status filter').inputValue()).toBe('done');
    expect(await search().inputValue()).toBe('img04');
    await expect.poll(() => page().getByTestId('strip-row').getAttribute('title')).toBe(fileName(40));
    expect(await page().getByTestId('strip-row').count()).toBe(1);
  });
});
