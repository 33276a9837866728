// A second pipeline, written as a plug-in would be: "threshold by colour" proposes the pixels within a tolerance of
// one colour, one mask per 8-connected piece. It needs no model and no edit outside this file: tests register it
// with the registry's registerPipeline (the one registry line a built-in pipeline takes).
import { z } from 'zod';
import { area, connectedComponents } from '../../src/shared/masks';
import { labelMapToRles } from '../../src/core/pipelines/common/masks';
import type { Pipeline } from '../../src/core/pipelines/types';

const params = z
  .object({
    colour: z.string().regex(/^#[0-9a-f]{6}$/i, 'a colour is #rrggbb').default('#e6194b').meta({ title: 'Colour', description: 'the colour to find' }),
    tolerance: z.number().int().min(0).max(255).default(40).meta({ title: 'Tolerance', description: 'largest difference in any channel' }),
    minArea: z.number().int().min(1).default(16).meta({ title: 'Smallest piece', description: 'pieces with fewer pixels are left out' }),
  })
  .strict();

export type ToyParams = z.output<typeof params>;

export const toy: Pipeline<ToyParams> = {
  id: 'toy',
  title: 'Threshold by colour',
  description: 'Proposes every piece of the image within a tolerance of one colour',
  params,
  prompt: 'none',
  components: [],
  runLabel: 'threshold by colour',
  open: () => ({
    model: null,
    recorded: (p) => ({ ...p }),
    async run(image, p) {
      const { data, width, height } = await image.rgb();
      const c = [1, 3, 5].map((i) => parseInt(p.colour.slice(i, i + 2), 16));
      const labels = new Int32Array(width * height);
      for (let i = 0; i < labels.length; i++) labels[i] = c.every((v, k) => Math.abs(data[3 * i + k]! - v) <= p.tolerance) ? 1 : 0;
      const inside = labelMapToRles(labels, height, width, 2)[1];
      return (inside ? connectedComponents(inside) : []).filter((m) => area(m) >= p.minArea).map((mask) => ({ mask }));
    },
    dispose: async () => {},
  }),
};

