// diffusers UNet2DConditionModel as an ONNX graph, with optional attention-map and feature outputs.
import { GraphBuilder, Value } from '../graph/builder';
import type { Dim } from '../graph/shape';
import type { WeightSource } from '../weights/source';
import { attention, Layers, type ComputeDType } from './nn';
import { keyBias, projectContext } from './unetConditioning';
import { headsPerBlock, perBlock, type UNetConfig } from './unetConfig';

export interface UNetBuildOptions {
  dtype?: ComputeDType;
  batch?: Dim;
  height?: Dim;
  width?: Dim;
  textLength?: Dim;
  /** Length of the `timestep` input: 1 (broadcast over the batch) or the batch size; symbolic by default. */
  timesteps?: Dim;
  /**
   * Self-attention (attn1) probabilities, head-averaged: 'layers' outputs `self_attn.NN` [B,HW,HW] per layer
   * (forward order); 'resolution' outputs `self_attn_mean.HxW` (`self_attn_mean.levelK` when the size is
   * symbolic), the mean over all layers at that feature-map size, computed inside the graph; 'both' gives both.
   */
  selfAttention?: 'none' | 'layers' | 'resolution' | 'both';
  /** Self-attention maps are computed in query blocks of at most this many bytes of scores (nn.ts `probsBlockBytes`). */
  attentionBlockBytes?: number;
  /** Head-averaged cross-attention (attn2) probabilities `cross_attn.NN` [B,HW,L]. */
  crossAttention?: boolean;
  /**
   * Feature taps: `time_proj`, `time_emb`, `conv_in`, `down_block.i`, `mid_block`, `up_block.i`
   * (output of each block after its resampler), and `encoder_hid_proj` where the config has one. true = all of them.
   * Listed by name only (not in true): the output of each block module, `down_blocks.i.resnets.j` (or `.attentions.j`
   * where the block has them), `.downsamplers.0`, `up_blocks.i.…` alike: the CompVis input and output blocks whose
   * outputs grounded diffusion reads (ml/models/grounding/config.ts); and `up_blocks.i.resnets.j.input`, the
   * concatenation of the upsampled path and its skip that enters that resnet (ODISE's UNet features).
   */
  features?: boolean | string[];
  /** Leave out `noise_pred` (feature-only graphs then skip the output head). */
  omitNoisePred?: boolean;
  /**
   * Input `encoder_attention_mask` [B, textLength] float32, 1 = attend, 0 = masked: every cross-attention adds
   * `(1 − m)·−10000` to its scores for the masked context tokens (Ref LDM-Seg's support mask; unetConditioning.ts).
   */
  encoderAttentionMask?: boolean;
  /**
   * Input `time_emb_add` [T, time_embed_dim] float32, added to the time embedding before every resnet reads it
   * (ODISE's implicit captioner: `emb = time_embed(t) + cond_emb`, ldm.py:469-491).
   */
  timeEmbeddingInput?: boolean;
}

export interface AttentionLayerInfo {
  index: number;
  module: string;
  height: number | null;
  width: number | null;
  heads: number;
  headDim: number;
}

export interface BuiltUNet {
  graph: GraphBuilder;
  /** attn1/attn2 layers in forward order. */
  attentionLayers: AttentionLayerInfo[];
  outputs: string[];
}

