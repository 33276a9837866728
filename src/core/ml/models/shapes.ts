// Every weight name and shape a config implies (diffusers/transformers layout). Used to validate checkpoints
// against their config before building, and to synthesise random weights for cost benchmarks.
import type { ClipTextConfig } from './clip';
import { type UNetConfig, perBlock } from './unetConfig';
import type { VaeConfig } from './vae';

type Shapes = Map<string, number[]>;

export function conv(m: Shapes, name: string, out: number, inp: number, k: number, bias = true) {
  m.set(`${name}.weight`, [out, inp, k, k]);
  if (bias) m.set(`${name}.bias`, [out]);
}
export function lin(m: Shapes, name: string, out: number, inp: number, bias = true) {
  m.set(`${name}.weight`, [out, inp]);
  if (bias) m.set(`${name}.bias`, [out]);
}
export function norm(m: Shapes, name: string, c: number) {
  m.set(`${name}.weight`, [c]);
  m.set(`${name}.bias`, [c]);
}
function resnet(m: Shapes, p: string, inp: number, out: number, temb?: number) {
  norm(m, `${p}.norm1`, inp);
  conv(m, `${p}.conv1`, out, inp, 3);
  if (temb !== undefined) lin(m, `${p}.time_emb_proj`, out, temb);
  norm(m, `${p}.norm2`, out);
  conv(m, `${p}.conv2`, out, out, 3);
  if (inp !== out) conv(m, `${p}.conv_shortcut`, out, inp, 1);
}

export function unetWeightShapes(c: UNetConfig): Shapes {
  const m: Shapes = new Map();
  const ch = c.block_out_channels;
  const n = ch.length;
  const c0 = ch[0]!;
  const temb = 4 * c0;
  const depth = perBlock(c.transformer_layers_per_block, n);
  const transformer = (p: string, C: number, d: number) => {
    norm(m, `${p}.norm`, C);
    if (c.use_linear_projection) lin(m, `${p}.proj_in`, C, C);
    else conv(m, `${p}.proj_in`, C, C, 1);
    for (let t = 0; t < d; t++) {
      const b = `${p}.transformer_blocks.${t}`;
      for (const k of ['norm1', 'norm2', 'norm3']) norm(m, `${b}.${k}`, C);
      for (const a of ['attn1', 'attn2']) {
        const kv = a === 'attn1' ? C : c.cross_attention_dim;
        lin(m, `${b}.${a}.to_q`, C, C, false);
        lin(m, `${b}.${a}.to_k`, C, kv, false);
        lin(m, `${b}.${a}.to_v`, C, kv, false);
        lin(m, `${b}.${a}.to_out.0`, C, C);
      }
      lin(m, `${b}.ff.net.0.proj`, 8 * C, C);
      lin(m, `${b}.ff.net.2`, C, 4 * C);
    }
    if (c.use_linear_projection) lin(m, `${p}.proj_out`, C, C);
    else conv(m, `${p}.proj_out`, C, C, 1);
  };
  conv(m, 'conv_in', c0, c.in_channels, 3);
  lin(m, 'time_embedding.linear_1', temb, c0);
  lin(m, 'time_embedding.linear_2', temb, temb);
  for (let i = 0; i < n; i++) {
    const inp = i === 0 ? c0 : ch[i - 1]!;
    const out = ch[i]!;
    for (let j = 0; j < c.layers_per_block; j++) {
      resnet(m, `down_blocks.${i}.resnets.${j}`, j === 0 ? inp : out, out, temb);
      if (c.down_block_types[i] === 'CrossAttnDownBlock2D') transformer(`down_blocks.${i}.attentions.${j}`, out, depth[i]!);
    }
    if (i < n - 1) conv(m, `down_blocks.${i}.downsamplers.0.conv`, out, out, 3);
  }
  const top = ch[n - 1]!;
  if (c.mid_block_type) {
    resnet(m, 'mid_block.resnets.0', top, top, temb);
    transformer('mid_block.attentions.0', top, depth[n - 1]!);
    resnet(m, 'mid_block.resnets.1', top, top, temb);
  }
  const rev = [...ch].reverse();
  const revDepth = [...depth].reverse();
  for (let i = 0; i < n; i++) {
    const prev = i === 0 ? rev[0]! : rev[i - 1]!;
    const out = rev[i]!;
    const inCh = rev[Math.min(i + 1, n - 1)]!;
    for (let j = 0; j <= c.layers_per_block; j++) {
      const skip = j === c.layers_per_block ? inCh : out;
      resnet(m, `up_blocks.${i}.resnets.${j}`, (j === 0 ? prev : out) + skip, out, temb);
      if (c.up_block_types[i] === 'CrossAttnUpBlock2D') transformer(`up_blocks.${i}.attentions.${j}`, out, revDepth[i]!);
    }
    if (i < n - 1) conv(m, `up_blocks.${i}.upsamplers.0.conv`, out, out, 3);
  }
  norm(m, 'conv_norm_out', c0);
  conv(m, 'conv_out', c.out_channels, c0, 3);
  return m;
}

