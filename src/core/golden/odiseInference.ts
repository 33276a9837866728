// ODISE's inference after the mask generator (CategoryODISE.forward, eval), for the label model's configuration, the
// caption model's and the demo's: the image batches, the mask classifier's logits with the void class, MaskCLIP (its
// input image, attention mask and mask embeddings) and its logits, the geometric ensemble, mask_cls, and per image the
// resized masks, the semantic scores, the panoptic map and segments and the instances (a set: torch's topk leaves
// their order open).
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { decode } from '../../shared/masks';
import { clipLogitScale, type FloatTensor } from '../pipelines/odise/classify';
import { classifyQueries, dropLast, padBatch } from '../pipelines/odise/inference';
import { postprocessImage, type OdiseImageResult } from '../pipelines/odise/postprocess';
import { openAiVisionSource } from '../ml/models/clipVisionWeights';
import { buildMaskClip } from '../ml/models/maskClip';
import { openTensorFile, SafetensorsFile } from '../ml/weights';
import { exactCheck, floatTensor, MODEL_ATOL, readJsonAs, ReferenceOutputs, runGraph, type GoldenKind, type OutputCheck } from './compare';

const Int = z.number().int();
const Config = z.object({
  test_labels: z.array(z.array(z.string()).min(1)).min(1),
  num_thing: Int.nonnegative(),
  output_sizes: z.array(z.tuple([Int.positive(), Int.positive()])),
  size_divisibility: Int.positive(),
  object_mask_threshold: z.number(),
  test_topk_per_image: Int.positive(),
  category_overlapping_mask: z.array(z.union([z.literal(0), z.literal(1)])),
  tiny_clip_visual: z.object({ heads: Int.positive(), act_layer: z.enum(['QuickGELU', 'GELU']) }),
  runs: z.array(z.object({ tag: z.string().regex(/^\w+$/), alpha: z.number(), beta: z.number(), overlap_threshold: z.number() })).min(1),
});
const Segments = z.object({
  per_image: z.array(z.object({ segments_info: z.array(z.object({ id: Int, isthing: z.boolean(), category_id: Int })) })),
});

const tensor = (t: FloatTensor) => new ort.Tensor('float32', t.data, t.dims);
/** Image b of a [B, ...] tensor. */
const item = (t: FloatTensor, b: number): FloatTensor => {
  const size = t.data.length / t.dims[0]!;
  return { data: t.data.subarray(b * size, (b + 1) * size), dims: t.dims.slice(1) };
};
const read = (f: SafetensorsFile, name: string): FloatTensor => ({ data: f.readFloat32(name), dims: f.info(name).shape });

