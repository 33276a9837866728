// The two ways Ref LDM-Seg conditions diffusers' UNet beyond SD's: a projection of the context (Alpha-CLIP tokens,
// 1024 wide, to the cross-attention width) and a mask over the context tokens. Both as diffusers 0.27 applies them.
import type { GraphBuilder, Value } from '../graph/builder';
import type { Layers } from './nn';
import type { UNetConfig } from './unetConfig';

/**
 * `encoder_hid_proj` (a Linear with bias), applied once to encoder_hidden_states before the down blocks, so every
 * cross-attention sees the projected context (unet_2d_condition.py:1010-1011). Without encoder_hid_dim: ctx itself.
 */
export function projectContext(L: Layers, ctx: Value, c: UNetConfig): Value {
  return c.encoder_hid_dim === null ? ctx : L.linear(ctx, 'encoder_hid_proj');
}

/**
 * The cross-attention key bias of `encoder_attention_mask` m [B, M] (1 = attend, 0 = masked), [B, 1, 1, M] float32
 * to add to the scores [B, heads, N, M]: `(1 − m)·−10000` (unet_2d_condition.py:1131-1134), the same row for every
 * query and head. Not −∞: a row whose keys are all masked then equals the unmasked one (softmax is shift-invariant)
 * instead of becoming NaN, and a masked key's probability underflows to exactly 0 in float32.
 */
export function keyBias(g: GraphBuilder, mask: Value): Value {
  return g.unsqueeze(g.mul(g.sub(1, g.cast(mask, 'float32')), -10000), [1, 2]);
}
