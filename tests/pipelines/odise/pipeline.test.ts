// The ODISE pipeline end to end on a bundle converted from tiny files (random heads over the tiny SD and CLIP parts):
// a vocabulary run gives proposals at the image's size, no pixel in two of them, each named by a vocabulary entry;
// progress per window and cancel between windows; the proposals stored by a run are offered in the project's
// category named by their entry's first synonym.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../../src/core/ml/bundle';
import { convertOdise } from '../../../src/core/ml/bundle/odise';
import { resizeBilinear } from '../../../src/core/ml/models/pilResample';
import { SessionManager } from '../../../src/core/ml/runtime';
import { indexFolder, ProjectStore } from '../../../src/core/project';
import { odise } from '../../../src/core/pipelines/odise/definition';
import { shortestEdgeSize } from '../../../src/core/pipelines/odise/segment';
import { runBatch } from '../../../src/core/pipelines/run';
import type { ImageInput, PipelineSession, Proposal } from '../../../src/core/pipelines/types';
import type { ImageRow } from '../../../src/core/project';
import { decode } from '../../../src/shared/masks';
import { synonymsOf } from '../../../src/shared/vocabulary';
import { tempDir, writeImage } from '../../helpers/folder';
import { TINY_CONFIGS, tinyOdiseFiles } from '../../ml/odise.helpers';

const tmp = tempDir('odise-pipeline-');
/** The graphs whose sessions were loaded as each graph's run began (a graph named by its key's last part). */
const loadedAtRun: { graph: string; loaded: string[] }[] = [];
const graphOf = (key: string) => key.slice(key.lastIndexOf(':') + 1);
const loadedGraphs = async (h: SessionManager) => (await h.sessions()).filter((s) => s.loaded).map((s) => graphOf(s.key));
class RecordingHost extends SessionManager {
  override async run(...args: Parameters<SessionManager['run']>) {
    loadedAtRun.push({ graph: graphOf(args[0]), loaded: await loadedGraphs(this) });
    return super.run(...args);
  }
}
const host = new RecordingHost();
let session: PipelineSession;
let bundleDir: string;
const W = 150, H = 100;
/** A left-to-right gradient with a bright square: not uniform, so windows differ. */
const rgb = (() => {
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const inSquare = x > 90 && x < 130 && y > 20 && y < 60;
      data.set(inSquare ? [250, 240, 30] : [Math.round((x / W) * 200), 60, 180 - Math.round((y / H) * 150)], (y * W + x) * 3);
    }
  return { data, width: W, height: H };
})();
const input: ImageInput = { row: { id: 1, path: 'scene.png', width: W, height: H } as ImageRow, rgb: async () => rgb };
const NAMES = ['red', 'car, automobile', 'sky'];
const FIRST = NAMES.map((n) => synonymsOf(n)[0]!);

beforeAll(async () => {
  const files = join(tmp.path, 'files');
  mkdirSync(files);
  bundleDir = join(tmp.path, 'models', 'odise-tiny');
  // short side 128: the 150×100 image becomes 192×128, padded as it is (multiples of 64), 3×2 windows of 64²
  await convertOdise(tinyOdiseFiles(files), bundleDir, { configs: TINY_CONFIGS, shortSide: 128 });
  session = await odise.open({ bundle: { dir: bundleDir, manifest: readManifest(bundleDir) }, host, cache: null });
}, 120_000);
afterAll(async () => {
  await session?.dispose();
  await host.dispose();
  tmp.cleanup();
});

