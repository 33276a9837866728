// Cost of ODISE's inference after classification for one image (pipelines/odise/postprocess.ts): 100 queries' mask
// logits at stride 4 of the padded image resized to the output size band by band, then panoptic inference (the
// default), semantic labels and scores, or instances. As a trained model's, most queries predict "void": 40 are
// random discs of a class (half the classes things), the rest void with empty masks.
//
// Usage: npm run bench -- odise-postprocess [--size 1024x1365] [--output HxW] [--classes 133] [--queries 100]
//        [--parts panoptic,semantic,scores,instances] [--band ROWS] [--runs 3]
import { postprocessImage, type PostprocessOptions } from '../src/core/pipelines/odise/postprocess';
import { rng } from '../tests/helpers/random';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : d;
};
const dims = (s: string) => s.split('x').map(Number) as [number, number];
const [Hi, Wi] = dims(opt('size', '1024x1365'));
const [H, W] = dims(opt('output', `${Hi}x${Wi}`));
const K = Number(opt('classes', '133'));
const Q = Number(opt('queries', '100'));
const parts = new Set(opt('parts', 'panoptic').split(','));
const runs = Number(opt('runs', '3'));
const band = argv.includes('--band') ? Number(opt('band', '0')) : undefined;
const log = (...a: unknown[]) => console.error('[bench odise-postprocess]', ...a);

// ODISE pads to a multiple of 64; its masks are at stride 4.
const Hp = Math.ceil(Hi / 64) * 64, Wp = Math.ceil(Wi / 64) * 64;
const h = Hp / 4, w = Wp / 4;
const next = rng(1);
const logits = new Float32Array(Q * h * w);
const OBJECTS = 40;
for (let q = 0; q < Q; q++) {
  const cy = next() * h, cx = next() * w, r = 3 + (next() * h) / 8;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) logits[(q * h + y) * w + x] = q < OBJECTS ? 6 * (1 - Math.hypot(y - cy, x - cx) / r) : -8;
}
const cls = new Float32Array(Q * (K + 1));
for (let q = 0; q < Q; q++) for (let c = 0; c <= K; c++) cls[q * (K + 1) + c] = c === (q < OBJECTS ? q % K : K) ? 8 : next() - 0.5;
const options: PostprocessOptions = {
  isThing: Array.from({ length: K }, (_, k) => k < K / 2), objectMaskThreshold: 0, overlapThreshold: 0.8, testTopk: 100,
  panoptic: parts.has('panoptic'), semantic: parts.has('semantic') || parts.has('scores'), semanticScores: parts.has('scores'), instances: parts.has('instances'),
  ...(band ? { bandRows: band } : {}),
};

const times: number[] = [];
let segments = 0;
for (let i = 0; i < runs + 1; i++) {
  const t0 = performance.now();
  const r = await postprocessImage({ data: logits, dims: [Q, h, w] }, { data: cls, dims: [Q, K + 1] }, { padded: [Hp, Wp], image: [Hi, Wi], output: [H, W] }, options);
  const s = (performance.now() - t0) / 1000;
  segments = r.panoptic?.segments.length ?? 0;
  log(`run ${i}${i === 0 ? ' (session created)' : ''}: ${s.toFixed(2)} s`);
  if (i > 0) times.push(s);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({
  padded: [Hp, Wp], image: [Hi, Wi], output: [H, W], queries: Q, classes: K, parts: [...parts], band_rows: band ?? 'default',
  seconds_median: times[Math.floor(times.length / 2)], seconds_min: times[0], seconds_max: times.at(-1), segments,
  max_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024), load: (await import('node:os')).loadavg()[0],
}));
