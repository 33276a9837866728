// `npm run bench -- canvas [--masks N] [--seconds S] [--screenshot FILE]`: the annotation canvas in headless Chromium (software
// rendering) on an 8000×6000 image with 1,000 masks (default). For S seconds (default 5) the page pans and
// zooms every frame (between "fit" and 1:1, the range a labeler uses) and collects requestAnimationFrame
// deltas; then the same path again with the masks hidden (baseline: image pyramid only). Reports median
// and 95th percentile frame times, the draw cost split into image and masks, and the one-off load costs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { chromium } from 'playwright-core';
import { Backend } from '../src/core/api/backend';
import { startServer } from '../src/core/server/server';
import { indexFolder } from '../src/core/project';
import { area, bbox, toCompressedString } from '../src/shared/masks';
import { encodeCrop } from '../src/shared/masks/crop';

const { values } = parseArgs({ options: { masks: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '5' }, screenshot: { type: 'string' } } });
const N = Number(values.masks);
const SECONDS = Number(values.seconds);
const W = 8000, H = 6000;
const root = fileURLToPath(new URL('..', import.meta.url));
const ui = join(root, 'out', 'renderer');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

if (!existsSync(CHROMIUM)) {
  console.error(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  process.exit(2);
}
if (!existsSync(join(ui, 'index.html'))) {
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
}

/** A textured photo stand-in (smooth gradients plus a grid), so the image is not one flat colour. */
async function writeBigImage(file: string): Promise<void> {
  const px = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0, i = y * W * 3; x < W; x++, i += 3) {
      const g = (x % 400 < 4 || y % 400 < 4) ? 60 : 0;
      px[i] = (x * 255) / W;
      px[i + 1] = (y * 200) / H - g / 2 + 30;
      px[i + 2] = 128 + 100 * Math.sin(x / 300) * Math.cos(y / 250) + g;
    }
  await sharp(px, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 85 }).toFile(file);
}

/** Blob masks (ellipses with a wavy rim, some with a hole), encoded from their bounding box only. */
function blob(i: number) {
  let s = (i + 1) * 2654435761;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const rx = 30 + rnd() * 150, ry = 30 + rnd() * 150;
  const cx = rx + rnd() * (W - 2 * rx), cy = ry + rnd() * (H - 2 * ry);
  const x0 = Math.floor(cx - rx), y0 = Math.floor(cy - ry);
  const cw = Math.ceil(2 * rx) + 1, ch = Math.ceil(2 * ry) + 1;
  const grid = new Uint8Array(cw * ch);
  const hole = i % 4 === 0;
  for (let y = 0; y < ch; y++)
    for (let x = 0; x < cw; x++) {
      const dx = (x0 + x + 0.5 - cx) / rx, dy = (y0 + y + 0.5 - cy) / ry;
      const d = dx * dx + dy * dy, a = Math.atan2(dy, dx);
      if (d <= 0.85 + 0.15 * Math.sin(6 * a + i) && !(hole && d < 0.08)) grid[y * cw + x] = 1;
    }
  const rle = encodeCrop({ grid, W: cw, H: ch, x0, y0, pad: 0 }, H, W);
  return { rle: toCompressedString(rle), area: area(rle), bbox: bbox(rle) };
}

interface RunResult {
  deltas: number[];
  imageMs: number[];
  masksMs: number[];
  fitScale: number;
}

/**
 * Runs in the page (a string, so the bundler's helpers do not leak into it): pans and zooms along a fixed
 * path for `seconds`, one view per frame, and returns the rAF deltas and the draw costs of each frame.
 */