describe('ODISE pipeline', () => {
  it('detectron2 resizes the short side to 1024, the long side at most 2560, rounding half up', () => {
    expect(shortestEdgeSize(3024, 4032, 1024, 2560)).toEqual([1024, 1365]);
    expect(shortestEdgeSize(100, 150, 128, 2560)).toEqual([128, 192]);
    expect(shortestEdgeSize(100, 1000, 1024, 2560)).toEqual([256, 2560]);
  });

  it("Pillow's bilinear widens its triangle when shrinking (4 → 2: weights 3/7, 3/7, 1/7 and 1/7, 3/7, 3/7)", () => {
    const img = { data: Uint8Array.of(0, 100, 200, 255), width: 4, height: 1, channels: 1 as const };
    expect(Array.from(resizeBilinear(img, 2, 1).data)).toEqual([71, 209]); // 500/7 and 1465/7
  });

  let proposals: Proposal[] = [];
  const progress: { fraction: number; message?: string }[] = [];
  it('labels the image from the vocabulary: masks at the image size, no pixel in two, each named by an entry, progress per window', async () => {
    proposals = await session.run(input, {}, { kind: 'vocabulary', names: NAMES }, { priority: 'batch', onProgress: (p) => progress.push(p) });
    expect(proposals.length).toBeGreaterThan(0);
    const cover = new Uint8Array(W * H);
    for (const p of proposals) {
      expect([p.mask.h, p.mask.w]).toEqual([H, W]);
      expect(FIRST).toContain(p.category?.name);
      expect(p.category?.isThing).toBe(true);
      expect(p.score).toBeGreaterThan(0);
      expect(p.score).toBeLessThanOrEqual(1);
      const m = decode(p.mask);
      let n = 0;
      for (let i = 0; i < m.length; i++) if (m[i]) (cover[i]!++, n++);
      expect(n).toBeGreaterThan(0);
    }
    expect(Math.max(...cover)).toBe(1);
    expect(progress.map((p) => p.message)).toEqual(['window 1/6', 'window 2/6', 'window 3/6', 'window 4/6', 'window 5/6', 'window 6/6', 'classified']);
    expect(progress.at(-1)!.fraction).toBe(1);
  }, 120_000);

  it('the same image and vocabulary give the same proposals (the noise is fixed)', async () => {
    const again = await session.run(input, {}, { kind: 'vocabulary', names: NAMES }, { priority: 'batch' });
    expect(again.map((p) => [p.category, p.score, Array.from(p.mask.counts)])).toEqual(proposals.map((p) => [p.category, p.score, Array.from(p.mask.counts)]));
  }, 120_000);

  it("weighs a class the label model was trained on (a synonym in the bundle's training labels) with α, the others with β", async () => {
    const withLabels = async (trainingVocabulary: string[][]) => {
      const dir = join(tmp.path, 'models', `trained-${trainingVocabulary.flat().join('-')}`);
      cpSync(bundleDir, dir, { recursive: true });
      const manifest = JSON.parse(readFileSync(join(dir, 'bundle.json'), 'utf8'));
      writeFileSync(join(dir, 'bundle.json'), JSON.stringify({ ...manifest, odise: { ...manifest.odise, trainingVocabulary } }));
      const s = await odise.open({ bundle: { dir, manifest: readManifest(dir) }, host, cache: null });
      try {
        return await s.run(input, {}, { kind: 'vocabulary', names: NAMES }, { priority: 'batch' });
      } finally {
        await s.dispose();
      }
    };
    const key = (ps: Proposal[]) => ps.map((p) => [p.category?.name, p.score, Array.from(p.mask.counts)]);
    // no synonym in common: every class is still new, the proposals are the same
    expect(key(await withLabels([['person', 'people'], ['road']]))).toEqual(key(proposals));
    // "automobile" (a synonym of the second class) was trained on: the ensemble weighs that class differently
    expect(key(await withLabels([['person'], ['automobile', 'truck']]))).not.toEqual(key(proposals));
  }, 240_000);

  it("holds one stage's sessions at a time: the window graphs go before the heads, each head before the next graph, all after the image", async () => {
    loadedAtRun.length = 0;
    await session.run(input, {}, { kind: 'vocabulary', names: NAMES }, { priority: 'batch' });
    const at = (graph: string) => loadedAtRun.filter((r) => r.graph === graph).map((r) => r.loaded.sort());
    // the captioner on every window first, alone; then the other three, kept from one window to the next: reloading
    // them per window would cost their load time six times
    expect(at('odise_captioner')).toEqual([[], ...Array(5).fill(['odise_captioner'])]);
    expect(at('odise_vae')).toEqual([[], ...Array(5).fill(['odise_projection', 'odise_vae', 'unet_odise'])]);
    expect(at('pixel_decoder')).toEqual([[]]);
    expect(at('transformer_decoder')).toEqual([[]]);
    expect(at('mask_clip')).toEqual([[]]);
    expect(at('text_encoder')).toEqual([[], ['text_encoder']]); // the names, then "a photo of a {}."
    expect(await loadedGraphs(host)).toEqual([]);
  }, 120_000);

  it('releases the window graphs of a cancelled run', async () => {
    const ac = new AbortController();
    const run = session.run(input, {}, { kind: 'vocabulary', names: NAMES }, { priority: 'batch', signal: ac.signal, onProgress: () => ac.abort() });
    await expect(run).rejects.toMatchObject({ name: 'RunCancelledError' });
    expect(await loadedGraphs(host)).toEqual([]);
  }, 120_000);

  it('stops between windows when cancelled', async () => {
    const ac = new AbortController();
    const seen: string[] = [];
    const run = session.run(input, {}, { kind: 'vocabulary', names: NAMES }, {
      priority: 'batch', signal: ac.signal, onProgress: (p) => (seen.push(p.message!), ac.abort()),
    });
    // the next window's first graph is refused by the inference host: no second window runs
    await expect(run).rejects.toMatchObject({ name: 'RunCancelledError' });
    expect(seen).toEqual(['window 1/6']);
  }, 120_000);

  it('refuses a prompt that is not a vocabulary, and an entry that names nothing', async () => {
    await expect(session.run(input, {}, { kind: 'text', text: 'car' }, { priority: 'batch' })).rejects.toThrow('ODISE needs a vocabulary prompt');
    await expect(session.run(input, {}, { kind: 'vocabulary', names: ['car', ' , '] }, { priority: 'batch' })).rejects.toMatchObject({
      name: 'PipelineInputError', message: 'vocabulary entry 2 names nothing',
    });
  });

  it("a batch's proposals are offered in the category named like their class, and a second batch with the same vocabulary resumes", async () => {
    const folder = join(tmp.path, 'project');
    await writeImage(join(folder, 'scene.png'), W, H);
    const store = ProjectStore.open(folder);
    try {
      await indexFolder(store);
      const ids = Object.fromEntries(FIRST.map((n) => [n, store.addCategory({ name: n }).id]));
      // the scene's pixels rather than the stored PNG's, so the proposals are the ones of the run above
      const scene = { ...session, run: () => session.run(input, {}, { kind: 'vocabulary', names: NAMES }, { priority: 'batch' }) };
      const prompt = { kind: 'vocabulary' as const, names: NAMES };
      const first = await runBatch(store, odise, scene, {}, { prompt });
      expect(first).toMatchObject({ segmented: 1, skipped: 0, proposals: proposals.length });
      const stored = store.listAnnotations({ imageId: store.listImages()[0]!.id });
      expect(stored.map((a) => a.categoryId)).toEqual(proposals.map(() => null));
      expect(stored.map((a) => store.suggestedCategory(a.id))).toEqual(proposals.map((p) => ids[p.category!.name]));
      expect(await runBatch(store, odise, scene, {}, { prompt })).toMatchObject({ segmented: 0, skipped: 1 });
    } finally {
      store.close();
    }
  }, 120_000);
});
