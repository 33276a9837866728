// transformers CLIPVisionModelWithProjection: embeddings, every hidden state, the encoder output (not post-layernormed),
// the patch tokens, the pooled class token, the projected image embedding and the attention maps.
import { join } from 'node:path';
import { buildClipVisionEncoder } from '../ml/models/clipVision';
import { parseClipVisionConfig } from '../ml/models/clipVisionConfig';
import { openWeights, SafetensorsFile } from '../ml/weights';
import { floatTensor, readJsonObject, ReferenceOutputs, runGraph, type GoldenKind } from './compare';

export const clipVisionKind: GoldenKind = {
  title: 'transformers CLIPVisionModelWithProjection',
  async check(dir) {
    const cfg = parseClipVisionConfig(readJsonObject(join(dir, 'config.json')));
    const w = openWeights(join(dir, 'model.safetensors'));
    const inp = SafetensorsFile.open(join(dir, 'inputs.safetensors'));
    const ref = new ReferenceOutputs(SafetensorsFile.open(join(dir, 'outputs.safetensors')));
    const { graph } = buildClipVisionEncoder(cfg, w, { embeddings: true, hiddenStates: true, attentionProbs: true, patchTokens: true, pooled: true });
    const r = await runGraph(graph, { pixel_values: floatTensor(inp, 'pixel_values') });
    for (const k of ['embeddings', 'last_hidden_state', 'patch_tokens', 'pooler_output', 'image_embeds']) ref.tensor(r[k], k);
    for (let i = 0; i <= cfg.num_hidden_layers; i++) ref.tensor(r[`hidden_states.${i}`], `hidden_states.${i}`);
    for (let i = 0; i < cfg.num_hidden_layers; i++) ref.tensor(r[`attn_probs.${i}`], `attn_probs_headavg.${i}`);
    return ref.checks();
  },
};
