// The prototype mode: an annotated example → the same kind of object in another image, with any SD 1.x bundle and no
// training. One UNet pass per image (DiffSeg's: 512² letterbox, VAE mean, t = 300, empty prompt) gives both the
// features (diffseg/variant.ts FEATURE_TAP) and DiffSeg's attention. The example's features, weighted by how much of each feature cell its
// mask covers, average into a foreground prototype (and the rest into a background one); each query cell votes
// foreground when it is more like the foreground prototype than the background's and at least `minSimilarity` like
// it (cosine); a DiffSeg segment of the query is kept when most of its pixels lie in voting cells. The kept segments
// are the proposal: outlines are DiffSeg's, not the feature grid's.
import { decode, encode, type Rle } from '../../../shared/masks';
import type { RunOptions } from '../../ml/runtime';
import { cellsAlong, letterbox, type Letterbox, type RgbImage } from '../common/frame';
import type { DiffSegModels } from '../diffseg/models';
import { preprocess, segmentEverything, stableParams } from '../diffseg/pipeline';
import type { ImageInput, Proposal } from '../types';
import type { Features, PrototypeModels } from './models';

export interface PrototypeSettings {
  /** The least cosine similarity to the foreground prototype a query cell needs to vote foreground. */
  minSimilarity: number;
}

/** Unit-length foreground and background prototypes (null: the example's mask left no cell of that kind). */
export interface Prototypes {
  fg: Float32Array;
  bg: Float32Array | null;
}

/** Each cell's feature vector, scaled to unit length: [side², C]. */
function unitCells(f: Features): Float32Array {
  const n = f.side * f.side, C = f.channels;
  const out = new Float32Array(n * C);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += f.data[c * n + i]! ** 2;
    const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let c = 0; c < C; c++) out[i * C + c] = f.data[c * n + i]! * inv;
  }
  return out;
}

function unit(v: Float64Array, weight: number): Float32Array | null {
  const norm = Math.hypot(...v);
  return weight > 0 && norm > 0 ? Float32Array.from(v, (x) => x / norm) : null;
}

/** The UNet pass of one image: DiffSeg's input, the VAE mean scaled, features and attention maps. */
async function imagePass(models: PrototypeModels, rgb: RgbImage, run: RunOptions) {
  const latent = await models.encode(await preprocess(rgb), run);
  return models.pass(latent.map((v) => v * models.scalingFactor), run);
}

/** The prototypes of an example: its image and its mask (row-major at the image's size, 1 = the object). */
export async function examplePrototypes(models: PrototypeModels, rgb: RgbImage, mask: Uint8Array, run: RunOptions = {}): Promise<Prototypes> {
  const { width: W, height: H } = rgb;
  if (mask.length !== W * H) throw new RangeError(`${mask.length} mask values do not fill ${W}×${H}`);
  const { features } = await imagePass(models, rgb, run);
  const s = features.side, C = features.channels;
  const box = letterbox(W, H);
  const cx = cellsAlong(W, box.padX, box.side, s), cy = cellsAlong(H, box.padY, box.side, s);
  const inMask = new Float64Array(s * s), all = new Float64Array(s * s);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const c = cy[y]! * s + cx[x]!;
      all[c]!++;
      inMask[c]! += mask[y * W + x]!;
    }
  const cells = unitCells(features);
  const fg = new Float64Array(C), bg = new Float64Array(C);
  let wf = 0, wb = 0;
  for (let i = 0; i < s * s; i++) {
    if (!all[i]) continue; // padding: no pixel of the example
    const share = inMask[i]! / all[i]!;
    wf += share;
    wb += 1 - share;
    for (let c = 0; c < C; c++) (fg[c]! += share * cells[i * C + c]!), (bg[c]! += (1 - share) * cells[i * C + c]!);
  }
  const fgUnit = unit(fg, wf);
  if (!fgUnit) throw new RangeError("the example's mask is empty");
  return { fg: fgUnit, bg: unit(bg, wb) };
}

/** Per query cell: its similarity to the foreground prototype, and whether it votes foreground. */
export function cellVotes(features: Features, p: Prototypes, s: PrototypeSettings): { similarity: Float32Array; votes: Uint8Array } {
  const n = features.side ** 2, C = features.channels;
  if (p.fg.length !== C) throw new RangeError(`the example's prototype has ${p.fg.length} channels, the query's features ${C}`);
  const cells = unitCells(features);
  const similarity = new Float32Array(n), votes = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let f = 0, b = 0;
    for (let c = 0; c < C; c++) (f += cells[i * C + c]! * p.fg[c]!), (b += cells[i * C + c]! * (p.bg?.[c] ?? 0));
    similarity[i] = f;
    votes[i] = f >= s.minSimilarity && (!p.bg || f > b) ? 1 : 0;
  }
  return { similarity, votes };
}

/** The segments (masks at the image's size) most of whose pixels lie in voting cells, as one mask; score: their mean similarity. */
export function snapToSegments(segments: readonly Rle[], box: Letterbox, features: Features, cells: ReturnType<typeof cellVotes>): Proposal | null {
  const { width: W, height: H } = box, s = features.side;
  const cx = cellsAlong(W, box.padX, box.side, s), cy = cellsAlong(H, box.padY, box.side, s);
  const out = new Uint8Array(W * H);
  let kept = 0, sum = 0;
  for (const rle of segments) {
    const m = decode(rle);
    let area = 0, voting = 0, sim = 0;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        if (!m[y * W + x]) continue;
        const c = cy[y]! * s + cx[x]!;
        area++;
        voting += cells.votes[c]!;
        sim += cells.similarity[c]!;
      }
    if (2 * voting <= area) continue;
    for (let i = 0; i < W * H; i++) out[i] ||= m[i]!;
    kept += area;
    sum += sim;
  }
  return kept ? { mask: encode(out, H, W), score: sum / kept } : null;
}

/** The example's kind of object in `image` (null: nothing of it), from one UNet pass and DiffSeg's default segments. */
export async function findInImage(models: PrototypeModels, image: ImageInput, p: Prototypes, s: PrototypeSettings, run: RunOptions = {}): Promise<Proposal | null> {
  let features: Features | null = null;
  // DiffSeg segments the query with the attention of the pass that also gives its features.
  const segmenter: DiffSegModels = {
    name: models.name, id: models.id, scalingFactor: models.scalingFactor, stats: { encode: 0, attention: 0 },
    encode: (x, r) => models.encode(x, r),
    attention: async (latent, r) => {
      const out = await models.pass(latent, r);
      features = out.features;
      return out.maps;
    },
    dispose: async () => {},
  };
  const { masks } = await segmentEverything(image, stableParams(), { models: segmenter, signal: run.signal, priority: run.priority });
  const f = features as Features | null;
  if (!f) throw new Error('the UNet pass gave no features');
  return snapToSegments(masks, letterbox(image.row.width, image.row.height), f, cellVotes(f, p, s));
}
