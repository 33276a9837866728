// One Peekaboo optimisation step as one ONNX graph (onnxruntime-node has no training API, so the backward pass and
// the update are graph nodes too, emitted by graph/autodiff.ts):
//
//   alpha(θ) → composite on the step's background colour → bilinear to the composite size → VAE encoder → latent
//   sample 0.18215·(mean + std·ε₁)  ──  backward from the score-distillation gradient g at the latent (an input: the
//   UNet is never differentiated) plus gravity·Σ alpha  ──  SGD or Adam update of θ
//   then alpha(θ') and the latent of θ' on the NEXT step's colour and ε₁, for the next UNet call.
//
// The latent the UNet needs must exist before g does, so a step recomputes its own forward (its activations are not
// kept between calls) and ends with the next step's forward: one call per step, two forwards and one backward.
// A call with learning rate 0 and g = 0 gives the first latent. Parameters travel as inputs and outputs.
import { GraphBuilder, gradients, type Value } from '../../ml/graph';
import { bilateralWeights, blurredAlpha, composite, fourierMlp, type BilateralOptions } from '../../ml/models/peekaboo';
import type { Optimizer } from './params';

/** The MLP's width (learnable_textures.py:455). */
export const HIDDEN = 256;
export const ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8 } as const;

export interface StepGraphOptions {
  /** Alpha side S. */
  size: number;
  frequencies: number;
  blur: BilateralOptions;
  /** Composite side P (the encoder's input side). */
  compositeSize: number;
  scalingFactor: number;
  gravity: number;
  optimizer: Optimizer;
  /** Only the first forward (alpha and latent of θ): the benchmark's peer, to price the backward and the update. */
  forwardOnly?: boolean;
}

/**
 * The trainable tensors by the reference's state-dict names, their shapes (2F input features) and PyTorch's default
 * initialisation: Conv2d weights and biases U(±1/√fan_in), BatchNorm γ = 1 and β = 0.
 */
export function mlpParameters(frequencies: number): { name: string; shape: number[]; init: { uniform: number } | { fill: number } }[] {
  const out: ReturnType<typeof mlpParameters> = [];
  const conv = (i: number, o: number, fanIn: number) => {
    const init = { uniform: 1 / Math.sqrt(fanIn) };
    out.push({ name: `model.${i}.weight`, shape: [o, fanIn, 1, 1], init }, { name: `model.${i}.bias`, shape: [o], init });
  };
  let fanIn = 2 * frequencies;
  for (const [c, bn] of [[0, 2], [3, 5], [6, 8]] as const) {
    conv(c, HIDDEN, fanIn);
    out.push({ name: `model.${bn}.weight`, shape: [HIDDEN], init: { fill: 1 } }, { name: `model.${bn}.bias`, shape: [HIDDEN], init: { fill: 0 } });
    fanIn = HIDDEN;
  }
  conv(9, 1, HIDDEN);
  return out;
}

/**
 * The step graph around `encoder` (an image [1,3,P,P] in [−1,1] → latent_mean, latent_std graph, included with its
 * weights shared). Inputs: guide_image [3,S,S] in [0,1], freqs [2,F], `param.<name>` (and `adam_m.<name>`,
 * `adam_v.<name>`), lr, adam_bias2 (Adam: 1/(1 − β₂ᵗ); lr carries 1/(1 − β₁ᵗ)), background [3], eps [1,c,h,w],
 * grad_latent [1,c,h,w], next_background, next_eps. Outputs: `next.<name>` (and the moments), alpha [1,S,S] and
 * latent [1,c,h,w] of the updated parameters.
 */
