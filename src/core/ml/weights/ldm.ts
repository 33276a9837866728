// Original single-file SD 1.x checkpoints (CompVis/LDM key layout) -> diffusers/transformers names,
// following diffusers' convert_ldm_unet_checkpoint / convert_ldm_vae_checkpoint / convert_ldm_clip_checkpoint.
import { MappedSource, openTensorFile, type MappedEntry, type TensorFile } from './source';

export const LDM_PREFIX = { unet: 'model.diffusion_model.', vae: 'first_stage_model.', clip: 'cond_stage_model.transformer.' } as const;

const RESNET_LDM_TO_DIFF: [string, string][] = [
  ['in_layers.0.', 'norm1.'], ['in_layers.2.', 'conv1.'], ['emb_layers.1.', 'time_emb_proj.'],
  ['out_layers.0.', 'norm2.'], ['out_layers.3.', 'conv2.'], ['skip_connection.', 'conv_shortcut.'],
];

function renameResnet(rest: string, table: [string, string][]): string {
  for (const [a, b] of table) if (rest.startsWith(a)) return b + rest.slice(a.length);
  return rest;
}

/** UNet key without its `model.diffusion_model.` prefix -> diffusers name (null: not a UNet weight). */
export function ldmUnetKey(k: string, layersPerBlock: number): string | null {
  const per = layersPerBlock + 1;
  let m: RegExpExecArray | null;
  if ((m = /^time_embed\.([02])\.(.+)$/.exec(k))) return `time_embedding.linear_${m[1] === '0' ? 1 : 2}.${m[2]}`;
  if ((m = /^label_emb\.0\.([02])\.(.+)$/.exec(k))) return `class_embedding.linear_${m[1] === '0' ? 1 : 2}.${m[2]}`;
  if ((m = /^input_blocks\.0\.0\.(.+)$/.exec(k))) return `conv_in.${m[1]}`;
  if ((m = /^out\.([02])\.(.+)$/.exec(k))) return `${m[1] === '0' ? 'conv_norm_out' : 'conv_out'}.${m[2]}`;
  if ((m = /^input_blocks\.(\d+)\.(\d+)\.(.+)$/.exec(k))) {
    const i = Number(m[1]) - 1;
    const [b, l, j, rest] = [Math.floor(i / per), i % per, Number(m[2]), m[3]!];
    if (j === 0 && rest.startsWith('op.')) return `down_blocks.${b}.downsamplers.0.conv.${rest.slice(3)}`;
    if (j === 0) return `down_blocks.${b}.resnets.${l}.${renameResnet(rest, RESNET_LDM_TO_DIFF)}`;
    if (j === 1) return `down_blocks.${b}.attentions.${l}.${rest}`;
    return null;
  }
  if ((m = /^middle_block\.(\d)\.(.+)$/.exec(k))) {
    const [j, rest] = [Number(m[1]), m[2]!];
    if (j === 1) return `mid_block.attentions.0.${rest}`;
    return `mid_block.resnets.${j === 0 ? 0 : 1}.${renameResnet(rest, RESNET_LDM_TO_DIFF)}`;
  }
  if ((m = /^output_blocks\.(\d+)\.(\d+)\.(.+)$/.exec(k))) {
    const i = Number(m[1]);
    const [b, l, j, rest] = [Math.floor(i / per), i % per, Number(m[2]), m[3]!];
    // Upsample is the only submodule whose own parameters are `conv.*` (index 1 or 2 depending on attention).
    if (j > 0 && rest.startsWith('conv.')) return `up_blocks.${b}.upsamplers.0.conv.${rest.slice(5)}`;
    if (j === 0) return `up_blocks.${b}.resnets.${l}.${renameResnet(rest, RESNET_LDM_TO_DIFF)}`;
    if (j === 1) return `up_blocks.${b}.attentions.${l}.${rest}`;
    return null;
  }
  return null;
}

