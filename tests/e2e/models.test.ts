// The model manager in Debian's Chromium against web mode: opened from the grid's toolbar, the model selector and
// the no-model note; a bad checkpoint is refused with the converter's words and leaves nothing; a tiny SD-layout
// checkpoint (built from the golden weights) is added as a job, listed with what it runs, size, dtype, provider and
// licence, verified, and removed after a confirmation. Every step is checked on disk and through the API too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { Backend } from '../../src/core/api/backend';
import { defaultModelDirs, listBundles } from '../../src/core/ml/bundle';
import { indexFolder } from '../../src/core/project';
import { startServer, type RunningServer } from '../../src/core/server/server';
import type { Job, MethodOutput } from '../../src/shared/contract';
import { hasChromium, launchChromium, screenshotDir } from '../helpers/browser';
import { tempDir } from '../helpers/folder';
import { buildLdmCheckpoint, golden } from '../ml/weights.helpers';
import { SCENE, sceneRgb } from './diffseg-scene';

const ui = join(__dirname, '..', '..', 'out', 'renderer');
const models = tempDir('difflabel-manager-models-');
process.env['DIFFLABEL_MODELS_DIR'] = models.path;
delete process.env['DIFFLABEL_DIFFSEG_MODEL'];
// A checkout with a converted bundle in resources/models has a model: the no-model note cannot be shown there.
const installed = listBundles(defaultModelDirs()).some((b) => b.ok);

