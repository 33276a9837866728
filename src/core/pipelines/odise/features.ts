// ODISE's backbone over a whole image (FeatureExtractorBackbone.slide_forward, feature_extractor.py:181-250): square
// windows of the model's side, stride one window, the last window of a row or column shifted back to end at the
// border; each window's projected features s2…s5 are added into full-size maps and divided by how many windows
// covered each position. Windows run one after another and only the running sums stay: memory is the sums
// (256·(H/4)·(W/4) floats for s2 of 512 channels … ) plus one window's activations.
import type { FloatTensor } from './classify';

export interface WindowPlacement {
  y: number;
  x: number;
}

/** Top-left corners of the windows over an h×w image, row by row (slide_forward's h_idx, w_idx loops). */
export function slidingWindows(h: number, w: number, size: number): WindowPlacement[] {
  if (h < size || w < size) throw new RangeError(`the image is ${w}×${h}: ODISE's ${size}² windows need both sides at least ${size}`);
  const starts = (n: number) => {
    const count = Math.floor((n - size + size - 1) / size) + 1;
    return Array.from({ length: count }, (_, i) => Math.max(Math.min(i * size + size, n) - size, 0));
  };
  return starts(h).flatMap((y) => starts(w).map((x) => ({ y, x })));
}

/** One window's features: every map [1, C, size/stride, size/stride] by name (s2…s5), with its stride. */
export type WindowFeatures = Record<string, FloatTensor & { stride: number }>;

/** image [1, 3, S, S] in [0,1], the `index`-th of slidingWindows → its features. */
export type WindowRunner = (window: Float32Array, index: number) => Promise<WindowFeatures>;

/** [1, 3, size, size] at (y, x) of image [1, 3, H, W]. */
export function cropWindow(image: FloatTensor, at: WindowPlacement, size: number): Float32Array {
  const [, C, H, W] = image.dims as [number, number, number, number];
  if (at.y + size > H || at.x + size > W) throw new RangeError(`window at (${at.x}, ${at.y}) leaves the ${W}×${H} image`);
  const out = new Float32Array(C * size * size);
  for (let c = 0; c < C; c++)
    for (let y = 0; y < size; y++) out.set(image.data.subarray((c * H + at.y + y) * W + at.x, (c * H + at.y + y) * W + at.x + size), (c * size + y) * size);
  return out;
}

/**
 * The averaged features of image [1, 3, H, W] (H, W multiples of every stride, as the 64-padding makes them).
 * `onWindow(done, total)` after each window.
 */
export async function slideFeatures(
  image: FloatTensor, size: number, runWindow: WindowRunner, onWindow?: (done: number, total: number) => void,
): Promise<Record<string, FloatTensor>> {
  const [B, , H, W] = image.dims as [number, number, number, number];
  if (image.dims.length !== 4 || B !== 1) throw new Error(`expected one image [1, 3, H, W], got [${image.dims.join(',')}]`);
  const windows = slidingWindows(H, W, size);
  const sums = new Map<string, { data: Float32Array; dims: number[]; stride: number; count: Uint16Array }>();
  for (let k = 0; k < windows.length; k++) {
    const at = windows[k]!;
    const features = await runWindow(cropWindow(image, at, size), k);
    for (const [name, f] of Object.entries(features)) {
      const s = f.stride;
      const [, C, h, w] = f.dims as [number, number, number, number];
      if (H % s || W % s || h !== size / s || w !== size / s) throw new Error(`window feature ${name} is [${f.dims.join(',')}] at stride ${s}, the image ${W}×${H}`);
      let acc = sums.get(name);
      if (!acc) {
        acc = { data: new Float32Array(C * (H / s) * (W / s)), dims: [1, C, H / s, W / s], stride: s, count: new Uint16Array((H / s) * (W / s)) };
        sums.set(name, acc);
      }
      const Ho = H / s, Wo = W / s, y0 = at.y / s, x0 = at.x / s;
      for (let c = 0; c < C; c++)
        for (let y = 0; y < h; y++) {
          const row = (c * Ho + y0 + y) * Wo + x0;
          for (let x = 0; x < w; x++) acc.data[row + x] = Math.fround(acc.data[row + x]! + f.data[(c * h + y) * w + x]!);
        }
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) acc.count[(y0 + y) * Wo + x0 + x]!++;
    }
    onWindow?.(k + 1, windows.length);
  }
  const out: Record<string, FloatTensor> = {};
  for (const [name, acc] of sums) {
    const plane = acc.count.length;
    for (let i = 0; i < acc.data.length; i++) acc.data[i] = Math.fround(acc.data[i]! / acc.count[i % plane]!);
    out[name] = { data: acc.data, dims: acc.dims };
  }
  return out;
}

/** The four graphs of a window (ml/models/odise/features.ts), as bundle components. */
export const ODISE_FEATURE_COMPONENTS = ['odise_captioner', 'odise_vae', 'unet_odise', 'odise_projection'] as const;
export type OdiseFeatureComponent = (typeof ODISE_FEATURE_COMPONENTS)[number];

/** Runs one component on named inputs; every output comes back when `outputs` is not given. */
export type ComponentRunner = (component: OdiseFeatureComponent, feeds: Record<string, FloatTensor>, outputs?: readonly string[]) => Promise<Record<string, FloatTensor>>;

/** The implicit captioner's outputs (context, time_emb_add) of each window of image [1, 3, H, W], in slidingWindows order. */
export async function captionWindows(
  image: FloatTensor, size: number, run: ComponentRunner, emptyContext: FloatTensor, onWindow?: () => void,
): Promise<Record<string, FloatTensor>[]> {
  const captions: Record<string, FloatTensor>[] = [];
  for (const at of slidingWindows(image.dims[2]!, image.dims[3]!, size)) {
    captions.push(await run('odise_captioner', { image: { data: cropWindow(image, at, size), dims: [1, 3, size, size] }, empty_context: emptyContext }, ['context', 'time_emb_add']));
    onWindow?.();
  }
  return captions;
}

/**
 * A window's features through the four graphs, in the order ldm.py runs them; each stage's inputs are dropped as soon
 * as the next has them. `emptyContext` [1,77,768] is SD's text encoding of "", `noise` the fixed [1,4,h,w] noise.
 * With `captions` (captionWindows) the captioner is not run: its CLIP tower need not be loaded beside the UNet.
 */
export function windowRunner(run: ComponentRunner, size: number, emptyContext: FloatTensor, noise: FloatTensor, captions?: readonly Record<string, FloatTensor>[]): WindowRunner {
  return async (window, index) => {
    const image: FloatTensor = { data: window, dims: [1, 3, size, size] };
    const cap = captions?.[index] ?? (await run('odise_captioner', { image, empty_context: emptyContext }, ['context', 'time_emb_add']));
    const { noised_latent: latent, ...vaeTaps } = await run('odise_vae', { image, noise });
    if (!latent) throw new Error('the ODISE VAE graph gave no noised_latent');
    const unetTaps = await run('unet_odise', { sample: latent, encoder_hidden_states: cap['context']!, time_emb_add: cap['time_emb_add']! });
    const projected = await run('odise_projection', { ...vaeTaps, ...unetTaps });
    return Object.fromEntries(Object.entries(projected).map(([name, t]) => [name, { ...t, stride: size / t.dims[2]! }]));
  };
}