const VAE_ATTN: Record<string, string> = { norm: 'group_norm', q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0' };

/** VAE key without `first_stage_model.` -> diffusers name; `numUp` = decoder up blocks (LDM numbers them reversed). */
export function ldmVaeKey(k: string, numUp: number): { name: string; squeeze: boolean } | null {
  let m: RegExpExecArray | null;
  const res = (s: string) => s.replace(/^nin_shortcut\./, 'conv_shortcut.');
  if (/^(quant_conv|post_quant_conv)\./.test(k)) return { name: k, squeeze: false };
  if ((m = /^(encoder|decoder)\.(conv_in|conv_out)\.(.+)$/.exec(k))) return { name: k, squeeze: false };
  if ((m = /^(encoder|decoder)\.norm_out\.(.+)$/.exec(k))) return { name: `${m[1]}.conv_norm_out.${m[2]}`, squeeze: false };
  if ((m = /^encoder\.down\.(\d+)\.block\.(\d+)\.(.+)$/.exec(k))) return { name: `encoder.down_blocks.${m[1]}.resnets.${m[2]}.${res(m[3]!)}`, squeeze: false };
  if ((m = /^encoder\.down\.(\d+)\.downsample\.conv\.(.+)$/.exec(k))) return { name: `encoder.down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}`, squeeze: false };
  if ((m = /^decoder\.up\.(\d+)\.block\.(\d+)\.(.+)$/.exec(k)))
    return { name: `decoder.up_blocks.${numUp - 1 - Number(m[1])}.resnets.${m[2]}.${res(m[3]!)}`, squeeze: false };
  if ((m = /^decoder\.up\.(\d+)\.upsample\.conv\.(.+)$/.exec(k)))
    return { name: `decoder.up_blocks.${numUp - 1 - Number(m[1])}.upsamplers.0.conv.${m[2]}`, squeeze: false };
  if ((m = /^(encoder|decoder)\.mid\.block_([12])\.(.+)$/.exec(k)))
    return { name: `${m[1]}.mid_block.resnets.${Number(m[2]) - 1}.${res(m[3]!)}`, squeeze: false };
  if ((m = /^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(.+)$/.exec(k))) {
    // LDM used 1x1 convs for q/k/v/proj_out; diffusers uses Linear, so [C,C,1,1] weights become [C,C].
    return { name: `${m[1]}.mid_block.attentions.0.${VAE_ATTN[m[2]!]}.${m[3]}`, squeeze: m[2] !== 'norm' && m[3] === 'weight' };
  }
  return null;
}

/** CLIP key without `cond_stage_model.transformer.` -> transformers CLIPTextModel name (null: skipped). */
export function ldmClipKey(k: string): string | null {
  const name = k.startsWith('text_model.') ? k : `text_model.${k}`;
  if (name.endsWith('embeddings.position_ids')) return null; // a non-persistent buffer in transformers
  return name;
}

export interface SingleFileComponents {
  unet: MappedSource;
  vae: MappedSource;
  textEncoder: MappedSource;
  file: TensorFile;
  /** Checkpoint keys no rule recognised (EMA copies, model_ema.*, etc. are expected here). */
  unmapped: string[];
}

/** Opens an original SD 1.x single-file checkpoint and exposes its parts under diffusers names. */
export function openSingleFile(path: string | TensorFile, opts: { layersPerBlock?: number } = {}): SingleFileComponents {
  const file = typeof path === 'string' ? openTensorFile(path) : path;
  const lpb = opts.layersPerBlock ?? 2;
  const unet = new Map<string, MappedEntry>();
  const vae = new Map<string, MappedEntry>();
  const clip = new Map<string, MappedEntry>();
  const unmapped: string[] = [];
  const keys = file.keys();
  const ups = new Set(keys.map((k) => /^first_stage_model\.decoder\.up\.(\d+)\./.exec(k)?.[1]).filter((x) => x !== undefined));
  for (const k of keys) {
    let done = false;
    if (k.startsWith(LDM_PREFIX.unet)) {
      const n = ldmUnetKey(k.slice(LDM_PREFIX.unet.length), lpb);
      if (n) (unet.set(n, { src: k }), (done = true));
    } else if (k.startsWith(LDM_PREFIX.vae)) {
      const r = ldmVaeKey(k.slice(LDM_PREFIX.vae.length), ups.size);
      if (r) {
        const shape = file.info(k).shape;
        vae.set(r.name, r.squeeze ? { src: k, shape: shape.slice(0, 2) } : { src: k });
        done = true;
      }
    } else if (k.startsWith(LDM_PREFIX.clip)) {
      const n = ldmClipKey(k.slice(LDM_PREFIX.clip.length));
      if (n) clip.set(n, { src: k });
      done = true;
    }
    if (!done) unmapped.push(k);
  }
  const label = typeof path === 'string' ? path : 'checkpoint';
  return {
    unet: new MappedSource(file, unet, `${label} (unet)`),
    vae: new MappedSource(file, vae, `${label} (vae)`),
    textEncoder: new MappedSource(file, clip, `${label} (text encoder)`),
    file,
    unmapped,
  };
}

// ---- inverse (diffusers -> LDM), to write single-file checkpoints ------------------------------------------

/** diffusers UNet name -> LDM name (without prefix). */
export function diffusersToLdmUnetKey(k: string, layersPerBlock: number, upBlockHasAttention: (b: number) => boolean): string {
  const per = layersPerBlock + 1;
  const res = (s: string) => {
    for (const [a, b] of RESNET_LDM_TO_DIFF) if (s.startsWith(b)) return a + s.slice(b.length);
    return s;
  };
  let m: RegExpExecArray | null;
  if ((m = /^time_embedding\.linear_([12])\.(.+)$/.exec(k))) return `time_embed.${m[1] === '1' ? 0 : 2}.${m[2]}`;
  if ((m = /^conv_in\.(.+)$/.exec(k))) return `input_blocks.0.0.${m[1]}`;
  if ((m = /^conv_norm_out\.(.+)$/.exec(k))) return `out.0.${m[1]}`;
  if ((m = /^conv_out\.(.+)$/.exec(k))) return `out.2.${m[1]}`;
  if ((m = /^down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/.exec(k))) return `input_blocks.${1 + Number(m[1]) * per + Number(m[2])}.0.${res(m[3]!)}`;
  if ((m = /^down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$/.exec(k))) return `input_blocks.${1 + Number(m[1]) * per + Number(m[2])}.1.${m[3]}`;
  if ((m = /^down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)$/.exec(k))) return `input_blocks.${1 + Number(m[1]) * per + layersPerBlock}.0.op.${m[2]}`;
  if ((m = /^mid_block\.resnets\.([01])\.(.+)$/.exec(k))) return `middle_block.${m[1] === '0' ? 0 : 2}.${res(m[2]!)}`;
  if ((m = /^mid_block\.attentions\.0\.(.+)$/.exec(k))) return `middle_block.1.${m[1]}`;
  if ((m = /^up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/.exec(k))) return `output_blocks.${Number(m[1]) * per + Number(m[2])}.0.${res(m[3]!)}`;
  if ((m = /^up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$/.exec(k))) return `output_blocks.${Number(m[1]) * per + Number(m[2])}.1.${m[3]}`;
  if ((m = /^up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)$/.exec(k))) {
    const b = Number(m[1]);
    return `output_blocks.${b * per + layersPerBlock}.${upBlockHasAttention(b) ? 2 : 1}.conv.${m[2]}`;
  }
  throw new Error(`no LDM name for UNet weight '${k}'`);
}

