// detectron2's BottleneckBlock (modeling/backbone/resnet.py) as ODISE builds its feature projections: stride 1, one
// group, GroupNorm(32) after every convolution, a 1×1 shortcut (with its norm) only where the widths differ.
import type { Value } from '../../graph/builder';
import type { Layers } from '../nn';

/** torch's GroupNorm default, and detectron2's get_norm('GN', C) = GroupNorm(32, C). */
const GN_EPS = 1e-5;
const GN_GROUPS = 32;

export function bottleneckBlock(L: Layers, x: Value, name: string): Value {
  const g = L.g;
  return L.mod(name, () => {
    // Conv2d(bias=False, norm=…): the kernel and its norm share the module (`conv1.weight`, `conv1.norm.*`).
    const convNorm = (v: Value, m: string, pad = 0) =>
      L.mod(m, () => L.groupNorm(g.conv(v, L.param('weight'), null, { strides: [1, 1], pads: [pad, pad, pad, pad] }), 'norm', GN_GROUPS, GN_EPS));
    let h = g.relu(convNorm(x, 'conv1'));
    h = g.relu(convNorm(h, 'conv2', 1));
    h = convNorm(h, 'conv3');
    const shortcut = L.has('shortcut.weight') ? convNorm(x, 'shortcut') : x;
    return g.relu(g.add(h, shortcut));
  });
}
