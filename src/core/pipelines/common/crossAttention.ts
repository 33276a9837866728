// Cross-attention maps read per category (the DAAM idea): where a category's BPE tokens sit in a prompt, and the
// attention the image's cells give them, summed over a UNet's layers (each map upsampled to the latent's 64² first).
// Attention grounding (grounded/attention.ts) and the vocabulary mode (vocabulary/) read them.
import type { ClipTokenizer } from '../../ml/tokenizer';
import { resizeBilinearPlanes } from '../refldmseg/resize';

export const HEAT_SIDE = 64;

/**
 * Where `words`' BPE tokens sit in the prompt's token row (0 is the start token), at their first occurrence at or
 * after token `from` (of the prompt without its start token); null when they are not there.
 */
export function tokenPositions(tokenizer: ClipTokenizer, prompt: string, words: string, from = 0): number[] | null {
  const p = tokenizer.encode(prompt);
  const c = tokenizer.encode(words);
  for (let i = from; c.length && i + c.length <= p.length; i++) {
    if (c.every((id, k) => p[i + k] === id)) return c.map((_, k) => i + k + 1);
  }
  return null;
}

/** Token groups' heat maps at 64², summed over every call and layer it is given. */
export class CrossAttentionHeat {
  private readonly sums: Float32Array[];
  private layers = 0;

  constructor(private readonly positions: number[][], private readonly contextLength: number) {
    this.sums = positions.map(() => new Float32Array(HEAT_SIDE * HEAT_SIDE));
  }

  /**
   * One call's maps, each [B, S², L]: only the last batch item is read, the conditional half of a guidance pair
   * (B = 2) or a single pass's own (B = 1).
   */
  add(maps: Float32Array[], batch = 2): void {
    const L = this.contextLength;
    for (const m of maps) {
      const cells = m.length / (batch * L);
      const side = Math.round(Math.sqrt(cells));
      if (side * side !== cells) throw new Error(`a cross-attention map of ${cells} cells is not square`);
      const at = (batch - 1) * cells;
      this.positions.forEach((pos, c) => {
        const plane = new Float32Array(cells);
        for (let q = 0; q < cells; q++) for (const j of pos) plane[q]! += m[(at + q) * L + j]!;
        const up = side === HEAT_SIDE ? plane : resizeBilinearPlanes(plane, 1, side, side, HEAT_SIDE, HEAT_SIDE);
        const sum = this.sums[c]!;
        for (let i = 0; i < sum.length; i++) sum[i]! += up[i]!;
      });
      this.layers++;
    }
  }

  /** Each group's heat divided by its maximum (0 … 1). */
  normalised(): Float32Array[] {
    return this.sums.map((s) => {
      const max = s.reduce((a, v) => Math.max(a, v), 0);
      return max > 0 ? s.map((v) => v / max) : s.slice();
    });
  }

  /** Each group's attention averaged over the layers added: per cell, the share of its attention the group's tokens take. */
  mean(): Float32Array[] {
    const n = Math.max(1, this.layers);
    return this.sums.map((s) => s.map((v) => v / n));
  }
}
