// Attributes in the side panel, in Debian's Chromium against web mode: a labeler defines a category's attributes,
// sets them on the selected mask (checkbox, text box, select), and finds them in the COCO file the app exports.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { Backend } from '../../src/core/api/backend';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { indexFolder } from '../../src/core/project';
import { encode, toCocoRle } from '../../src/shared/masks';
import type { Annotation } from '../../src/shared/contract';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';

const ui = join(__dirname, '..', '..', 'out', 'renderer');
const W = 160, H = 120;

describe.skipIf(!hasChromium)('attributes in the side panel (web mode)', () => {
  let dir: ReturnType<typeof tempDir>;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let imageId: number;
  let maskId: number;
  const api = <T,>(method: string, input: unknown) => backend.dispatch(method, input) as Promise<T>;
  const attributes = async () => (await api<Annotation[]>('annotations.list', { imageId })).find((a) => a.id === maskId)!.attributes;
  const shot = (name: string) => page.screenshot({ path: join(screenshotDir, `attributes-${name}.png`) });

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    await sharp({ create: { width: W, height: H, channels: 3, background: { r: 40, g: 70, b: 120 } } }).png().toFile(join(dir.path, 'street.png'));
    backend = new Backend({ shell: 'web' });
    backend.openProject(dir.path);
    await indexFolder(backend.project!);
    imageId = (await api<{ items: { id: number }[] }>('images.list', {})).items[0]!.id;
    const car = await api<{ id: number }>('categories.add', { name: 'car' });
    const mask = toCocoRle(encode(rectMask(H, W, 20, 20, 90, 70), H, W), false);
    maskId = (await api<Annotation>('annotations.add', { imageId, categoryId: car.id, mask })).id;
    server = await startServer({ backend, port: 0, staticDir: ui });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await backend?.close();
    dir?.cleanup();
  });

  it('defines attributes for a category, sets them on a mask, and exports them as COCO attributes', async () => {
    await page.goto(server.openUrl);
    await page.getByTestId('image-cell').dblclick();
    await expect.poll(() => page.getByTestId('category-row').count(), { timeout: 20_000 }).toBe(1);

    // The category editor: car is the current category.
    const defs = page.getByTestId('attribute-defs');
    await defs.locator('summary').click();
    await expect.poll(() => defs.evaluate((d) => (d as HTMLDetailsElement).open)).toBe(true);
    const define = async (name: string, type: string, options?: string) => {
      await defs.getByLabel('Attribute name').fill(name);
      await defs.getByLabel('Attribute type').selectOption(type);
      if (options) await defs.getByLabel('Attribute options').fill(options);
      await defs.getByRole('button', { name: 'Add' }).click();
    };
    await define('occluded', 'boolean');
    await define('note', 'text');
    await define('view', 'select', 'front, side');
    await expect.poll(() => defs.getByTestId('attribute-def').count()).toBe(3);
    expect((await api<{ name: string; type: string; options: string[] }[]>('attributes.list', {})).map((d) => [d.name, d.type, d.options]))
      .toEqual([['occluded', 'boolean', []], ['note', 'text', []], ['view', 'select', ['front', 'side']]]);

    // No mask selected: no attribute editor. Selecting the mask shows its values (the defaults).
    expect(await page.getByTestId('attributes').count()).toBe(0);
    await page.getByTestId('annotation-row').click();
    const panel = page.getByTestId('attributes');
    await expect.poll(() => panel.count()).toBe(1);
    expect(await panel.getByLabel('occluded').isChecked()).toBe(false);
    expect(await panel.getByLabel('view').inputValue()).toBe('front');

    await panel.getByLabel('occluded').check();
    await panel.getByLabel('note').fill('dented door');
    await panel.getByLabel('note').press('Enter');
    await panel.getByLabel('view').selectOption('side');
    await expect.poll(attributes, { timeout: 10_000 }).toEqual({ occluded: true, note: 'dented door', view: 'side' });
    expect(await api<{ undoLabel: string }>('history.state', { imageId })).toMatchObject({ undoLabel: 'attributes' });
    await shot('set');

    await page.getByTestId('open-export').click();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-run').click()]);
    const file = join(dir.path, 'export.json');
    await download.saveAs(file);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    expect(doc.annotations).toHaveLength(1);
    expect(doc.annotations[0].attributes).toEqual({ occluded: true, note: 'dented door', view: 'side' });
    await page.getByTestId('export-dialog').getByRole('button', { name: 'Close' }).click();
  });

  it('another category keeps the values it defines and says which went', async () => {
    const person = await api<{ id: number }>('categories.add', { name: 'person' });
    await api('attributes.define', { categoryId: person.id, name: 'occluded', type: 'boolean' });
    await expect.poll(() => page.getByTestId('category-row').count()).toBe(2);
    await page.getByTestId('annotation-row').getByLabel('Category').selectOption({ label: 'person' });
    await expect.poll(() => page.locator('.toast').textContent()).toBe('Attribute values dropped (the new category does not define them): note, view');
    await expect.poll(attributes).toEqual({ occluded: true });
    const panel = page.getByTestId('attributes');
    await expect.poll(() => panel.locator('label').count()).toBe(1);
    expect(await panel.getByLabel('occluded').isChecked()).toBe(true);
    await shot('category-changed');
  });

  it('deletes a definition after asking, with its values', async () => {
    const defs = page.getByTestId('attribute-defs');
    await defs.getByLabel('Delete attribute view').click();
    await expect.poll(() => page.getByTestId('attribute-delete').textContent()).toContain('Delete the attribute “view” of car?');
    await shot('delete-attribute');
    await page.getByTestId('attribute-delete').getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => defs.getByTestId('attribute-def').count()).toBe(2);
    expect((await api<{ name: string }[]>('attributes.list', {})).map((d) => d.name)).toEqual(['occluded', 'note', 'occluded']);
  });
});
