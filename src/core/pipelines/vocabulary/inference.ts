// The vocabulary mode: DiffSeg's segments of an image, each named by the vocabulary's cross-attention, from one UNet
// pass on any SD 1.x bundle (no ODISE weights, no training). The pass is DiffSeg's (512² letterbox, VAE mean,
// t = 300) with the vocabulary as its prompt instead of the empty one: its self-attention gives the segments, its
// cross-attention the names.
//
// The prompt is every synonym of every entry, in order, joined by ", ". Per synonym, the attention its tokens take,
// averaged over the UNet's layers (common/crossAttention.ts), is pooled over each segment (the mean over the segment's
// pixels, each reading its 64² cell). A synonym's LIFT is that mean over what uniform attention would give its tokens
// (tokens / context length: every cell attends to all 77 positions); an entry's lift is its best synonym's (ODISE
// also takes the best synonym). A segment takes the entry of the highest lift when that lift reaches 1 / (1 − minScore)
// (2 by default: twice the uniform share); otherwise it is background and gives no proposal. Its score is 1 − 1/lift:
// 0 for uniform attention, towards 1 as the cells attend only to the entry. Lifts rather than raw means, so an entry
// of several tokens does not win by its length, and a segment that attends to nothing in particular (the background
// of a scene) is named by nothing even though some entry is always the highest.
//
// Things stay one proposal per segment (instances); segments of one stuff entry that touch become one proposal, with
// the area-weighted mean score.
import { decode, encode, type Rle } from '../../../shared/masks';
import type { ClipTokenizer } from '../../ml/tokenizer';
import { HEAT_SIDE, tokenPositions } from '../common/crossAttention';
import { cellsAlong, type Letterbox } from '../common/frame';
import type { VocabularyEntry } from '../common/vocabulary';
import { PipelineInputError } from '../run';
import type { Proposal } from '../types';

export interface PromptLayout {
  text: string;
  /** Per synonym (entries' synonyms in order), its token positions in the prompt's row. */
  positions: number[][];
  /** Per synonym, its entry. */
  entryOf: number[];
}

/** The prompt of a vocabulary and where each synonym's tokens sit; refused when it does not fit the text encoder. */
export function promptLayout(tokenizer: ClipTokenizer, entries: readonly VocabularyEntry[], contextLength: number): PromptLayout {
  const synonyms = entries.flatMap((e, i) => e.synonyms.map((s) => ({ s, i })));
  const text = synonyms.map((x) => x.s).join(', ');
  const tokens = tokenizer.encode(text).length;
  if (tokens > contextLength - 2)
    throw new PipelineInputError(`the vocabulary's words take ${tokens} tokens, the text encoder reads ${contextLength - 2}: name fewer categories or synonyms`, [{ path: 'prompt.names', message: 'too long' }]);
  const positions: number[][] = [];
  let from = 0;
  for (const { s } of synonyms) {
    // Each synonym is looked for after the previous one, so "car" is not found inside an earlier "police car".
    const at = tokenPositions(tokenizer, text, s, from);
    if (!at) throw new PipelineInputError(`"${s}" does not tokenize the same inside the vocabulary's prompt`, [{ path: 'prompt.names', message: `"${s}"` }]);
    positions.push(at);
    from = at[at.length - 1]!;
  }
  return { text, positions, entryOf: synonyms.map((x) => x.i) };
}

export interface NamingRule {
  /** The least score (1 − 1/lift) a segment's best entry needs to name it. */
  minScore: number;
}

/** Per segment: the entry that names it and its score, or null (background). */
export function nameSegments(
  segments: readonly Rle[], heat: readonly Float32Array[], layout: PromptLayout, entries: number, box: Letterbox, contextLength: number, rule: NamingRule,
): Array<{ entry: number; score: number } | null> {
  const { width: W, height: H } = box;
  const cx = cellsAlong(W, box.padX, box.side, HEAT_SIDE), cy = cellsAlong(H, box.padY, box.side, HEAT_SIDE);
  const minLift = 1 / (1 - rule.minScore);
  return segments.map((rle) => {
    const m = decode(rle);
    const sums = new Float64Array(heat.length);
    let n = 0;
    for (let x = 0; x < W; x++)
      for (let y = 0; y < H; y++) {
        if (!m[y * W + x]) continue;
        const c = cy[y]! * HEAT_SIDE + cx[x]!;
        n++;
        for (let k = 0; k < heat.length; k++) sums[k]! += heat[k]![c]!;
      }
    if (!n) return null;
    const lift = new Float64Array(entries);
    sums.forEach((s, k) => {
      const l = s / n / (layout.positions[k]!.length / contextLength);
      const e = layout.entryOf[k]!;
      lift[e] = Math.max(lift[e]!, l);
    });
    let best = 0;
    for (let e = 1; e < entries; e++) if (lift[e]! > lift[best]!) best = e;
    return lift[best]! >= minLift ? { entry: best, score: 1 - 1 / lift[best]! } : null;
  });
}

/** The named segments as proposals: things one each, touching segments of one stuff entry as one. */
export function namedProposals(segments: readonly Rle[], names: ReadonlyArray<{ entry: number; score: number } | null>, entries: readonly VocabularyEntry[]): Proposal[] {
  const kept = segments.flatMap((mask, i) => (names[i] ? [{ mask, ...names[i]! }] : []));
  if (!kept.length) return [];
  const { w: W, h: H } = kept[0]!.mask;
  // Stuff segments of one entry join where any of their pixels are 4-neighbours (union-find over the segments).
  const owner = new Int32Array(W * H).fill(-1);
  const masks = kept.map((k, i) => {
    const m = decode(k.mask);
    for (let p = 0; p < m.length; p++) if (m[p]) owner[p] = i;
    return m;
  });
  const parent = kept.map((_, i) => i);
  const root = (i: number): number => (parent[i] === i ? i : (parent[i] = root(parent[i]!)));
  const join = (a: number, b: number) => {
    if (a < 0 || b < 0 || a === b || kept[a]!.entry !== kept[b]!.entry || entries[kept[a]!.entry]!.isThing) return;
    parent[root(a)] = root(b);
  };
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const o = owner[y * W + x]!;
      if (x + 1 < W) join(o, owner[y * W + x + 1]!);
      if (y + 1 < H) join(o, owner[(y + 1) * W + x]!);
    }
  const groups = new Map<number, number[]>();
  kept.forEach((_, i) => groups.set(root(i), [...(groups.get(root(i)) ?? []), i]));
  return [...groups.values()].map((members) => {
    const first = kept[members[0]!]!;
    const entry = entries[first.entry]!;
    const category = { name: entry.synonyms[0]!, isThing: entry.isThing };
    if (members.length === 1) return { mask: first.mask, score: first.score, category };
    const out = new Uint8Array(W * H);
    let area = 0, weighted = 0;
    for (const i of members) {
      let a = 0;
      masks[i]!.forEach((v, p) => v && ((out[p] = 1), a++));
      area += a;
      weighted += a * kept[i]!.score;
    }
    return { mask: encode(out, H, W), score: weighted / area, category };
  });
}
