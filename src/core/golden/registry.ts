// The golden case kinds the project implements, by the `kind` of a case's manifest.json. A new kind is one module
// exporting a GoldenKind and one line here.
import type { GoldenKind } from './compare';
import { alphaClipKind } from './alphaClip';
import { clipPreprocessKind } from './clipPreprocess';
import { clipTextKind } from './clipText';
import { clipTokenizerKind } from './clipTokenizer';
import { clipVisionKind } from './clipVision';
import { groundingModuleKind } from './groundingModule';
import { mask2formerDecoderKind } from './mask2formerDecoder';
import { msDeformAttnKind } from './msDeformAttn';
import { odiseInferenceKind } from './odiseInference';
import { schedulersKind } from './schedulers';
import { torchPicklesKind } from './torchPickles';
import { unetKind } from './unet';
import { vaeKind } from './vae';

export const GOLDEN_KINDS: Readonly<Record<string, GoldenKind>> = {
  unet: unetKind,
  vae: vaeKind,
  clip_text: clipTextKind,
  clip_tokenizer: clipTokenizerKind,
  torch_pickles: torchPicklesKind,
  schedulers: schedulersKind,
  clip_vision: clipVisionKind,
  alpha_clip: alphaClipKind,
  clip_preprocess: clipPreprocessKind,
  grounding_module: groundingModuleKind,
  msdeform_attn: msDeformAttnKind,
  mask2former_decoder: mask2formerDecoderKind,
  odise_inference: odiseInferenceKind,
};