export function buildStepGraph(encoder: GraphBuilder, o: StepGraphOptions): GraphBuilder {
  const g = new GraphBuilder('peekaboo_step');
  const S = o.size, P = o.compositeSize, F = o.frequencies;
  const mean = encoder.value('latent_mean'), std = encoder.value('latent_std');
  const latentDims = mean.dims() as number[];

  const guide = g.input('guide_image', 'float32', [3, S, S]);
  const weights = g.scope('bilateral', () => bilateralWeights(g, guide, o.blur));
  const features = g.scope('features', () => fourierFeatureGraph(g, g.input('freqs', 'float32', [2, F]), S));
  const specs = mlpParameters(F);
  const params = new Map(specs.map((p) => [p.name, g.input(`param.${p.name}`, 'float32', p.shape)]));

  const forward = (scope: string, theta: Map<string, Value>, background: Value, eps: Value) =>
    g.scope(scope, () => {
      const mlp = fourierMlp(g, features, (n) => theta.get(n)!);
      const { alpha } = blurredAlpha(g, g.reshape(mlp.out, [1, S, S]), weights, o.blur.iterations);
      const rgb = g.unsqueeze(composite(g, guide, alpha, background), [0]);
      const big = S === P ? rgb : g.resize(rgb, { sizes: [1, 3, P, P], mode: 'linear', coordinateTransformationMode: 'pytorch_half_pixel' });
      const at = g.include(encoder, { image: g.sub(g.mul(big, 2), 1) }, [mean, std]);
      return { alpha, latent: g.mul(g.add(at(mean), g.mul(at(std), eps)), o.scalingFactor) };
    });

  const now = forward('forward', params, g.input('background', 'float32', [3]), g.input('eps', 'float32', latentDims));
  if (o.forwardOnly) {
    g.output(now.alpha, 'alpha');
    g.output(now.latent, 'latent');
    return g;
  }
  const seed = g.input('grad_latent', 'float32', latentDims);
  const theta = specs.map((p) => params.get(p.name)!);
  // d/dθ [⟨g, latent⟩ + gravity·Σ alpha]: the reference's latent.backward(g) and its gravity term's backward.
  const { grads } = gradients(g, [now.latent, now.alpha], theta, [seed, o.gravity]);

  const lr = g.input('lr', 'float32', []);
  const next = new Map<string, Value>();
  g.scope('update', () => {
    const bias2 = o.optimizer === 'adam' ? g.input('adam_bias2', 'float32', []) : null;
    specs.forEach((p, i) => {
      const x = theta[i]!, d = grads[i]!;
      let step: Value;
      if (bias2) step = adamDirection(g, p, d, bias2);
      else step = d;
      next.set(p.name, g.output(g.sub(x, g.mul(step, lr)), `next.${p.name}`));
    });
  });
  const after = forward('next', next, g.input('next_background', 'float32', [3]), g.input('next_eps', 'float32', latentDims));
  g.output(after.alpha, 'alpha');
  g.output(after.latent, 'latent');
  return g;
}

/**
 * Adam's direction for parameter `p` with gradient `d` (lr, carrying 1/(1 − β₁ᵗ), multiplies it): reads
 * `adam_m.<name>` and `adam_v.<name>`, outputs their next values.
 */
export function adamDirection(g: GraphBuilder, p: { name: string; shape: number[] }, d: Value, bias2: Value): Value {
  const m = g.output(g.add(g.mul(g.input(`adam_m.${p.name}`, 'float32', p.shape), ADAM.beta1), g.mul(d, 1 - ADAM.beta1)), `next_adam_m.${p.name}`);
  const v = g.output(g.add(g.mul(g.input(`adam_v.${p.name}`, 'float32', p.shape), ADAM.beta2), g.mul(g.mul(d, d), 1 - ADAM.beta2)), `next_adam_v.${p.name}`);
  return g.div(m, g.add(g.sqrt(g.mul(v, bias2)), ADAM.eps));
}

/**
 * Fourier features [1, 2F, S, S] from freqs [2, F] (learnable_textures.py:25-102): uv = (j/S, i/S) at pixel (i, j),
 * sin then cos of 2π·uv·freqs. In the graph, so the step's inputs stay small.
 */
function fourierFeatureGraph(g: GraphBuilder, freqs: Value, S: number): Value {
  const uv = new Float32Array(S * S * 2);
  for (let i = 0; i < S; i++) {
    for (let j = 0; j < S; j++) {
      uv[(i * S + j) * 2] = j / S;
      uv[(i * S + j) * 2 + 1] = i / S;
    }
  }
  const arg = g.mul(g.matmul(g.constant(uv, 'float32', [S * S, 2]), freqs), 2 * Math.PI); // [S², F]
  const f = g.transpose(g.concat([g.sin(arg), g.cos(arg)], 1), [1, 0]); // [2F, S²]
  return g.reshape(f, [1, -1, S, S]);
}
