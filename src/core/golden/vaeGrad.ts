// Reverse-mode gradients through diffusers AutoencoderKL, from backward graphs the graph core emits (autodiff.ts): the
// encoder's posterior mean and sample with respect to the image, the decoder with respect to the latent, and
// Peekaboo's encode chain (bilinear ×2, 2x − 1, posterior sample, 0.18215) with respect to the composite. float32
// graphs against torch's float64 gradients and its float32 run, the case's finite differences and its losses.
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, gradients, type Value } from '../ml/graph';
import { buildVaeDecoder, buildVaeEncoder, parseVaeConfig } from '../ml/models/vae';
import { openWeights, SafetensorsFile } from '../ml/weights';
import { compareValues, dot, floatTensor, maxAbs, MODEL_ATOL, readJsonObject, ReferenceOutputs, runGraph, type GoldenKind } from './compare';

/** SD 1.x's latent scaling factor. */
const SCALING = 0.18215;
/**
 * A float32 backward graph against torch's float64 gradient: the case's README measures torch's own float32 run at
 * 5.5e-6 of each gradient's max; 1e-4 of the max (at least 1e-4) leaves room for another summation order.
 */
const gradTolerance = (want: ArrayLike<number>): number => 1e-4 * Math.max(1, maxAbs(want));

/** A graph input of `v`'s shape, for a gradient arriving from outside. */
const seedFor = (g: GraphBuilder, name: string, v: Value): Value => g.input(name, v.dtype, v.dims());

interface Loss {
  /** The case's name of the loss (`x0_mean`): its tensors are `grad_<name>`, `L_<name>`, `fd_<name>_*`. */
  name: string;
  grad: ort.Tensor;
  /** L computed from our forward outputs. */
  loss: number;
  /** The direction of the case's directional finite difference, if it has one for this loss. */
  dir?: string;
}