export function vaeWeightShapes(c: VaeConfig): Shapes {
  const m: Shapes = new Map();
  const ch = c.block_out_channels;
  const n = ch.length;
  const top = ch[n - 1]!;
  const lc = c.latent_channels;
  const mid = (p: string) => {
    resnet(m, `${p}.mid_block.resnets.0`, top, top);
    if (c.mid_block_add_attention) {
      norm(m, `${p}.mid_block.attentions.0.group_norm`, top);
      for (const k of ['to_q', 'to_k', 'to_v', 'to_out.0']) lin(m, `${p}.mid_block.attentions.0.${k}`, top, top);
    }
    resnet(m, `${p}.mid_block.resnets.1`, top, top);
  };
  conv(m, 'encoder.conv_in', ch[0]!, c.in_channels, 3);
  for (let i = 0; i < n; i++) {
    const inp = i === 0 ? ch[0]! : ch[i - 1]!;
    for (let j = 0; j < c.layers_per_block; j++) resnet(m, `encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? inp : ch[i]!, ch[i]!);
    if (i < n - 1) conv(m, `encoder.down_blocks.${i}.downsamplers.0.conv`, ch[i]!, ch[i]!, 3);
  }
  mid('encoder');
  norm(m, 'encoder.conv_norm_out', top);
  conv(m, 'encoder.conv_out', 2 * lc, top, 3);
  conv(m, 'quant_conv', 2 * lc, 2 * lc, 1);
  conv(m, 'post_quant_conv', lc, lc, 1);
  conv(m, 'decoder.conv_in', top, lc, 3);
  mid('decoder');
  const rev = [...ch].reverse();
  for (let i = 0; i < n; i++) {
    const prev = i === 0 ? rev[0]! : rev[i - 1]!;
    for (let j = 0; j <= c.layers_per_block; j++) resnet(m, `decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prev : rev[i]!, rev[i]!);
    if (i < n - 1) conv(m, `decoder.up_blocks.${i}.upsamplers.0.conv`, rev[i]!, rev[i]!, 3);
  }
  norm(m, 'decoder.conv_norm_out', ch[0]!);
  conv(m, 'decoder.conv_out', c.out_channels, ch[0]!, 3);
  return m;
}

export function clipWeightShapes(c: ClipTextConfig): Shapes {
  const m: Shapes = new Map();
  const D = c.hidden_size;
  m.set('text_model.embeddings.token_embedding.weight', [c.vocab_size, D]);
  m.set('text_model.embeddings.position_embedding.weight', [c.max_position_embeddings, D]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `text_model.encoder.layers.${i}`;
    norm(m, `${p}.layer_norm1`, D);
    norm(m, `${p}.layer_norm2`, D);
    for (const k of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) lin(m, `${p}.self_attn.${k}`, D, D);
    lin(m, `${p}.mlp.fc1`, c.intermediate_size, D);
    lin(m, `${p}.mlp.fc2`, D, c.intermediate_size);
  }
  norm(m, 'text_model.final_layer_norm', D);
  return m;
}

/** Differences between a weight source and what the config implies, as readable lines (empty = match). */
export function checkWeights(expected: Shapes, source: { keys(): string[]; shape(n: string): number[] }): string[] {
  const problems: string[] = [];
  const have = new Set(source.keys());
  for (const [k, s] of expected) {
    if (!have.has(k)) problems.push(`missing ${k} [${s.join(',')}]`);
    else if (source.shape(k).join(',') !== s.join(',')) problems.push(`${k}: shape [${source.shape(k).join(',')}], config implies [${s.join(',')}]`);
  }
  for (const k of have) if (!expected.has(k)) problems.push(`unexpected ${k}`);
  return problems;
}
