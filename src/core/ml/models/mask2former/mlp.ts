// Mask2Former's MLP (transformer_decoder/mask2former_transformer_decoder.py:192-204): Linear layers `layers.i` with
// ReLU between them, none after the last.
import type { Value } from '../../graph/builder';
import type { Layers } from '../nn';

export function mlp(L: Layers, x: Value, name: string, layers = 3): Value {
  return L.mod(name, () => {
    let h = x;
    for (let i = 0; i < layers; i++) {
      h = L.linear(h, `layers.${i}`);
      if (i < layers - 1) h = L.g.relu(h);
    }
    return h;
  });
}
