// Pillow 9.4's Image.resize on 8-bit images, reproduced exactly: CLIP towers were trained on images resized by it,
// and sharp's cubic kernel differs by up to 10 levels on real photos (docs/models.md). Bicubic is Keys' cubic with
// a = -0.5, widened by the scale when shrinking (antialiasing), with 22-bit fixed-point coefficients and a uint8
// result after each (horizontal, then vertical) pass; images with alpha are resized premultiplied, as Pillow's
// RGBa/La modes. Nearest is Pillow's affine scaling, which palette and 1-bit images always get.

/** 8-bit samples, row-major, channels interleaved. */
export interface Pixels {
  data: Uint8Array;
  width: number;
  height: number;
  /** 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (straight alpha). */
  channels: 1 | 2 | 3 | 4;
}

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
const MAX = 1 << (PRECISION_BITS + 8);

function bicubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

/** Pillow's bilinear filter (Resample.c bilinear_filter): a triangle of support 1. */
function triangle(x: number): number {
  const t = Math.abs(x);
  return t < 1 ? 1 - t : 0;
}

/** A separable filter and its support (Resample.c's filter structs). */
interface Filter {
  fn: (x: number) => number;
  support: number;
}
const BICUBIC: Filter = { fn: bicubic, support: 2 };
const BILINEAR: Filter = { fn: triangle, support: 1 };

interface Coefficients {
  /** Per output index: first input index, number of taps. */
  first: Int32Array;
  count: Int32Array;
  /** ksize fixed-point weights per output index. */
  k: Int32Array;
  ksize: number;
}

/** Resample.c precompute_coeffs + normalize_coeffs_8bpc, in the same double arithmetic. */
function coefficients(inSize: number, outSize: number, filter: Filter): Coefficients {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const k = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < n; x++) {
      w[x] = filter.fn((x + xmin - center + 0.5) * ss);
      ww += w[x]!;
    }
    for (let x = 0; x < n; x++) {
      const v = ww !== 0 ? w[x]! / ww : w[x]!;
      k[xx * ksize + x] = Math.trunc(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
    }
    first[xx] = xmin;
    count[xx] = n;
  }
  return { first, count, k, ksize };
}

const clip8 = (v: number) => (v >= MAX ? 255 : v <= 0 ? 0 : v >> PRECISION_BITS);

/** Rows [y0, y1) of src resized horizontally to outW. */
function horizontal(src: Uint8Array, inW: number, C: number, y0: number, y1: number, outW: number, co: Coefficients): Uint8Array {
  const out = new Uint8Array(outW * (y1 - y0) * C);
  for (let y = y0; y < y1; y++) {
    const row = y * inW * C;
    const orow = (y - y0) * outW * C;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = co.first[xx]!, n = co.count[xx]!, kb = xx * co.ksize;
      for (let c = 0; c < C; c++) {
        let s = HALF;
        for (let x = 0; x < n; x++) s += src[row + (x + xmin) * C + c]! * co.k[kb + x]!;
        out[orow + xx * C + c] = clip8(s);
      }
    }
  }
  return out;
}

/** src (W wide, starting at input row `top`) resized vertically to outH. */
function vertical(src: Uint8Array, W: number, C: number, top: number, outH: number, co: Coefficients): Uint8Array {
  const out = new Uint8Array(W * outH * C);
  const stride = W * C;
  for (let yy = 0; yy < outH; yy++) {
    const ymin = co.first[yy]! - top, n = co.count[yy]!, kb = yy * co.ksize;
    for (let i = 0; i < stride; i++) {
      let s = HALF;
      for (let y = 0; y < n; y++) s += src[(y + ymin) * stride + i]! * co.k[kb + y]!;
      out[yy * stride + i] = clip8(s);
    }
  }
  return out;
}

/** Pillow's MULDIV255 premultiplication (RGBA → RGBa, LA → La), in place on a copy. */
function premultiply(d: Uint8Array, C: number): Uint8Array {
  const out = Uint8Array.from(d);
  for (let i = 0; i < out.length; i += C) {
    const a = out[i + C - 1]!;
    for (let c = 0; c < C - 1; c++) {
      const t = out[i + c]! * a + 128;
      out[i + c] = ((t >> 8) + t) >> 8;
    }
  }
  return out;
}

/** Back to straight alpha; Pillow keeps the premultiplied value where alpha is 0 or 255. */
function unpremultiply(d: Uint8Array, C: number): void {
  for (let i = 0; i < d.length; i += C) {
    const a = d[i + C - 1]!;
    if (a === 0 || a === 255) continue;
    for (let c = 0; c < C - 1; c++) d[i + c] = Math.min(255, Math.floor((255 * d[i + c]!) / a));
  }
}

function checkSize(img: Pixels, width: number, height: number): void {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new RangeError(`cannot resize to ${width}×${height}`);
  if (!(img.width > 0 && img.height > 0) || img.data.length !== img.width * img.height * img.channels)
    throw new RangeError(`${img.width}×${img.height}×${img.channels} pixels do not match ${img.data.length} samples`);
}

/** Image.resize(size, BICUBIC) of Pillow 9.4, bit for bit. */
export function resizeBicubic(img: Pixels, width: number, height: number): Pixels {
  return resample(img, width, height, BICUBIC);
}

/** Image.resize(size, BILINEAR) of Pillow 9.4 (widened when shrinking, as detectron2's ResizeShortestEdge gets it). */
export function resizeBilinear(img: Pixels, width: number, height: number): Pixels {
  return resample(img, width, height, BILINEAR);
}

function resample(img: Pixels, width: number, height: number, filter: Filter): Pixels {
  checkSize(img, width, height);
  if (width === img.width && height === img.height) return { ...img, data: Uint8Array.from(img.data) }; // Pillow copies
  const C = img.channels;
  const alpha = C === 2 || C === 4;
  let data = alpha ? premultiply(img.data, C) : img.data;
  const cx = coefficients(img.width, width, filter);
  const cy = coefficients(img.height, height, filter);
  let w = img.width;
  let top = 0;
  if (width !== img.width) {
    // Only the rows the vertical pass reads.
    top = cy.first[0]!;
    const bottom = cy.first[height - 1]! + cy.count[height - 1]!;
    data = horizontal(data, img.width, C, top, bottom, width, cx);
    w = width;
  }
  if (height !== img.height) data = vertical(data, w, C, top, height, cy);
  if (alpha) unpremultiply(data, C); // data is the passes' own array by now
  return { data, width, height, channels: C };
}

/** Image.resize(size, NEAREST) of Pillow 9.4 (ImagingScaleAffine: source index = int of an accumulated double). */
export function resizeNearest(img: Pixels, width: number, height: number): Pixels {
  checkSize(img, width, height);
  const C = img.channels;
  const index = (inSize: number, outSize: number) => {
    const a = inSize / outSize;
    const idx = new Int32Array(outSize);
    let o = a * 0.5;
    for (let i = 0; i < outSize; i++, o += a) idx[i] = Math.trunc(o) < inSize ? Math.trunc(o) : -1;
    return idx;
  };
  const xs = index(img.width, width);
  const ys = index(img.height, height);
  const out = new Uint8Array(width * height * C); // outside the source: 0, as Pillow fills
  for (let y = 0; y < height; y++) {
    if (ys[y]! < 0) continue;
    const row = ys[y]! * img.width * C;
    for (let x = 0; x < width; x++) {
      if (xs[x]! < 0) continue;
      for (let c = 0; c < C; c++) out[(y * width + x) * C + c] = img.data[row + xs[x]! * C + c]!;
    }
  }
  return { data: out, width, height, channels: C };
}