export const odiseInferenceKind: GoldenKind = {
  title: 'ODISE classification (mask classifier, MaskCLIP, ensemble) and Mask2Former semantic/panoptic/instance inference',
  async check(dir) {
    const cfg = readJsonAs(join(dir, 'config.json'), Config);
    const inp = SafetensorsFile.open(join(dir, 'inputs.safetensors'));
    const head = SafetensorsFile.open(join(dir, 'category_head_weights.safetensors'));
    const clipFile = openTensorFile(join(dir, 'clip_weights.safetensors'));
    try {
      const images = cfg.output_sizes.map((_, b) => read(inp, `images.${b}`));
      const backbone = padBatch(images, cfg.size_divisibility, 255);
      const clipImages = padBatch(images, 1, 255);
      const hiddenAct = cfg.tiny_clip_visual.act_layer === 'QuickGELU' ? 'quick_gelu' : 'gelu';
      const tower = openAiVisionSource(clipFile, 'clip_weights.safetensors', { heads: cfg.tiny_clip_visual.heads, hidden_act: hiddenAct });
      const maskClip = await runGraph(buildMaskClip(tower.config, tower.weights, { debug: true }).graph, {
        images: tensor(clipImages), pred_masks: floatTensor(inp, 'head.pred_masks'),
      });
      const predMasks = read(inp, 'head.pred_masks');
      const clipMaskEmbed = maskClip['mask_embed']!;
      const K = cfg.test_labels.length;
      const isThing = cfg.test_labels.map((_, k) => k < cfg.num_thing);
      const checks: OutputCheck[] = [];
      for (const run of cfg.runs) {
        const ref = new ReferenceOutputs(SafetensorsFile.open(join(dir, `outputs_${run.tag}.safetensors`)), `${run.tag}/`);
        ref.tensor(tensor(backbone), 'backbone_input_padded');
        ref.tensor(tensor(clipImages), 'clip.images');
        ref.tensor(maskClip['preprocessed_image'], 'clip.preprocessed_image');
        ref.add(attnMaskCheck(`${run.tag}/clip.attn_mask`, maskClip['attn_mask'], ref.file, cfg.tiny_clip_visual.heads), 'clip.attn_mask');
        ref.tensor(clipMaskEmbed, 'clip.mask_embed');
        const c = classifyQueries({
          vocabulary: cfg.test_labels,
          inVocabulary: cfg.category_overlapping_mask.map((v) => v === 1),
          nameEmbeds: read(inp, 'clip_text_embed_names'),
          photoEmbeds: read(inp, 'clip_text_embed_photo_prompt'),
          categoryHead: { textProjWeight: read(head, 'text_proj.weight'), textProjBias: read(head, 'text_proj.bias'), nullEmbed: read(head, 'null_embed') },
          maskEmbed: read(inp, 'head.mask_embed'),
          logitScale: inp.readFloat32('head.logit_scale')[0]!,
          clipMaskEmbed: { data: clipMaskEmbed.data as Float32Array, dims: clipMaskEmbed.dims },
          clipLogitScale: clipLogitScale(clipFile.readFloat32('logit_scale')[0]!),
        }, run);
        ref.tensor(tensor(c.classifier), 'pred_logits_cosine');
        ref.tensor(tensor(dropLast(c.classifier)), 'pred_open_logits_in');
        ref.tensor(tensor(c.clip), 'clip.mask_pred_open_logits');
        ref.tensor(tensor(c.ensembled), 'pred_open_logits_ensembled');
        const results: OdiseImageResult[] = [];
        for (let b = 0; b < images.length; b++) {
          const img = `img${b}.`;
          const maskCls = item(c.maskCls, b);
          ref.tensor(tensor(maskCls), `${img}mask_cls_final`);
          const r = await postprocessImage(item(predMasks, b), maskCls, {
            padded: [backbone.dims[2]!, backbone.dims[3]!], image: backbone.sizes[b]!, output: cfg.output_sizes[b]!,
          }, {
            isThing, objectMaskThreshold: cfg.object_mask_threshold, overlapThreshold: run.overlap_threshold, testTopk: cfg.test_topk_per_image,
            semantic: true, semanticScores: true, panoptic: true, instances: true, maskLogits: true,
          });
          results.push(r);
          const [H, W] = cfg.output_sizes[b]!;
          ref.tensor(r.maskLogits && new ort.Tensor('float32', r.maskLogits, [predMasks.dims[1]!, H, W]), `${img}mask_pred_postprocessed`);
          ref.tensor(r.semantic?.scores && new ort.Tensor('float32', r.semantic.scores, [K, H, W]), `${img}sem_seg`);
          ref.add(semanticLabelCheck(`${run.tag}/${img}sem_seg (argmax)`, r, ref.file.readFloat32(`${img}sem_seg`), K));
          const pan = ref.file.readFloat32(`${img}panoptic_seg`);
          const ids = r.panoptic?.ids ?? new Int32Array(0);
          ref.add(ids.length === pan.length
            ? exactCheck(`${run.tag}/${img}panoptic_seg`, Array.from(pan), (v, i) => (ids[i] === v ? undefined : `pixel ${i}: ${ids[i]}, reference ${v}`))
            : { name: `${run.tag}/${img}panoptic_seg`, measure: 'mismatches', error: Infinity, tolerance: 0, detail: `${ids.length} pixels, reference ${pan.length}` }, `${img}panoptic_seg`);
          for (const [check, ...covers] of instanceChecks(`${run.tag}/${img}instances`, r, ref.file, img)) ref.add(check, ...covers);
        }
        checks.push(...ref.checks(), segmentsCheck(`${run.tag}/segments_info`, results, readJsonAs(join(dir, `segments_info_${run.tag}.json`), Segments)));
      }
      return checks;
    } finally {
      clipFile.close();
    }
  },
};

/** Our additive mask [B, 1, T, T] (−∞ = blocked) against the reference's boolean [B·heads, T, T] (1 = blocked). */
function attnMaskCheck(name: string, got: ort.Tensor | undefined, file: SafetensorsFile, heads: number): OutputCheck {
  const want = file.readFloat32('clip.attn_mask');
  const [BH, T] = file.info('clip.attn_mask').shape as [number, number];
  const ours = got ? (got.data as Float32Array) : new Float32Array(0);
  if (ours.length * heads !== want.length) {
    return { name, measure: 'mismatches', error: Infinity, tolerance: 0, total: want.length, detail: `${ours.length} entries for ${heads} heads, reference ${want.length}` };
  }
  return exactCheck(name, Array.from(want), (v, i) => {
    const b = Math.floor(i / (heads * T * T));
    const blocked = ours[b * T * T + (i % (T * T))] === -Infinity;
    return blocked === (v === 1) ? undefined : `entry ${i} of ${BH}×${T}×${T}: ${blocked ? 'blocked' : 'open'}, reference ${v}`;
  });
}

