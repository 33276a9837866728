// transformers CLIPTextModel: last hidden state, pooling (argmax and first-EOS rules), hidden states, attention
// maps, and the run with the padding mask.
import { join } from 'node:path';
import { buildClipTextEncoder, parseClipTextConfig } from '../ml/models/clip';
import { openWeights, SafetensorsFile } from '../ml/weights';
import { int64Tensor, maxAbsDiff, readJsonObject, ReferenceOutputs, runGraph, type GoldenKind } from './compare';

export const clipTextKind: GoldenKind = {
  title: 'transformers CLIPTextModel',
  async check(dir) {
    const cfg = parseClipTextConfig(readJsonObject(join(dir, 'config.json')));
    const w = openWeights(join(dir, 'model.safetensors'));
    const inp = SafetensorsFile.open(join(dir, 'inputs.safetensors'));
    const ref = new ReferenceOutputs(SafetensorsFile.open(join(dir, 'outputs.safetensors')));
    const ids = int64Tensor(inp, 'input_ids');
    const r = await runGraph(buildClipTextEncoder(cfg, w, { hiddenStates: true, attentionProbs: true }).graph, { input_ids: ids });
    ref.tensor(r['last_hidden_state'], 'last_hidden_state');
    ref.tensor(r['pooler_output'], 'pooler_output');
    for (let i = 0; i <= cfg.num_hidden_layers; i++) ref.tensor(r[`hidden_states.${i}`], `hidden_states.${i}`);
    for (let i = 0; i < cfg.num_hidden_layers; i++) ref.tensor(r[`attn_probs.${i}`], `attn_probs_headavg.${i}`);
    ref.add(poolIndexCheck(r['last_hidden_state']?.data as Float32Array | undefined, r['pooler_output']?.data as Float32Array | undefined, ref.file, ids.dims[1]!), 'pool_index');
    // The vectors past the first EOT change with the padding mask; those up to it must not.
    const m = await runGraph(buildClipTextEncoder(cfg, w, { attentionMask: true }).graph, { input_ids: ids, attention_mask: int64Tensor(inp, 'attention_mask') });
    ref.tensor(m['last_hidden_state'], 'last_hidden_state_with_attention_mask');
    ref.tensor(m['pooler_output'], 'pooler_output_with_attention_mask');
    // The other pooling rule (eos_token_id != 2): the first position holding the EOT id, which is the
    // vocabulary's highest id.
    const f = await runGraph(buildClipTextEncoder(cfg, w, { eosTokenId: cfg.vocab_size - 1 }).graph, { input_ids: ids });
    ref.tensor(f['pooler_output'], 'pooled_output_first_eos_rule');
    return ref.checks();
  },
};

/** Our pooled vector of row b must be our hidden state at the reference's pool_index[b], exactly (a gather). */
function poolIndexCheck(last: Float32Array | undefined, pooled: Float32Array | undefined, out: SafetensorsFile, seqLen: number) {
  const index = Array.from(out.readFloat32('pool_index'));
  const base = { name: 'pool_index', measure: 'max_abs', tolerance: 0 } as const;
  if (!last || !pooled) return { ...base, error: Infinity, detail: 'no last_hidden_state or pooler_output' };
  const width = pooled.length / index.length;
  const gathered = index.flatMap((p, b) => Array.from(last.subarray((b * seqLen + p) * width, (b * seqLen + p + 1) * width)));
  return { ...base, error: maxAbsDiff(pooled, gathered) };
}
