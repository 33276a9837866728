// ODISE after the mask generator, with meaning: hand-built head outputs of an 8×8 scene and a text fixture that embeds
// colour words as colours, through the pipeline's classification and panoptic inference. The scene: a red square
// (a thing) top left, sky top right, grass in the middle, a road at the bottom in two halves; the vocabulary
// "red, crimson" (trained), "blue" (new), "grey, gray" (trained); the learned null embedding is green. Each query's
// embedding is the colour of what it covers, except the sky's, which the mask classifier sees as crimson-ish and
// MaskCLIP as blue.
import { afterAll, describe, expect, it } from 'vitest';
import type { FloatTensor, Vocabulary } from '../../../src/core/pipelines/odise/classify';
import { dropLast, classifyQueries, ODISE_DEMO_SETTINGS, ODISE_LABEL_SETTINGS, type OdiseSettings } from '../../../src/core/pipelines/odise/inference';
import { inTrainingVocabulary } from '../../../src/core/pipelines/odise/classify';
import { postprocessImage } from '../../../src/core/pipelines/odise/postprocess';
import { panopticSegments } from '../../../src/core/pipelines/odise/segment';
import { area, decode } from '../../../src/shared/masks';
import { releaseMathSessions } from '../../../src/core/pipelines/common/inference';

afterAll(() => releaseMathSessions());

const COLOURS: Record<string, [number, number, number]> = {
  red: [1, 0, 0], crimson: [0.8, 0, 0.2], blue: [0, 0, 1], grey: [1, 1, 1], gray: [1, 1, 1], green: [0, 1, 0],
};
/** The text fixture: a prompt's embedding is the colour of the colour word in it ("a photo of a blue." → blue). */
function colourText(prompt: string): [number, number, number] {
  const word = Object.keys(COLOURS).find((w) => new RegExp(`\\b${w}\\b`).test(prompt));
  if (!word) throw new Error(`no colour word in "${prompt}"`);
  return COLOURS[word]!;
}
const embedAll = (prompts: string[]): FloatTensor => ({ data: Float32Array.from(prompts.flatMap(colourText)), dims: [prompts.length, 3] });

const VOCABULARY: Vocabulary = [['red', 'crimson'], ['blue'], ['grey', 'gray']];
const IS_THING = [true, false, false];
/** The model's training vocabulary: the trained classes get α, the others β. */
const TRAINED: Vocabulary = [['red'], ['grey'], ['person']];
const S = 8;
const rect = (y0: number, y1: number, x0: number, x1: number) => (y: number, x: number) => y >= y0 && y < y1 && x >= x0 && x < x1;

/** Queries: where their mask is, what the mask classifier and MaskCLIP see there. */
const QUERIES = [
  { what: 'red square', mask: rect(0, 4, 0, 4), seen: COLOURS.red, clip: COLOURS.red },
  { what: 'sky', mask: rect(0, 4, 4, 8), seen: [1, 0, 0.9], clip: COLOURS.blue },
  { what: 'road, left', mask: rect(6, 8, 0, 4), seen: COLOURS.grey, clip: COLOURS.grey },
  { what: 'grass', mask: rect(4, 6, 0, 8), seen: COLOURS.green, clip: COLOURS.green },
  { what: 'road, right', mask: rect(6, 8, 4, 8), seen: COLOURS.grey, clip: COLOURS.grey },
  // The square's twin reaching into the grass: it ties with the square on their common pixels and loses them (the
  // lower query wins a tie), keeping 4 of its 8 pixels.
  { what: 'red overhang', mask: rect(2, 6, 0, 2), seen: COLOURS.red, clip: COLOURS.red },
] as const;