/**
 * Our per-pixel class against the argmax of the reference's semantic scores, leaving out pixels whose two best
 * reference scores are within the scores' tolerance (float32 rounding may order them either way).
 */
function semanticLabelCheck(name: string, r: OdiseImageResult, scores: Float32Array, K: number): OutputCheck {
  const labels = r.semantic?.labels ?? new Int32Array(0);
  const n = scores.length / K;
  if (labels.length !== n) return { name, measure: 'mismatches', error: Infinity, tolerance: 0, total: n, detail: `${labels.length} labels for ${n} pixels` };
  const sure: number[] = [];
  const best = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let a = 0;
    let second = -Infinity;
    for (let k = 1; k < K; k++) {
      const v = scores[k * n + i]!;
      if (v > scores[a * n + i]!) {
        second = scores[a * n + i]!;
        a = k;
      } else second = Math.max(second, v);
    }
    best[i] = a;
    if (scores[a * n + i]! - second > MODEL_ATOL) sure.push(i);
  }
  return exactCheck(name, sure, (i) => (labels[i] === best[i] ? undefined : `pixel ${i}: class ${labels[i]}, reference ${best[i]}`));
}

/** Our instances against the reference's as sets: the same class and mask, then the scores of the pairs. */
function instanceChecks(name: string, r: OdiseImageResult, file: SafetensorsFile, img: string): [OutputCheck, ...string[]][] {
  const p = `${img}instances.`;
  const classes = file.readFloat32(`${p}pred_classes`);
  const scores = file.readFloat32(`${p}scores`);
  const masks = file.readFloat32(`${p}pred_masks`);
  const size = classes.length ? masks.length / classes.length : 0;
  const ours = (r.instances ?? []).map((x) => ({ ...x, pixels: decode(x.mask) }));
  const used = new Set<number>();
  const errors: number[] = [];
  const sets = exactCheck(name, Array.from({ length: Math.max(classes.length, ours.length) }, (_, i) => i), (i) => {
    if (i >= classes.length) return used.size < ours.length ? `${ours.length - classes.length} more instances than the reference` : undefined;
    const want = masks.subarray(i * size, (i + 1) * size);
    let match = -1;
    ours.forEach((o, j) => {
      if (used.has(j) || o.categoryId !== classes[i] || o.pixels.length !== size || !o.pixels.every((v, k) => v === want[k])) return;
      if (match < 0 || Math.abs(o.score - scores[i]!) < Math.abs(ours[match]!.score - scores[i]!)) match = j;
    });
    if (match < 0) return `reference instance ${i} (class ${classes[i]}, score ${scores[i]}): no instance of ours has its class and mask`;
    used.add(match);
    errors.push(Math.abs(ours[match]!.score - scores[i]!));
    return undefined;
  });
  const matched = errors.length === classes.length;
  const scoreCheck: OutputCheck = matched
    ? { name: `${name}.scores`, measure: 'max_abs', error: Math.max(0, ...errors), tolerance: MODEL_ATOL }
    : { name: `${name}.scores`, measure: 'max_abs', error: Infinity, tolerance: MODEL_ATOL, detail: 'not every instance matched' };
  return [[sets, `${p}pred_classes`, `${p}pred_masks`], [scoreCheck, `${p}scores`]];
}

/** segments_info of every image, exactly (id, isthing, category_id in order). */
function segmentsCheck(name: string, results: OdiseImageResult[], want: z.infer<typeof Segments>): OutputCheck {
  const text = (s: unknown) => JSON.stringify(s);
  const images = Array.from({ length: Math.max(results.length, want.per_image.length) }, (_, b) => b);
  return exactCheck(name, images, (b) => {
    const ours = results[b]?.panoptic?.segments.map((s) => ({ id: s.id, isthing: s.isThing, category_id: s.categoryId }));
    const theirs = want.per_image[b]?.segments_info;
    return text(ours) === text(theirs) ? undefined : `image ${b}: ${text(ours)}, reference ${text(theirs)}`;
  });
}
