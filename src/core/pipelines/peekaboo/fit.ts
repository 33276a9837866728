// Starting Peekaboo from a mask: the alpha MLP is fitted to it (a few Adam steps on ½·mean (alpha − mask)², one graph
// call each, parameters in and out as in the step graph), so the score distillation refines a mask that is nearly
// right instead of finding one from a random start. The alpha is the step graph's own (its forward is included, so
// the MLP, the features and the blur are the step's); the encoder is not on its path and is left out.
import { GraphBuilder, gradients, type Value } from '../../ml/graph';
import type { BilateralOptions } from '../../ml/models/peekaboo';
import type { RunPriority } from '../../ml/runtime';
import { buildFixtureEncoder } from './fixture';
import type { PeekabooModels } from './models';
import { ADAM, adamDirection, buildStepGraph, mlpParameters } from './step';

/**
 * Adam's steps and rate for the fit. Tried on the fixture scene at alpha side 64 (docs/peekaboo.md, "Faster
 * settings"): 20 steps at 1e-2 from the random start fit a start mask 4 px too large (IoU 0.79 with the disk) closely
 * enough that 10 Peekaboo iterations then bring it to 0.96. A step is one forward and backward of the MLP and the blur,
 * no encoder: there about 0.85 of an iteration, on SD (where the encoder dominates an iteration) far less.
 */
export const FIT = { steps: 20, learningRate: 1e-2 } as const;

export interface FitGraphOptions {
  size: number;
  frequencies: number;
  blur: BilateralOptions;
}

/**
 * One Adam step of the MLP towards `target` [1,S,S]. Inputs: guide_image, freqs, `param.<name>`, `adam_m.<name>`,
 * `adam_v.<name>`, lr (carrying 1/(1 − β₁ᵗ)), adam_bias2 (1/(1 − β₂ᵗ)), target. Outputs: `next.<name>` and the
 * moments, and alpha [1,S,S] of the parameters given.
 */
export function buildFitGraph(o: FitGraphOptions): GraphBuilder {
  const S = o.size, F = o.frequencies;
  // The step graph needs an encoder to be built; the alpha does not depend on it and `include` takes only its path.
  const step = buildStepGraph(buildFixtureEncoder(8), { ...o, compositeSize: 8, scalingFactor: 1, gravity: 0, optimizer: 'sgd', forwardOnly: true });
  const g = new GraphBuilder('peekaboo_fit');
  const specs = mlpParameters(F);
  const theta = specs.map((p) => g.input(`param.${p.name}`, 'float32', p.shape));
  const feeds: Record<string, Value> = { guide_image: g.input('guide_image', 'float32', [3, S, S]), freqs: g.input('freqs', 'float32', [2, F]) };
  specs.forEach((p, i) => (feeds[`param.${p.name}`] = theta[i]!));
  const alpha = g.include(step, feeds, [step.value('alpha')])(step.value('alpha'));
  g.output(alpha, 'alpha');
  // The loss's gradient at the alpha is (alpha − target)/S²: injected as the seed.
  const seed = g.mul(g.sub(alpha, g.input('target', 'float32', [1, S, S])), 1 / (S * S));
  const { grads } = gradients(g, [alpha], theta, [seed]);
  const lr = g.input('lr', 'float32', []), bias2 = g.input('adam_bias2', 'float32', []);
  g.scope('update', () =>
    specs.forEach((p, i) => g.output(g.sub(theta[i]!, g.mul(adamDirection(g, p, grads[i]!, bias2), lr)), `next.${p.name}`)),
  );
  return g;
}

/** The MLP parameters `theta` after FIT.steps Adam steps towards `target` [S²] (0/1, the alpha's square). */
export async function fitToMask(
  models: PeekabooModels, o: FitGraphOptions, x: { guide: Float32Array; freqs: Float32Array; theta: Float32Array[]; target: Float32Array },
  run: { signal?: AbortSignal; priority: RunPriority },
): Promise<Float32Array[]> {
  const S = o.size, specs = mlpParameters(o.frequencies), names = specs.map((s) => s.name);
  const outputs = names.flatMap((n) => [`next.${n}`, `next_adam_m.${n}`, `next_adam_v.${n}`]);
  let theta = x.theta;
  let moments: Float32Array[][] = specs.map((s) => [new Float32Array(s.shape.reduce((a, b) => a * b, 1)), new Float32Array(s.shape.reduce((a, b) => a * b, 1))]);
  for (let k = 1; k <= FIT.steps; k++) {
    run.signal?.throwIfAborted();
    // Inputs are copied: the inference worker takes ownership of the buffers it is sent.
    const feeds: Record<string, { data: Float32Array; dims: number[] }> = {
      guide_image: { data: x.guide.slice(), dims: [3, S, S] },
      freqs: { data: x.freqs.slice(), dims: [2, o.frequencies] },
      target: { data: x.target.slice(), dims: [1, S, S] },
      lr: { data: Float32Array.of(FIT.learningRate / (1 - ADAM.beta1 ** k)), dims: [] },
      adam_bias2: { data: Float32Array.of(1 / (1 - ADAM.beta2 ** k)), dims: [] },
    };
    specs.forEach((s, i) => {
      feeds[`param.${s.name}`] = { data: theta[i]!.slice(), dims: s.shape };
      feeds[`adam_m.${s.name}`] = { data: moments[i]![0]!.slice(), dims: s.shape };
      feeds[`adam_v.${s.name}`] = { data: moments[i]![1]!.slice(), dims: s.shape };
    });
    const r = await models.step(`fit:${JSON.stringify(o)}`, () => buildFitGraph(o), feeds, outputs, run);
    theta = names.map((n) => r[`next.${n}`]!.data as Float32Array);
    moments = names.map((n) => [r[`next_adam_m.${n}`]!.data as Float32Array, r[`next_adam_v.${n}`]!.data as Float32Array]);
  }
  return theta;
}
