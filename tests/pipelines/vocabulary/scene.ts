// The vocabulary mode's fixture scene: a red disk and a blue square on grey (shapes 1 and 2 of refldmseg/scenes'
// scene; shape 0 is the grey ground). The square's sides lie on the fixture's 8-pixel latent grid of the 512² letterbox.
import { scene } from '../refldmseg/scenes';

export const GREY = [128, 128, 128] as const;
export const RED = [220, 30, 30] as const;
export const BLUE = [30, 40, 220] as const;

export const colourScene = () =>
  scene(512, 384, [
    { kind: 'rect', x0: 0, y0: 0, x1: 512, y1: 384, colour: GREY },
    { kind: 'disk', cx: 150, cy: 190, r: 90, colour: RED },
    { kind: 'rect', x0: 304, y0: 112, x1: 464, y1: 272, colour: BLUE },
  ]);
