// The golden case kinds the project implements, by the `kind` of a case's manifest.json. A new kind is one module
// exporting a GoldenKind and one line here.
import type { GoldenKind } from './compare';
import { alphaClipKind } from './alphaClip';
import { clipPreprocessKind } from './clipPreprocess';
import { clipTextKind } from './clipText';
import { clipTokenizerKind } from './clipTokenizer';
import { clipVisionKind } from './clipVision';
import { cv2ResizeKind } from './cv2Resize';
import { groundingModuleKind } from './groundingModule';
import { mask2formerDecoderKind } from './mask2formerDecoder';
import { msDeformAttnKind } from './msDeformAttn';
import { odiseInferenceKind } from './odiseInference';
import { peekabooAlphaKind } from './peekabooAlpha';
import { schedulersKind } from './schedulers';
import { torchPicklesKind } from './torchPickles';
import { unetKind } from './unet';
import { unetMaskedKind } from './unetMasked';
import { vaeKind } from './vae';
import { vaeGradKind } from './vaeGrad';

export const GOLDEN_KINDS: Readonly<Record<string, GoldenKind>> = {
  unet: unetKind,
  unet_masked: unetMaskedKind,
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
  vae_grad: vaeGradKind,
  peekaboo_alpha: peekabooAlphaKind,
  cv2_resize: cv2ResizeKind,
};
