// `npm run bench -- livemask [--ui DIR] [--answers N] [--screenshot FILE]`: what the click tool's live mask costs the renderer on a 24 MP
// image (6000×4000, the DiffSeg browser test's scene scaled up), in headless Chromium (software canvas) against web
// mode with the fixture model. Per answer of `pipelines.preview`: from the moment its JSON is parsed in the page to the
// end of the frame that draws it (React render, RLE decode, the overlay's bitmap and outline, the canvas draw), next
// to the back end's own time for the answer. The first click (which runs the model) is not counted. `--ui` points at
// another build of the renderer (e.g. an older commit's out/renderer), for a before/after on the same machine.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { chromium } from 'playwright-core';
import { Backend } from '../src/core/api/backend';
import { startServer } from '../src/core/server/server';
import { indexFolder } from '../src/core/project';
import { SCENE, sceneRgb } from '../tests/e2e/diffseg-scene';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { ui: { type: 'string', default: join(root, 'out', 'renderer') }, answers: { type: 'string', default: '8' }, screenshot: { type: 'string' } } });
const ui = values.ui!;
const ANSWERS = Number(values.answers);
const W = 6000, H = 4000;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

if (!existsSync(CHROMIUM)) {
  console.error(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  process.exit(2);
}
if (!existsSync(join(ui, 'index.html'))) {
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
}

/**
 * In the page before the app loads: the time each click answer (not a hover's) is parsed, and a wait for the frame
 * that draws it: the canvas's data-click-status turns idle when React commits it, then one animation frame (Konva's draw)
 * and a task after it (the frame done).
 */
const INIT = `(() => {
  window.__answers = 0;
  const fetch0 = window.fetch;
  window.fetch = async (url, init) => {
    const res = await fetch0(url, init);
    if (!String(url).endsWith('/api/pipelines.preview') || String(init && init.body).includes('cachedOnly')) return res;
    const json0 = res.json.bind(res);
    res.json = async () => {
      const v = await json0();
      window.__answerAt = performance.now();
      window.__answerMs = v.result && v.result.ms;
      window.__answers++;
      return v;
    };
    return res;
  };
  window.__drawn = (n0) => new Promise((done) => {
    const c = document.querySelector('[data-testid="canvas"]');
    const after = () => requestAnimationFrame(() => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => done({ clientMs: performance.now() - window.__answerAt, serverMs: window.__answerMs });
      ch.port2.postMessage(0);
    });
    const o = new MutationObserver(() => {
      if (window.__answers <= n0 || c.getAttribute('data-click-status') !== 'idle') return;
      o.disconnect();
      after();
    });
    o.observe(c, { attributes: true });
  });
})()`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const r1 = (x: number) => Math.round(x * 10) / 10;

const dir = mkdtempSync(join(tmpdir(), 'difflabel-bench-livemask-'));
const folder = join(dir, 'photos');
mkdirSync(folder);
const backend = new Backend({ shell: 'web' });
try {
  await sharp(Buffer.from(sceneRgb()), { raw: { width: SCENE.width, height: SCENE.height, channels: 3 } })
    .resize(W, H, { kernel: 'nearest', fit: 'fill' })
    .png({ compressionLevel: 1 })
    .toFile(join(folder, 'big.png'));
  backend.openProject(folder);
  await indexFolder(backend.project!);
  const img = backend.project!.listImages({ offset: 0, limit: 1 })[0]!;
  const server = await startServer({ backend, port: 0, staticDir: ui });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.addInitScript(INIT);
    await page.addInitScript(`localStorage.setItem('difflabel.diffsegModel', 'fixture'); localStorage.setItem('difflabel.hoverPreview', 'off')`);
    await page.goto(`${server.openUrl}#/image/${img.id}`);
    const canvas = page.getByTestId('canvas');
    await page.waitForSelector('[data-testid="canvas"][data-ready="true"]', { timeout: 120_000 });
    await canvas.focus();
    await page.keyboard.press('c');
    await page.waitForSelector('[data-testid="canvas"][data-tool="click"]');
    const at = async (i: number) => {
      const [box, s, x, y] = await Promise.all([canvas.boundingBox(), canvas.getAttribute('data-scale'), canvas.getAttribute('data-x'), canvas.getAttribute('data-y')]);
      const [ix, iy] = SCENE.shapes[i]!.click;
      return { x: box!.x + Number(x) + ((ix + 0.5) * W / SCENE.width) * Number(s), y: box!.y + Number(y) + ((iy + 0.5) * H / SCENE.height) * Number(s) };
    };
    /** One change of the points (a click or a key), and what its answer cost to show. */
    const step = async (act: () => Promise<void>) => {
      const n0 = (await page.evaluate('window.__answers')) as number;
      const drawn = page.evaluate(`window.__drawn(${n0})`) as Promise<{ clientMs: number; serverMs: number }>;
      await act();
      return drawn;
    };
    const click = (i: number, button: 'left' | 'right' = 'left') => async () => {
      const p = await at(i);
      await page.mouse.click(p.x, p.y, { button });
    };
    await step(click(0)); // runs the model: not counted
    const back = async () => page.keyboard.press('Backspace');
    // Points: 0 1 / 0 1 3 / 0 1 3 2 / 0 1 3 2 −0 / 0 1 3 2 / 0 1 3 / 0 1 / 0 1 3: every step a new answer.
    const plan = [click(1), click(3), click(2), click(0, 'right'), back, back, back, click(3)];
    const answers: { clientMs: number; overlayMs: number | null; serverMs: number; area: number }[] = [];
    for (let i = 0; i < ANSWERS; i++) {
      const r = await step(plan[i % plan.length]!);
      // Of which building the overlay (decode to cells, bitmap, outline): the canvas reports it where it can.
      const overlayMs = (await page.evaluate('window.__difflabelCanvas.liveStats?.().buildMs ?? null')) as number | null;
      answers.push({ clientMs: r1(r.clientMs), overlayMs: overlayMs === null ? null : r1(overlayMs), serverMs: r1(r.serverMs), area: Number(await canvas.getAttribute('data-click-area')) });
    }
    if (values.screenshot) await page.screenshot({ path: values.screenshot });
    console.log(
      JSON.stringify(
        {
          bench: 'livemask',
          image: [W, H],
          ui,
          answers,
          clientMedianMs: r1(median(answers.map((a) => a.clientMs))),
          overlayMedianMs: answers[0]!.overlayMs === null ? null : r1(median(answers.map((a) => a.overlayMs!))),
          serverMedianMs: r1(median(answers.map((a) => a.serverMs))),
          renderer: 'headless Chromium, --disable-gpu (software canvas)',
          machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadavg: os.loadavg().map((v) => +v.toFixed(2)), node: process.version, chromium: browser.version() },
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