export function buildUNet(config: UNetConfig, weights: WeightSource, opts: UNetBuildOptions = {}): BuiltUNet {
  const c = config;
  const dtype = opts.dtype ?? 'float32';
  const g = new GraphBuilder('unet');
  const L = new Layers(g, weights, dtype);
  const nBlocks = c.block_out_channels.length;
  const heads = headsPerBlock(c);
  const tlayers = perBlock(c.transformer_layers_per_block, nBlocks);
  const selfMode = opts.selfAttention ?? 'none';
  const wantTap = (name: string) => opts.features === true || (Array.isArray(opts.features) && opts.features.includes(name));
  const outputs: string[] = [];
  const emitOut = (v: Value, name: string) => {
    g.output(g.cast(v, 'float32'), name);
    outputs.push(name);
  };
  const tap = (v: Value, name: string) => {
    if (wantTap(name)) emitOut(v, name);
  };
  const tapModule = (v: Value, name: string) => {
    if (Array.isArray(opts.features) && opts.features.includes(name)) emitOut(v, name);
  };

  const B = opts.batch ?? 'batch';
  const sample = g.input('sample', 'float32', [B, c.in_channels, opts.height ?? 'height', opts.width ?? 'width']);
  const timestep = g.input('timestep', 'float32', [opts.timesteps ?? 'timesteps']);
  const textLength = opts.textLength ?? 77;
  const context = g.input('encoder_hidden_states', 'float32', [B, textLength, c.encoder_hid_dim ?? c.cross_attention_dim]);
  const crossMask = opts.encoderAttentionMask ? keyBias(g, g.input('encoder_attention_mask', 'float32', [B, textLength])) : undefined;
  const x0 = g.cast(sample, dtype);
  const ctx = projectContext(L, g.cast(context, dtype), c);
  if (c.encoder_hid_dim !== null) tap(ctx, 'encoder_hid_proj');

  // ---- time embedding (computed in float32 like diffusers, then cast) ----
  const ch0 = c.block_out_channels[0]!;
  const half = ch0 / 2;
  const freqs = new Float32Array(half);
  const lnMax = Math.fround(-Math.log(10000));
  for (let i = 0; i < half; i++) {
    // torch: exp((-ln(10000) * arange(half, float32)) / (half - shift)) in float32 steps
    freqs[i] = Math.fround(Math.exp(Math.fround(Math.fround(lnMax * i) / (half - c.freq_shift))));
  }
  const tProj = g.scope('time_proj', () => {
    const arg = g.mul(g.unsqueeze(timestep, [1]), g.constant(freqs, 'float32', [1, half])); // [T, half]
    const sin = g.sin(arg);
    const cos = g.cos(arg);
    return g.concat(c.flip_sin_to_cos ? [cos, sin] : [sin, cos], 1);
  });
  const batchOf = (v: Value) => g.slice(g.shape(v), [0], [1]);
  const expandBatch = (v: Value) => g.expand(v, g.concat([batchOf(sample), g.slice(g.shape(v), [1], [2])], 0));
  if (wantTap('time_proj')) emitOut(expandBatch(tProj), 'time_proj');
  const tembPlain = L.mod('time_embedding', () => L.linear(g.silu(L.linear(g.cast(tProj, dtype), 'linear_1')), 'linear_2'));
  const temb = opts.timeEmbeddingInput
    ? g.add(tembPlain, g.cast(g.input('time_emb_add', 'float32', [opts.timesteps ?? 'timesteps', tembPlain.shape![1]!]), dtype))
    : tembPlain;
  if (wantTap('time_emb')) emitOut(expandBatch(temb), 'time_emb');
  const tAct = g.silu(temb);

  // ---- building blocks ----
  const resnet = (x: Value, name: string, outCh: number): Value =>
    L.mod(name, () => {
      let h = L.conv(g.silu(L.groupNorm(x, 'norm1', c.norm_num_groups, c.norm_eps)), 'conv1');
      const t = L.linear(tAct, 'time_emb_proj'); // [T, C], broadcast over the batch
      h = g.add(h, g.unsqueeze(t, [2, 3]));
      h = L.conv(g.silu(L.groupNorm(h, 'norm2', c.norm_num_groups, c.norm_eps)), 'conv2');
      const sc = L.has('conv_shortcut.weight') ? L.conv(x, 'conv_shortcut', { pad: 0 }) : x;
      if (sc.shape && (sc.shape[1] as number) !== outCh) throw new Error(`${name}: shortcut has ${String(sc.shape[1])} channels, block ${outCh}`);
      const out = g.add(sc, h);
      return c.resnet_out_scale_factor === 1 ? out : g.div(out, c.resnet_out_scale_factor);
    });

  const attnLayers: AttentionLayerInfo[] = [];
  /** Running sum of the self-attention maps at each size, by query block, and how many layers it holds. */
  const selfByRes = new Map<string, { sums: Value[]; n: number }>();
  let attnIndex = 0;

  const transformer = (x: Value, name: string, nHeads: number, depth: number, level: number): Value =>
    L.mod(name, () => {
      const C = x.shape![1] as number;
      const H = x.shape![2] ?? null;
      const W = x.shape![3] ?? null;
      let h = L.groupNorm(x, 'norm', c.norm_num_groups, 1e-6);
      const toTokens = (v: Value) => g.transpose(g.reshape(v, [0, 0, -1]), [0, 2, 1]);
      const fromTokens = (v: Value) => g.reshape(g.transpose(v, [0, 2, 1]), g.shape(x));
      let tok = c.use_linear_projection ? L.linear(toTokens(h), 'proj_in') : toTokens(L.conv(h, 'proj_in', { pad: 0 }));
      for (let d = 0; d < depth; d++) {
        tok = L.mod(`transformer_blocks.${d}`, () => {
          const idx = attnIndex++;
          const nn = String(idx).padStart(2, '0');
          const path = `${g.currentScope}`;
          attnLayers.push({ index: idx, module: path, height: typeof H === 'number' ? H : null, width: typeof W === 'number' ? W : null, heads: nHeads, headDim: C / nHeads });
          const keepSelf = selfMode !== 'none';
          const byRes = selfMode === 'resolution' || selfMode === 'both';
          // Static maps are keyed by size (64x64); with symbolic sizes by downsampling level (level0 = full).
          const key = typeof H === 'number' && typeof W === 'number' ? `${H}x${W}` : `level${level}`;
          const acc = byRes ? selfByRes.get(key) : undefined;
          const n1 = L.layerNorm(tok, 'norm1', 1e-5);
          const a1 = L.mod('attn1', () => {
            return attention(L, n1, n1, {
              heads: nHeads, q: 'to_q', k: 'to_k', v: 'to_v', out: 'to_out.0', keepProbs: keepSelf && (selfMode === 'resolution' ? 'blocks' : true), probsBlockBytes: opts.attentionBlockBytes,
              probsAddTo: acc?.sums, upcast: c.upcast_attention ?? false, qkBias: false,
            });
          });
          let t = g.add(tok, a1.out);
          if (a1.probs) emitOut(a1.probs, `self_attn.${nn}`);
          if (byRes) selfByRes.set(key, { sums: a1.probBlocks!, n: (acc?.n ?? 0) + 1 });
          const n2 = L.layerNorm(t, 'norm2', 1e-5);
          const a2 = L.mod('attn2', () => {
            return attention(L, n2, ctx, {
              heads: nHeads, q: 'to_q', k: 'to_k', v: 'to_v', out: 'to_out.0', keepProbs: opts.crossAttention, upcast: c.upcast_attention ?? false, qkBias: false,
              ...(crossMask && { masks: [crossMask] }),
            });
          });
          t = g.add(t, a2.out);
          if (a2.probs) emitOut(a2.probs, `cross_attn.${nn}`);
          const n3 = L.layerNorm(t, 'norm3', 1e-5);
          const ff = L.mod('ff', () => {
            const n = n3;
            const proj = L.mod('net.0', () => L.linear(n, 'proj')); // GEGLU: [value | gate]
            const inner = (proj.shape![2] as number) / 2;
            const [val, gate] = g.split(proj, [inner, inner], 2);
            return L.linear(g.mul(val!, g.gelu(gate!)), 'net.2');
          });
          return g.add(t, ff);
        });
      }
      const back = c.use_linear_projection ? fromTokens(L.linear(tok, 'proj_out')) : L.conv(fromTokens(tok), 'proj_out', { pad: 0 });
      return g.add(back, x);
    });

  // ---- forward ----
  let h = L.conv(x0, 'conv_in');
  tap(h, 'conv_in');
  const skips: Value[] = [h];
  for (let i = 0; i < nBlocks; i++) {
    const type = c.down_block_types[i]!;
    const outCh = c.block_out_channels[i]!;
    h = L.mod(`down_blocks.${i}`, () => {
      let x = h;
      for (let j = 0; j < c.layers_per_block; j++) {
        x = resnet(x, `resnets.${j}`, outCh);
        if (type === 'CrossAttnDownBlock2D') x = transformer(x, `attentions.${j}`, heads[i]!, tlayers[i]!, i);
        tapModule(x, `down_blocks.${i}.${type === 'CrossAttnDownBlock2D' ? 'attentions' : 'resnets'}.${j}`);
        skips.push(x);
      }
      if (i < nBlocks - 1) {
        x = L.mod('downsamplers.0', () =>
          c.downsample_padding === 0 ? L.conv(x, 'conv', { stride: 2, pads: [0, 0, 1, 1] }) : L.conv(x, 'conv', { stride: 2, pad: c.downsample_padding }));
        tapModule(x, `down_blocks.${i}.downsamplers.0`);
        skips.push(x);
      }
      return x;
    });
    tap(h, `down_block.${i}`);
  }

  const topCh = c.block_out_channels[nBlocks - 1]!;
  if (c.mid_block_type) {
    h = L.mod('mid_block', () => {
      let x = resnet(h, 'resnets.0', topCh);
      x = transformer(x, 'attentions.0', heads[nBlocks - 1]!, tlayers[nBlocks - 1]!, nBlocks - 1);
      return resnet(x, 'resnets.1', topCh);
    });
    tap(h, 'mid_block');
  }

  const revCh = [...c.block_out_channels].reverse();
  const revHeads = [...heads].reverse();
  const revLayers = [...tlayers].reverse();
  for (let i = 0; i < nBlocks; i++) {
    const type = c.up_block_types[i]!;
    const outCh = revCh[i]!;
    h = L.mod(`up_blocks.${i}`, () => {
      let x = h;
      for (let j = 0; j <= c.layers_per_block; j++) {
        const skip = skips.pop();
        if (!skip) throw new Error('UNet skip connections exhausted: config does not match the block layout');
        x = g.concat([x, skip], 1);
        tapModule(x, `up_blocks.${i}.resnets.${j}.input`);
        x = resnet(x, `resnets.${j}`, outCh);
        if (type === 'CrossAttnUpBlock2D') x = transformer(x, `attentions.${j}`, revHeads[i]!, revLayers[i]!, nBlocks - 1 - i);
        tapModule(x, `up_blocks.${i}.${type === 'CrossAttnUpBlock2D' ? 'attentions' : 'resnets'}.${j}`);
      }
      if (i < nBlocks - 1) {
        x = L.mod('upsamplers.0', () => {
          const up = g.resize(x, { scales: [1, 1, 2, 2], mode: 'nearest', coordinateTransformationMode: 'asymmetric', nearestMode: 'floor' });
          return L.conv(up, 'conv');
        });
        tapModule(x, `up_blocks.${i}.upsamplers.0`);
      }
      return x;
    });
    tap(h, `up_block.${i}`);
  }

  if (!opts.omitNoisePred) {
    const out = L.conv(g.silu(L.groupNorm(h, 'conv_norm_out', c.norm_num_groups, c.norm_eps)), 'conv_out');
    emitOut(out, 'noise_pred');
  }

  for (const [key, { sums, n }] of selfByRes) {
    const means = n === 1 ? sums : sums.map((s) => g.div(s, n));
    emitOut(means.length === 1 ? means[0]! : g.concat(means, 1), `self_attn_mean.${key}`);
  }

  return { graph: g, attentionLayers: attnLayers, outputs };
}
