// diffusers AutoencoderKL encoder (posterior mean and std) and decoder as ONNX graphs.
// The 0.18215 scaling_factor is NOT applied here, exactly as in AutoencoderKL: pipelines apply it.
import { z } from 'zod';
import { GraphBuilder, Value } from '../graph/builder';
import type { Dim } from '../graph/shape';
import type { WeightSource } from '../weights/source';
import { attention, Layers, type ComputeDType } from './nn';

export const VaeConfigSchema = z.object({
  in_channels: z.number().int().default(3),
  out_channels: z.number().int().default(3),
  down_block_types: z.array(z.literal('DownEncoderBlock2D')),
  up_block_types: z.array(z.literal('UpDecoderBlock2D')),
  block_out_channels: z.array(z.number().int()),
  layers_per_block: z.number().int().default(1),
  act_fn: z.literal('silu').default('silu'),
  latent_channels: z.number().int().default(4),
  norm_num_groups: z.number().int().default(32),
  scaling_factor: z.number().default(0.18215),
  mid_block_add_attention: z.boolean().default(true),
});
export type VaeConfig = z.infer<typeof VaeConfigSchema>;

export function parseVaeConfig(json: unknown): VaeConfig {
  const r = VaeConfigSchema.safeParse(json);
  if (!r.success) throw new Error(`unsupported or invalid VAE config: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

export const SD15_VAE_CONFIG: VaeConfig = parseVaeConfig({
  block_out_channels: [128, 256, 512, 512], down_block_types: Array(4).fill('DownEncoderBlock2D'),
  up_block_types: Array(4).fill('UpDecoderBlock2D'), layers_per_block: 2, latent_channels: 4, norm_num_groups: 32,
});

export interface VaeBuildOptions {
  dtype?: ComputeDType;
  batch?: Dim;
  height?: Dim;
  width?: Dim;
  /**
   * Extra outputs. Encoder: `down_block.i`, `mid_block`, `encoder_out` (before quant_conv), `moments`, `latent_logvar`.
   * Decoder: `post_quant_conv`, `mid_block`, `up_block.i`. true = all. Listed by name only (not in true): the input
   * of a resnet, `down_blocks.i.resnets.j.input` (encoder) and `up_blocks.i.resnets.j.input` (decoder), ODISE's taps.
   */
  features?: boolean | string[];
  /** Head-averaged probabilities of the single-head mid-block attention, `mid_attn` [B,HW,HW]. */
  midAttention?: boolean;
}

const EPS = 1e-6; // diffusers' VAE uses 1e-6 in every GroupNorm

function common(c: VaeConfig, weights: WeightSource, name: string, opts: VaeBuildOptions) {
  const dtype = opts.dtype ?? 'float32';
  const g = new GraphBuilder(name);
  const L = new Layers(g, weights, dtype);
  const outputs: string[] = [];
  const emit = (v: Value, n: string) => {
    g.output(g.cast(v, 'float32'), n);
    outputs.push(n);
  };
  const want = (n: string) => opts.features === true || (Array.isArray(opts.features) && opts.features.includes(n));
  const tap = (v: Value, n: string) => {
    if (want(n)) emit(v, n);
  };
  const tapInput = (v: Value, n: string) => {
    if (Array.isArray(opts.features) && opts.features.includes(n)) emit(v, n);
  };
  const resnet = (x: Value, m: string): Value =>
    L.mod(m, () => {
      let h = L.conv(g.silu(L.groupNorm(x, 'norm1', c.norm_num_groups, EPS)), 'conv1');
      h = L.conv(g.silu(L.groupNorm(h, 'norm2', c.norm_num_groups, EPS)), 'conv2');
      const sc = L.has('conv_shortcut.weight') ? L.conv(x, 'conv_shortcut', { pad: 0 }) : x;
      return g.add(sc, h);
    });
  const midBlock = (x: Value): Value =>
    L.mod('mid_block', () => {
      let h = resnet(x, 'resnets.0');
      if (c.mid_block_add_attention) {
        h = L.mod('attentions.0', () => {
          const n = L.groupNorm(h, 'group_norm', c.norm_num_groups, EPS);
          const tok = g.transpose(g.reshape(n, [0, 0, -1]), [0, 2, 1]);
          const a = attention(L, tok, tok, { heads: 1, q: 'to_q', k: 'to_k', v: 'to_v', out: 'to_out.0', keepProbs: opts.midAttention });
          if (a.probs) emit(a.probs, 'mid_attn');
          return g.add(g.reshape(g.transpose(a.out, [0, 2, 1]), g.shape(h)), h);
        });
      }
      return resnet(h, 'resnets.1');
    });
  return { g, L, dtype, outputs, emit, tap, tapInput, resnet, midBlock };
}

/** image [B,3,H,W] in [-1,1] -> latent_mean, latent_std [B,latent,H/8,W/8] (diag Gaussian posterior). */
export function buildVaeEncoder(c: VaeConfig, weights: WeightSource, opts: VaeBuildOptions = {}): { graph: GraphBuilder; outputs: string[] } {
  const { g, L, dtype, outputs, emit, tap, tapInput, resnet, midBlock } = common(c, weights, 'vae_encoder', opts);
  const image = g.input('image', 'float32', [opts.batch ?? 'batch', c.in_channels, opts.height ?? 'height', opts.width ?? 'width']);
  const n = c.block_out_channels.length;
  let h = L.mod('encoder', () => {
    let x = L.conv(g.cast(image, dtype), 'conv_in');
    for (let i = 0; i < n; i++) {
      x = L.mod(`down_blocks.${i}`, () => {
        let y = x;
        for (let j = 0; j < c.layers_per_block; j++) {
          tapInput(y, `down_blocks.${i}.resnets.${j}.input`);
          y = resnet(y, `resnets.${j}`);
        }
        // diffusers pads right/bottom by one, then a stride-2 conv without padding
        if (i < n - 1) y = L.mod('downsamplers.0', () => L.conv(y, 'conv', { stride: 2, pads: [0, 0, 1, 1] }));
        return y;
      });
      tap(x, `down_block.${i}`);
    }
    x = midBlock(x);
    tap(x, 'mid_block');
    return L.conv(g.silu(L.groupNorm(x, 'conv_norm_out', c.norm_num_groups, EPS)), 'conv_out');
  });
  tap(h, 'encoder_out');
  h = L.conv(h, 'quant_conv', { pad: 0 });
  tap(h, 'moments');
  const f = g.cast(h, 'float32'); // posterior statistics in float32
  const lc = c.latent_channels;
  const [mean, logvarRaw] = g.split(f, [lc, lc], 1);
  const logvar = g.clip(logvarRaw!, -30, 20);
  emit(mean!, 'latent_mean');
  emit(g.exp(g.mul(logvar, 0.5)), 'latent_std');
  tap(logvar, 'latent_logvar');
  return { graph: g, outputs };
}

/** latent [B,latent,h,w] (already divided by the scaling factor) -> sample [B,3,8h,8w]. */
export function buildVaeDecoder(c: VaeConfig, weights: WeightSource, opts: VaeBuildOptions = {}): { graph: GraphBuilder; outputs: string[] } {
  const { g, L, dtype, outputs, emit, tap, tapInput, resnet, midBlock } = common(c, weights, 'vae_decoder', opts);
  const z = g.input('latent', 'float32', [opts.batch ?? 'batch', c.latent_channels, opts.height ?? 'height', opts.width ?? 'width']);
  const n = c.block_out_channels.length;
  const pq = L.conv(g.cast(z, dtype), 'post_quant_conv', { pad: 0 });
  tap(pq, 'post_quant_conv');
  const out = L.mod('decoder', () => {
    let x = L.conv(pq, 'conv_in');
    x = midBlock(x);
    tap(x, 'mid_block');
    for (let i = 0; i < n; i++) {
      x = L.mod(`up_blocks.${i}`, () => {
        let y = x;
        for (let j = 0; j <= c.layers_per_block; j++) {
          tapInput(y, `up_blocks.${i}.resnets.${j}.input`);
          y = resnet(y, `resnets.${j}`);
        }
        if (i < n - 1) {
          y = L.mod('upsamplers.0', () =>
            L.conv(g.resize(y, { scales: [1, 1, 2, 2], mode: 'nearest', coordinateTransformationMode: 'asymmetric', nearestMode: 'floor' }), 'conv'));
        }
        return y;
      });
      tap(x, `up_block.${i}`);
    }
    return L.conv(g.silu(L.groupNorm(x, 'conv_norm_out', c.norm_num_groups, EPS)), 'conv_out');
  });
  emit(out, 'sample');
  return { graph: g, outputs };
}