export const vaeGradKind: GoldenKind = {
  title: 'gradients through diffusers AutoencoderKL (encoder, decoder, Peekaboo encode chain)',
  async check(dir) {
    const cfg = parseVaeConfig(readJsonObject(join(dir, 'config.json')));
    const w = openWeights(join(dir, 'diffusion_pytorch_model.safetensors'));
    const inp = SafetensorsFile.open(join(dir, 'inputs.safetensors'));
    const ref = new ReferenceOutputs(SafetensorsFile.open(join(dir, 'outputs.safetensors')));
    const [, , H, W] = inp.info('image').shape as [number, number, number, number];
    const losses: Loss[] = [];

    // Encoder, differentiated in its own graph: L = Σ g·mean + Σ (g·eps)·std covers the mean (second seed 0) and
    // the posterior sample mean + std·eps.
    const enc = buildVaeEncoder(cfg, w, { batch: 1, height: H, width: W }).graph;
    const [mean, std] = ['latent_mean', 'latent_std'].map((n) => enc.value(n));
    const seeds = [seedFor(enc, 'seed_mean', mean!), seedFor(enc, 'seed_std', std!)];
    enc.output(gradients(enc, [mean!, std!], [enc.value('image')], seeds).grads[0]!, 'grad_image');
    for (const x of ['x0', 'x1'] as const) {
      const g = inp.readFloat32(`g_mean_${x}`);
      const eps = inp.readFloat32(`eps_${x}`);
      const dims = inp.info(`g_mean_${x}`).shape;
      const image = x === 'x0' ? 'image' : 'image_x1';
      for (const sample of [false, true]) {
        const r = await runGraph(enc, {
          image: floatTensor(inp, image),
          seed_mean: new ort.Tensor('float32', g, dims),
          seed_std: new ort.Tensor('float32', sample ? g.map((v, i) => v * eps[i]!) : new Float32Array(g.length), dims),
        });
        const m = r['latent_mean']!.data as Float32Array, s = r['latent_std']!.data as Float32Array;
        if (!sample) {
          ref.tensor(r['latent_mean'], `latent_mean_${x}`);
          ref.tensor(r['latent_std'], `latent_std_${x}`);
          ref.tensor(r['latent_mean'], `latent_mean_${x}_f32run`);
          ref.tensor(r['latent_std'], `latent_std_${x}_f32run`);
        }
        const loss = sample ? dot(g, m.map((v, i) => v + s[i]! * eps[i]!)) : dot(g, m);
        losses.push({ name: `${x}_${sample ? 'sample' : 'mean'}`, grad: r['grad_image']!, loss, dir: x === 'x0' ? 'fd_dir_x0' : undefined });
      }
    }

    // Decoder: L = Σ g·dec(z).
    const dec = buildVaeDecoder(cfg, w, { batch: 1, height: H / 8, width: W / 8 }).graph;
    const sample = dec.value('sample');
    dec.output(gradients(dec, [sample], [dec.value('latent')], [seedFor(dec, 'seed', sample)]).grads[0]!, 'grad_latent');
    const d = await runGraph(dec, { latent: floatTensor(inp, 'z'), seed: floatTensor(inp, 'g_decoder') });
    ref.tensor(d['sample'], 'decoded_z');
    ref.tensor(d['sample'], 'decoded_z_f32run');
    losses.push({ name: 'z_decoder', grad: d['grad_latent']!, loss: dot(inp.readFloat32('g_decoder'), d['sample']!.data as Float32Array), dir: 'fd_dir_z' });

    // Peekaboo's chain, the encoder included behind the resize into a new graph that shares its weights.
    const p = new GraphBuilder('peekaboo_encode');
    const rgb = p.input('rgb', 'float32', inp.info('rgb_peekaboo').shape);
    const up = p.resize(rgb, { sizes: [1, 3, H, W], mode: 'linear', coordinateTransformationMode: 'pytorch_half_pixel' });
    const at = p.include(enc, { image: p.sub(p.mul(up, 2), 1) }, [mean!, std!]);
    const eps = p.input('eps', 'float32', mean!.dims());
    const latents = p.output(p.mul(p.add(at(mean!), p.mul(at(std!), eps)), SCALING), 'latents');
    p.output(gradients(p, [latents], [rgb], [seedFor(p, 'seed', latents)]).grads[0]!, 'grad_rgb');
    const pr = await runGraph(p, { rgb: floatTensor(inp, 'rgb_peekaboo'), eps: floatTensor(inp, 'eps_peekaboo'), seed: floatTensor(inp, 'g_peekaboo') });
    ref.tensor(pr['latents'], 'latents_peekaboo');
    ref.tensor(pr['latents'], 'latents_peekaboo_f32run');
    losses.push({ name: 'rgb_peekaboo', grad: pr['grad_rgb']!, loss: dot(inp.readFloat32('g_peekaboo'), pr['latents']!.data as Float32Array), dir: 'fd_dir_rgb' });

    for (const l of losses) {
      for (const run of ['', '_f32run']) {
        const want = ref.file.readFloat32(`grad_${l.name}${run}`);
        ref.add(compareValues(`grad_${l.name}${run}`, l.grad, { data: want, dims: ref.file.info(`grad_${l.name}${run}`).shape }, gradTolerance(want)), `grad_${l.name}${run}`);
        const L = ref.file.readFloat32(`L_${l.name}${run}`);
        ref.add(compareValues(`L_${l.name}${run}`, new ort.Tensor('float32', Float32Array.of(l.loss), [1]), { data: L, dims: [1] }, MODEL_ATOL * Math.max(1, Math.abs(L[0]!))), `L_${l.name}${run}`);
      }
      if (l.dir) finiteDifferences(ref, l, inp.readFloat32(l.dir));
    }
    return ref.checks();
  },
};

/** Our gradient at the case's finite-difference points and along its direction, against torch's central differences. */
function finiteDifferences(ref: ReferenceOutputs, l: Loss, direction: Float32Array): void {
  const f = ref.file;
  const key = (s: string) => `fd_${l.name}_${s}`;
  const idx = f.readRaw(key('index'));
  if (idx.dtype !== 'I64') throw new Error(`${key('index')} is ${idx.dtype}, expected I64`);
  const dims = l.grad.dims.map(Number);
  const grad = l.grad.data as Float32Array;
  const points = idx.shape[0]!;
  const at = Float32Array.from({ length: points }, (_, k) => {
    const [n, c, y, x] = Array.from((idx.data as BigInt64Array).subarray(4 * k, 4 * k + 4), Number) as [number, number, number, number];
    return grad[((n * dims[1]! + c) * dims[2]! + y) * dims[3]! + x]!;
  });
  const scale = maxAbs(grad);
  for (const [name, ours] of [['fd', at], ['autograd', at], ['dir_fd', Float32Array.of(dot(grad, direction))], ['dir_autograd', Float32Array.of(dot(grad, direction))]] as const) {
    const want = f.readFloat32(key(name));
    ref.add(compareValues(key(name), new ort.Tensor('float32', ours, [ours.length]), { data: want, dims: f.info(key(name)).shape }, 1e-4 * Math.max(1, scale)), key(name), key('index'));
  }
}
