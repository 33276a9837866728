import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { Backend } from '../../src/core/api/backend';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { CONTENT_SECURITY_POLICY } from '../../src/shared/csp';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { makeImageFolder, tempDir } from '../helpers/folder';

const ui = join(__dirname, '..', '..', 'out', 'renderer');

describe.skipIf(!hasChromium)('web UI in Chromium: open a folder, browse its images', () => {
  let dir: ReturnType<typeof tempDir>;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    await makeImageFolder(join(dir.path, 'photos'), 60, (i) => [64 + (i % 5) * 8, 48]);
    writeFileSync(join(dir.path, 'photos', 'broken.jpg'), 'not an image');
    backend = new Backend({ shell: 'web' });
    server = await startServer({ backend, port: 0, staticDir: ui });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await backend?.close();
    dir?.cleanup();
  });

  it('refuses the page without the token', async () => {
    const r = await page.goto(server.url);
    expect(r?.status()).toBe(401);
  });

  it('gets its Content-Security-Policy as a response header only: no <meta> copy, no CSP message in the console', async () => {
    const fresh = await browser.newPage();
    const messages: string[] = [];
    fresh.on('console', (m) => messages.push(`${m.type()}: ${m.text()}`));
    try {
      const res = await fresh.goto(server.openUrl);
      expect(res?.headers()['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
      await fresh.getByRole('button', { name: 'Choose folder…' }).waitFor();
      expect(messages.filter((m) => /content.security.policy|frame-ancestors/i.test(m))).toEqual([]);
      expect(await fresh.locator('meta[http-equiv="Content-Security-Policy" i]').count()).toBe(0);
    } finally {
      await fresh.close();
    }
  });

  it('opens a typed folder, indexes it, and shows a virtualised grid with status counts', async () => {
    await page.goto(server.openUrl);
    await page.getByRole('button', { name: 'Choose folder…' }).click(); // no native dialog in a browser: focuses the path field
    await page.locator('#folder-path').fill(join(dir.path, 'photos'));
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent(), { timeout: 20_000 }).toBe('60');
    expect(await page.getByTestId('count-error').textContent()).toBe('1');
    // Only the visible rows (plus a margin) are in the DOM, and their thumbnails load.
    const cells = await page.getByTestId('image-cell').count();
    expect(cells).toBeGreaterThan(10);
    expect(cells).toBeLessThan(61);
    await expect
      .poll(() => page.locator('.thumb img').evaluateAll((imgs) => imgs.filter((i) => (i as HTMLImageElement).naturalWidth > 0).length))
      .toBeGreaterThan(10);
    await page.screenshot({ path: join(screenshotDir, 'grid.png') });

    await page.getByRole('button', { name: /Error/ }).click();
    await expect.poll(() => page.getByTestId('image-cell').count()).toBe(1);
    expect(await page.locator('.broken').textContent()).toMatch(/not an image|unsupported|⚠/);
    await page.screenshot({ path: join(screenshotDir, 'grid-errors.png') });

    await page.getByRole('button', { name: /^All/ }).click();
    await page.getByPlaceholder('Search path…').fill('img05');
    await expect.poll(() => page.getByTestId('image-cell').count()).toBe(10);
  });
});