describe.skipIf(!hasChromium || installed)('the model manager (Chromium, web mode)', () => {
  let dir: ReturnType<typeof tempDir>;
  let backend: Backend;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let sources: string;

  const api = <T,>(method: string, input: unknown) => backend.dispatch(method, input) as Promise<T>;
  const dialog = () => page.getByTestId('models-dialog');
  const rows = () => dialog().getByTestId('model-row');
  const row = (name: string) => rows().filter({ has: page.getByTestId('model-name').getByText(name, { exact: true }) });
  const jobsOf = async (kind: string) => (await api<Job[]>('jobs.list', {})).filter((j) => j.kind === kind);
  const shot = (name: string) => page.screenshot({ path: join(screenshotDir, `${name}.png`) });
  const canvas = () => page.getByTestId('canvas');

  beforeAll(async () => {
    if (!existsSync(join(ui, 'index.html'))) throw new Error('the UI is not built: npm test builds it (electron-vite build)');
    dir = tempDir();
    const folder = join(dir.path, 'scenes');
    mkdirSync(folder);
    await sharp(Buffer.from(sceneRgb()), { raw: { width: SCENE.width, height: SCENE.height, channels: 3 } }).png().toFile(join(folder, 'shapes.png'));
    // Web mode reads checkpoints only inside the project folder.
    sources = join(folder, 'sources');
    mkdirSync(join(sources, 'tokenizer'), { recursive: true });
    writeFileSync(join(sources, 'tiny-sd.safetensors'), buildLdmCheckpoint());
    copyFileSync(golden('tokenizer_F', 'bpe_simple_vocab_16e6.txt.gz'), join(sources, 'tokenizer', 'bpe_simple_vocab_16e6.txt.gz'));
    for (const [k, from] of [['unet', 'unet_A'], ['vae', 'vae_C'], ['text_encoder', 'clip_D']] as const) {
      mkdirSync(join(sources, 'configs', k), { recursive: true });
      copyFileSync(golden(from, 'config.json'), join(sources, 'configs', k, 'config.json'));
    }
    writeFileSync(join(sources, 'broken.ckpt'), 'this is not a checkpoint\n'.repeat(20));
    backend = new Backend({ shell: 'web' });
    backend.openProject(folder);
    await indexFolder(backend.project!);
    server = await startServer({ backend, port: 0, staticDir: ui });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await backend?.close();
    dir?.cleanup();
    models.cleanup();
  });

  it('opens from the grid toolbar: no model installed, the test fixture listed with what it runs', async () => {
    await page.goto(server.openUrl);
    await page.getByTestId('open-models').click();
    await expect.poll(() => dialog().count()).toBe(1);
    await expect.poll(() => rows().count()).toBe(1);
    expect(await dialog().getByTestId('models-none').textContent()).toMatch(/No model is installed/);
    const fixture = rows().first();
    expect(await fixture.getByTestId('model-name').textContent()).toContain('Test fixture');
    expect(await fixture.getByTestId('model-runs').textContent()).toMatch(/DiffSeg/);
    expect(await fixture.getByTestId('model-verify').count()).toBe(0);
    expect(await fixture.getByTestId('model-remove').count()).toBe(0);
  });

  it('a bad checkpoint: the converter says what is wrong, in the dialog, and nothing is left', async () => {
    await dialog().getByTestId('models-add').click();
    await dialog().getByTestId('add-source').fill(join(sources, 'broken.ckpt'));
    await dialog().getByTestId('add-run').click();
    await expect.poll(() => dialog().getByTestId('add-error').count(), { timeout: 30_000 }).toBe(1);
    expect(await dialog().getByTestId('add-error').textContent()).toMatch(/broken\.ckpt is not a readable PyTorch checkpoint/);
    expect(readdirSync(models.path).filter((n) => n !== '.verified.json')).toEqual([]);
    await shot('models-bad-checkpoint');
  });

  it('adds a checkpoint as a job with progress, then lists it with what it runs, size, dtype, provider, licence, verified', async () => {
    await dialog().getByTestId('add-source').fill(join(sources, 'tiny-sd.safetensors'));
    await dialog().getByTestId('add-tokenizer').fill(join(sources, 'tokenizer', 'bpe_simple_vocab_16e6.txt.gz'));
    await dialog().getByTestId('add-configs').fill(join(sources, 'configs'));
    await dialog().getByTestId('add-name').fill('tiny sd');
    await dialog().getByTestId('add-licence').fill('CreativeML Open RAIL-M');
    await dialog().getByTestId('add-run').click();
    // The job bar inside the dialog shows the conversion while it runs.
    await expect.poll(() => dialog().getByTestId('job').first().textContent(), { timeout: 20_000 }).toMatch(/Adding a model/);
    await shot('models-adding');
    await expect.poll(() => row('tiny sd').count(), { timeout: 120_000 }).toBe(1);
    const added = (await jobsOf('models.add')).find((j) => j.state !== 'failed'); // the first was the bad checkpoint
    expect(added).toMatchObject({ state: 'done', result: { name: 'tiny sd', dir: join(models.path, 'tiny-sd') } });
    expect(existsSync(join(models.path, 'tiny-sd', 'bundle.json'))).toBe(true);

    const info = (await api<MethodOutput<'models.list'>>('models.list', {})).find((m) => m.name === 'tiny sd')!;
    const r = row('tiny sd');
    expect(await r.getByTestId('model-runs').textContent()).toMatch(/DiffSeg ✓/);
    expect(await r.getByTestId('model-dtype').textContent()).toBe('float32');
    expect(await r.getByTestId('model-provider').textContent()).toBe(info.provider);
    expect(await r.getByTestId('model-licence').textContent()).toBe('CreativeML Open RAIL-M');
    expect(await r.getByTestId('model-size').textContent()).toBe(`${(info.bytes! / 1e6).toFixed(1)} MB`);
    expect(await r.getByTestId('model-verified').textContent()).toMatch(/^Verified/);
    expect(await dialog().getByTestId('models-none').count()).toBe(0);
    expect(await dialog().getByTestId('add-error').count()).toBe(0);
    await shot('models-added');
  });

  it('verifies it again as a job', async () => {
    await row('tiny sd').getByTestId('model-verify').click();
    await expect.poll(async () => (await jobsOf('models.verify')).map((j) => j.state).join(), { timeout: 60_000 }).toBe('done');
    await expect.poll(() => row('tiny sd').getByTestId('model-verified').textContent()).toMatch(/^Verified/);
    await expect.poll(() => row('tiny sd').getByTestId('model-verify').isEnabled()).toBe(true);
  });

  it('the model selector offers it, and opens the manager too', async () => {
    await dialog().getByTestId('models-close').click();
    await expect.poll(() => dialog().count()).toBe(0);
    const select = page.getByTestId('diffseg-model');
    expect(await select.locator('option').allTextContents()).toContain('tiny sd');
    await select.selectOption({ label: 'Manage models…' });
    await expect.poll(() => dialog().count()).toBe(1);
    expect(await select.inputValue()).toBe(''); // the choice stays what it was
  });

  it('removes it after a confirmation; a refusal keeps it', async () => {
    const r = row('tiny sd');
    await r.getByTestId('model-remove').click();
    // The confirmation is a row of its own, below the model's.
    expect(await dialog().getByTestId('remove-confirm').textContent()).toMatch(/deletes .*tiny-sd/);
    await shot('models-remove-confirm');
    await dialog().getByTestId('remove-keep').click();
    expect(await dialog().getByTestId('remove-confirm').count()).toBe(0);
    expect(existsSync(join(models.path, 'tiny-sd'))).toBe(true);
    await r.getByTestId('model-remove').click();
    await dialog().getByTestId('remove-yes').click();
    await expect.poll(() => row('tiny sd').count()).toBe(0);
    expect(existsSync(join(models.path, 'tiny-sd'))).toBe(false);
    expect((await api<MethodOutput<'models.list'>>('models.list', {})).filter((m) => !m.fixture)).toEqual([]);
    await dialog().getByTestId('models-close').click();
  });

  it('with no model, the click tool\'s note links to the manager and still offers the test fixture by name', async () => {
    await page.getByTestId('image-cell').dblclick();
    await expect.poll(() => canvas().getAttribute('data-ready'), { timeout: 20_000 }).toBe('true');
    await canvas().focus();
    await page.keyboard.press('c');
    const c = canvas();
    const [box, s, x, y] = await Promise.all([c.boundingBox(), c.getAttribute('data-scale'), c.getAttribute('data-x'), c.getAttribute('data-y')]);
    const [ix, iy] = SCENE.shapes[0]!.click;
    await page.mouse.click(box!.x + Number(x) + (ix + 0.5) * Number(s), box!.y + Number(y) + (iy + 0.5) * Number(s));
    const note = page.getByTestId('diffseg-error');
    await expect.poll(() => note.count(), { timeout: 30_000 }).toBe(1);
    expect(await note.textContent()).toContain('Test fixture (not a real segmenter)');
    expect(await note.getByRole('button', { name: 'Use the test fixture' }).count()).toBe(1);
    await shot('models-no-model-note');
    await note.getByTestId('diffseg-open-models').click();
    await expect.poll(() => dialog().count()).toBe(1);
    await shot('models-from-note');
  });
});