async function labelScene(settings: OdiseSettings) {
  const Q = QUERIES.length;
  const names = VOCABULARY.flat();
  const classified = classifyQueries({
    vocabulary: VOCABULARY,
    inVocabulary: inTrainingVocabulary(VOCABULARY, TRAINED),
    nameEmbeds: embedAll(names),
    photoEmbeds: embedAll(names.map((n) => `a photo of a ${n}.`)),
    categoryHead: {
      textProjWeight: { data: Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1), dims: [3, 3] },
      textProjBias: { data: new Float32Array(3), dims: [3] },
      nullEmbed: { data: Float32Array.from(colourText('green')), dims: [1, 3] },
    },
    maskEmbed: { data: Float32Array.from(QUERIES.flatMap((q) => [...q.seen])), dims: [1, Q, 3] },
    logitScale: 20,
    clipMaskEmbed: { data: Float32Array.from(QUERIES.flatMap((q) => [...q.clip])), dims: [1, Q, 3] },
    clipLogitScale: 100,
  }, settings);
  const logits: FloatTensor = { data: new Float32Array(Q * S * S), dims: [Q, S, S] };
  QUERIES.forEach((q, k) => {
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) logits.data[(k * S + y) * S + x] = q.mask(y, x) ? 6 : -6;
  });
  const maskCls = { data: classified.maskCls.data, dims: [Q, VOCABULARY.length + 1] };
  const result = await postprocessImage(logits, maskCls, { padded: [S, S], image: [S, S], output: [S, S] }, { ...settings, isThing: IS_THING, panoptic: true });
  return { classified, panoptic: result.panoptic! };
}

const argmaxRows = (t: FloatTensor) => {
  const w = t.dims.at(-1)!;
  return Array.from({ length: t.data.length / w }, (_, r) => {
    const row = Array.from(t.data.subarray(r * w, r * w + w));
    return row.indexOf(Math.max(...row));
  });
};
/** The map as rows of segment ids. */
const rows = (ids: Int32Array) => Array.from({ length: S }, (_, y) => Array.from(ids.subarray(y * S, y * S + S)).join(''));

describe('ODISE fixture scene: colour words label the scene', () => {
  it('label settings: square, sky and merged road are segments; grass is background; the overhang is dropped by the overlap rule', async () => {
    const { classified, panoptic } = await labelScene(ODISE_LABEL_SETTINGS);
    // The mask classifier alone calls the sky red (crimson is its closest synonym); the ensemble gives a new class
    // like blue MaskCLIP's weight β = 0.7, and MaskCLIP sees blue.
    expect(argmaxRows(dropLast(classified.classifier))[1]).toBe(0);
    expect(argmaxRows(classified.ensembled)[1]).toBe(1);
    // The grass matches the null embedding: void is its most likely class.
    expect(argmaxRows(classified.classifier)[3]).toBe(VOCABULARY.length);
    expect(rows(panoptic.ids)).toEqual([
      '11112222',
      '11112222',
      '11112222',
      '11112222',
      '00000000',
      '00000000',
      '33333333',
      '33333333',
    ]);
    expect(panoptic.segments.map(({ score: _, ...s }) => s)).toEqual([
      { id: 1, categoryId: 0, isThing: true, area: 16, bbox: [0, 0, 4, 4] },
      { id: 2, categoryId: 1, isThing: false, area: 16, bbox: [4, 0, 4, 4] },
      { id: 3, categoryId: 2, isThing: false, area: 16, bbox: [0, 6, 8, 2] },
    ]);
  });

  it("the pipeline's proposals: one per segment with its class, the road's two halves one mask, the grass in none", async () => {
    const { panoptic } = await labelScene(ODISE_LABEL_SETTINGS);
    const proposals = panopticSegments({ height: S, width: S, panoptic });
    expect(proposals.map((p) => [p.classIndex, p.score])).toEqual(panoptic.segments.map((s) => [s.categoryId, s.score]));
    const road = decode(proposals[2]!.mask);
    expect(Array.from({ length: S }, (_, y) => Array.from({ length: S }, (_, x) => road[y * S + x]).join(''))).toEqual([
      ...Array(6).fill('00000000'), '11111111', '11111111',
    ]);
    expect(proposals.map((p) => area(p.mask))).toEqual([16, 16, 16]);
  });

  it("the demo's settings (no overlap test) keep the overhang as a second red thing on the grass it wins", async () => {
    const { panoptic } = await labelScene(ODISE_DEMO_SETTINGS);
    expect(rows(panoptic.ids)).toEqual([
      '11112222',
      '11112222',
      '11112222',
      '11112222',
      '44000000',
      '44000000',
      '33333333',
      '33333333',
    ]);
    expect(panoptic.segments.find((s) => s.id === 4)).toMatchObject({ categoryId: 0, isThing: true, area: 4, bbox: [0, 4, 2, 2] });
  });
});