const PAN_ZOOM = `async (seconds) => {
  const hook = window.__difflabelCanvas;
  hook.fit();
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const fit = hook.getView();
  const box = document.querySelector('[data-testid="canvas"]').getBoundingClientRect();
  const deltas = [], imageMs = [], masksMs = [];
  const start = performance.now();
  let last = start;
  await new Promise((done) => {
    const frame = (now) => {
      deltas.push(now - last);
      last = now;
      const st = hook.drawStats();
      imageMs.push(st.imageMs);
      masksMs.push(st.masksMs);
      const t = (now - start) / 1000;
      if (t >= seconds) return done();
      // Zoom between fit and 1:1 (2.5 s period) around a point that wanders over the image.
      const k = (1 - Math.cos((2 * Math.PI * t) / 2.5)) / 2;
      const scale = fit.scale * Math.pow(1 / fit.scale, k);
      const ix = 4000 + 2500 * Math.sin(t * 0.9), iy = 3000 + 1800 * Math.cos(t * 0.7);
      hook.setView({ scale, x: box.width / 2 - ix * scale, y: box.height / 2 - iy * scale });
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
  deltas.shift(); // the first delta measures the wait before the loop
  return { deltas, imageMs, masksMs, fitScale: fit.scale };
}`;

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))]! : NaN;
};
const r1 = (x: number) => Math.round(x * 10) / 10;

const dir = mkdtempSync(join(tmpdir(), 'difflabel-bench-canvas-'));
const backend = new Backend({ shell: 'web' });
try {
  const t0 = performance.now();
  await writeBigImage(join(dir, 'big.jpg'));
  backend.openProject(dir);
  const store = backend.project!;
  await indexFolder(store);
  const img = store.listImages({ offset: 0, limit: 1 })[0]!;
  const cats = Array.from({ length: 10 }, (_, i) => store.addCategory({ name: `class${i}`, color: `#${((i * 0x3f5a17 + 0x40a0e0) & 0xffffff).toString(16).padStart(6, '0')}` }));
  store.addAnnotations(
    Array.from({ length: N }, (_, i) => ({ imageId: img.id, categoryId: i % 11 === 10 ? null : cats[i % 10]!.id, height: H, width: W, source: 'bench', ...blob(i) })),
  );
  const setupMs = performance.now() - t0;

  const server = await startServer({ backend, port: 0, staticDir: ui });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const tNav = performance.now();
    await page.goto(`${server.openUrl}#/image/${img.id}`);
    await page.waitForSelector(`[data-testid="canvas"][data-ready="true"][data-masks="${N}"]`, { timeout: 120_000 });
    // Let the first draw (which builds the overview of all masks) happen.
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
    const loadMs = performance.now() - tNav;
    const load = (await page.evaluate('window.__difflabelCanvas.drawStats()')) as { setMasksMs: number };
    if (values.screenshot) await page.screenshot({ path: values.screenshot });

    /** Pans and zooms along a fixed path for `seconds`, one view per frame; returns rAF deltas and draw costs. */
    const run = (seconds: number) => page.evaluate(`(${PAN_ZOOM})(${seconds})`) as Promise<RunResult>;

    const summary = (r: RunResult) => ({
      frames: r.deltas.length,
      medianMs: r1(quantile(r.deltas, 0.5)),
      p95Ms: r1(quantile(r.deltas, 0.95)),
      maxMs: r1(Math.max(...r.deltas)),
      drawImageMedianMs: r1(quantile(r.imageMs, 0.5)),
      drawMasksMedianMs: r1(quantile(r.masksMs, 0.5)),
      drawMasksP95Ms: r1(quantile(r.masksMs, 0.95)),
    });

    const withMasks = await run(SECONDS);
    await page.keyboard.press('h'); // hide all masks: the baseline draws the image pyramid only
    await page.waitForSelector('[data-testid="canvas"]');
    const hidden = await run(SECONDS);
    await page.keyboard.press('h');
    const again = await run(SECONDS); // sprites built during the first run are cached now

    console.log(
      JSON.stringify(
        {
          bench: 'canvas',
          image: [W, H],
          masks: N,
          seconds: SECONDS,
          viewport: [1280, 800],
          zoomRange: [r1(withMasks.fitScale * 1000) / 1000, 1],
          panZoomWithMasks: summary(withMasks),
          panZoomWithMasksWarm: summary(again),
          baselineMasksHidden: summary(hidden),
          load: { pageToFirstDrawMs: Math.round(loadMs), buildMaskSpritesMs: Math.round(load.setMasksMs) },
          setupMs: Math.round(setupMs),
          renderer: 'headless Chromium, --disable-gpu (software canvas)',
          machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, memGB: Math.round(os.totalmem() / 2 ** 30), node: process.version, chromium: browser.version() },
        },
        null,
        2,
      ),
    );
  } finally {
    await browser.close();
    await server.close();
  }
} finally {
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
}