/** diffusers VAE name -> LDM name (without prefix) and whether the weight gains 1x1 conv dims. */
export function diffusersToLdmVaeKey(k: string, numUp: number): { name: string; unsqueeze: boolean } {
  let m: RegExpExecArray | null;
  const res = (s: string) => s.replace(/^conv_shortcut\./, 'nin_shortcut.');
  const inv = Object.fromEntries(Object.entries(VAE_ATTN).map(([a, b]) => [b, a]));
  if ((m = /^(encoder|decoder)\.conv_norm_out\.(.+)$/.exec(k))) return { name: `${m[1]}.norm_out.${m[2]}`, unsqueeze: false };
  if ((m = /^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/.exec(k))) return { name: `encoder.down.${m[1]}.block.${m[2]}.${res(m[3]!)}`, unsqueeze: false };
  if ((m = /^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)$/.exec(k))) return { name: `encoder.down.${m[1]}.downsample.conv.${m[2]}`, unsqueeze: false };
  if ((m = /^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/.exec(k)))
    return { name: `decoder.up.${numUp - 1 - Number(m[1])}.block.${m[2]}.${res(m[3]!)}`, unsqueeze: false };
  if ((m = /^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)$/.exec(k)))
    return { name: `decoder.up.${numUp - 1 - Number(m[1])}.upsample.conv.${m[2]}`, unsqueeze: false };
  if ((m = /^(encoder|decoder)\.mid_block\.resnets\.([01])\.(.+)$/.exec(k))) return { name: `${m[1]}.mid.block_${Number(m[2]) + 1}.${res(m[3]!)}`, unsqueeze: false };
  if ((m = /^(encoder|decoder)\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\.(.+)$/.exec(k)))
    return { name: `${m[1]}.mid.attn_1.${inv[m[2]!]}.${m[3]}`, unsqueeze: m[2] !== 'group_norm' && m[3] === 'weight' };
  return { name: k, unsqueeze: false };
}
