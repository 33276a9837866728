// The step graph's update is the gradient of L = ⟨g, latent⟩ + gravity·Σ alpha through the whole chain (MLP with
// batch-statistics BatchNorm, bilateral blur, sigmoid, composite, resize, encoder, latent sample), checked against
// central differences of L along random directions; Adam's first step has its closed form.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { PEEKABOO_BILATERAL } from '../../../src/core/ml/models/peekaboo';
import { GaussianNoise } from '../../../src/core/ml/schedulers';
import { buildFixtureEncoder } from '../../../src/core/pipelines/peekaboo/fixture';
import { ADAM, buildStepGraph, mlpParameters, type StepGraphOptions } from '../../../src/core/pipelines/peekaboo/step';

const S = 16, P = 32, F = 4, LATENT = [1, 4, P / 8, P / 8];
const rng = new GaussianNoise(7);
const specs = mlpParameters(F);
const theta0 = specs.map(({ shape, init }) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return 'fill' in init ? new Float32Array(n).fill(init.fill) : Float32Array.from({ length: n }, () => (2 * rng.uniform() - 1) * init.uniform);
});
const guide = Float32Array.from({ length: 3 * S * S }, () => rng.uniform());
const freqs = rng.fill(new Float32Array(2 * F)).map((v) => v * 3);
const background = Float32Array.of(0.2, 0.7, 0.4);
const eps = rng.fill(new Float32Array(64));
const seed = rng.fill(new Float32Array(64));
const t = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);

async function session(optimizer: StepGraphOptions['optimizer']) {
  const g = buildStepGraph(buildFixtureEncoder(P), {
    size: S, frequencies: F, compositeSize: P, scalingFactor: 0.18215, gravity: 0.05, optimizer, blur: { ...PEEKABOO_BILATERAL, iterations: 5 },
  });
  return ort.InferenceSession.create(g.toBytes());
}

/** One call; the next forward uses the same colour and ε₁, so `latent` and `alpha` are L's terms at the updated θ. */
async function step(s: ort.InferenceSession, theta: Float32Array[], lr: number, extra: Record<string, ort.Tensor> = {}) {
  const feeds: Record<string, ort.Tensor> = {
    guide_image: t(guide, [3, S, S]), freqs: t(freqs, [2, F]), lr: t(Float32Array.of(lr), []),
    background: t(background, [3]), eps: t(eps, LATENT), grad_latent: t(seed, LATENT), next_background: t(background, [3]), next_eps: t(eps, LATENT), ...extra,
  };
  specs.forEach((p, i) => (feeds[`param.${p.name}`] = t(theta[i]!, p.shape)));
  return s.run(feeds);
}

async function loss(s: ort.InferenceSession, theta: Float32Array[]): Promise<number> {
  const r = await step(s, theta, 0);
  const latent = r['latent']!.data as Float32Array, alpha = r['alpha']!.data as Float32Array;
  let L = 0;
  for (let i = 0; i < latent.length; i++) L += seed[i]! * latent[i]!;
  for (const a of alpha) L += 0.05 * a;
  return L;
}

describe('Peekaboo step graph', () => {
  it('moves the parameters by the learning rate times the gradient of ⟨g, latent⟩ + gravity·Σ alpha (SGD)', async () => {
    const s = await session('sgd');
    const r = await step(s, theta0, 1);
    const grad = specs.map((p, i) => theta0[i]!.map((x, k) => x - (r[`next.${p.name}`]!.data as Float32Array)[k]!));
    for (let d = 0; d < 3; d++) {
      const dir = specs.map((_, i) => rng.fill(new Float32Array(theta0[i]!.length)));
      const norm = Math.sqrt(dir.reduce((a, x) => a + x.reduce((b, v) => b + v * v, 0), 0));
      dir.forEach((x) => x.forEach((v, k) => (x[k] = v / norm))); // a unit direction: L stays near-linear over ±h
      // float32: the differences seen are 2e-5 to 1.1e-4 (0.06–1% of derivatives of 0.01–0.03); without the gravity seed, 1.8e-2.
      const h = 4e-3;
      const at = (sign: number) => theta0.map((x, i) => x.map((v, k) => v + sign * h * dir[i]![k]!));
      const fd = ((await loss(s, at(1))) - (await loss(s, at(-1)))) / (2 * h);
      let analytic = 0;
      grad.forEach((gr, i) => gr.forEach((v, k) => (analytic += v * dir[i]![k]!)));
      expect(Math.abs(fd - analytic)).toBeLessThanOrEqual(2e-2 * Math.abs(analytic) + 1e-4);
    }
    await s.release();
  });

  it("takes Adam's first step: lr·m̂/(√v̂ + ε) with m̂ = v̂^½ = |gradient|", async () => {
    const sgd = await session('sgd');
    const grad = await step(sgd, theta0, 1).then((r) => specs.map((p, i) => theta0[i]!.map((x, k) => x - (r[`next.${p.name}`]!.data as Float32Array)[k]!)));
    await sgd.release();
    const adam = await session('adam');
    const zeros = Object.fromEntries(specs.flatMap((p) => ['adam_m', 'adam_v'].map((k) => [`${k}.${p.name}`, t(new Float32Array(p.shape.reduce((a, b) => a * b, 1)), p.shape)])));
    // Step 1: lr carries 1/(1 − β₁), adam_bias2 is 1/(1 − β₂).
    const lr = 1e-3;
    const r = await step(adam, theta0, lr / (1 - ADAM.beta1), { ...zeros, adam_bias2: t(Float32Array.of(1 / (1 - ADAM.beta2)), []) });
    specs.forEach((p, i) => {
      const next = r[`next.${p.name}`]!.data as Float32Array, m = r[`next_adam_m.${p.name}`]!.data as Float32Array;
      grad[i]!.forEach((gv, k) => {
        expect(m[k]).toBeCloseTo((1 - ADAM.beta1) * gv, 6);
        expect(Math.abs(next[k]! - (theta0[i]![k]! - (lr * gv) / (Math.abs(gv) + ADAM.eps)))).toBeLessThanOrEqual(2e-6 + 1e-3 * lr);
      });
    });
    await adam.release();
  });
});
