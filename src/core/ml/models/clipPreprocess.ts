// CLIP image preprocessing as the references do it, and Alpha-CLIP's mask → alpha.
//
// 'openai' is openai/CLIP's `_transform(n)` (open_clip's `image_transform` is the same): torchvision Resize(n,
// BICUBIC) on the PIL image in its own mode, CenterCrop(n) with Python's round, convert('RGB'), /255, CLIP mean/std.
// 'transformers' is CLIPImageProcessor: convert('RGB') first, the same resize, a crop offset floored. They differ only
// on images with alpha or a palette and where the crop offset is a half (docs/models.md).
import sharp from 'sharp';
import { resizeBicubic, resizeNearest, type Pixels } from './pilResample';

export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/** Alpha-CLIP's normalisation of its 0/1 alpha channel (`Normalize(0.5, 0.26)`). */
export const ALPHA_MEAN = 0.5;
export const ALPHA_STD = 0.26;

export interface ClipImage extends Pixels {
  /** A palette or 1-bit image: Pillow resizes those NEAREST whatever is asked; `data` holds the colours. */
  indexed?: boolean;
}

export type ClipPreprocessVariant = 'openai' | 'transformers';

/** The size the shorter side is resized to `size` at: the longer side is int(size·long/short), as both references do. */
export function resizedSize(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

/** Python's round() of a non-negative multiple of 0.5: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return x % 1 === 0.5 && r % 2 === 1 ? r - 1 : r;
}

/** Grey, grey + alpha, RGB or RGBA samples → RGB, alpha dropped (PIL convert('RGB'): no compositing). */
function toRgb(img: Pixels): Pixels {
  const C = img.channels;
  if (C === 3) return img;
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < 3; c++) out[i * 3 + c] = img.data[i * C + (C <= 2 ? 0 : c)]!;
  return { data: out, width: img.width, height: img.height, channels: 3 };
}

/**
 * `img` → float32 [3, size, size], normalised with CLIP's mean and std, exactly as `variant` computes it
 * (bit for bit on decoded pixels; see the clip_preprocess golden case).
 */
export function preprocessClipImage(img: ClipImage, size: number, variant: ClipPreprocessVariant = 'openai'): Float32Array {
  if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`CLIP input size must be a positive integer, got ${size}`);
  if (!(img.width > 0 && img.height > 0)) throw new RangeError(`image size ${img.width}×${img.height} is empty`);
  const to = resizedSize(img.width, img.height, size);
  let resized: Pixels;
  let top: number, left: number;
  if (variant === 'openai') {
    resized = toRgb(img.indexed ? resizeNearest(img, to.width, to.height) : resizeBicubic(img, to.width, to.height));
    top = roundHalfEven((to.height - size) / 2);
    left = roundHalfEven((to.width - size) / 2);
  } else {
    resized = resizeBicubic(toRgb(img), to.width, to.height);
    top = Math.floor((to.height - size) / 2);
    left = Math.floor((to.width - size) / 2);
  }
  const out = new Float32Array(3 * size * size);
  const mean = CLIP_MEAN.map(Math.fround);
  const std = CLIP_STD.map(Math.fround);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const u = resized.data[((y + top) * resized.width + x + left) * 3 + c]!;
        // ToTensor's /255, then Normalize's sub and div, each rounded to float32 as torch does.
        out[(c * size + y) * size + x] = Math.fround(Math.fround(Math.fround(u / 255) - mean[c]!) / std[c]!);
      }
  return out;
}

/**
 * An image file's pixels in the form Pillow opens it (grey stays one channel, alpha is kept, palettes are
 * marked), oriented as displayed (EXIF applied, as everywhere in DiffLabel; Pillow itself ignores EXIF).
 * 16-bit images are reduced to 8 bits by sharp.
 */
export async function decodeClipImage(buf: Buffer): Promise<ClipImage> {
  const img = sharp(buf, { failOn: 'error', autoOrient: true });
  const m = await img.metadata();
  // sharp's sRGB of a grey image repeats the grey exactly; its own grey output would drop the alpha channel.
  const { data, info } = await img.toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const rgb = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const grey = m.space === 'b-w' || m.space === 'grey16';
  const indexed = m.isPalette || (grey && m.bitsPerSample === 1);
  const base = { width: info.width, height: info.height, ...(indexed ? { indexed } : {}) };
  if (!grey) return { ...base, data: rgb, channels: info.channels as 3 | 4 };
  const n = info.width * info.height;
  const C = info.channels;
  const keep = C === 4 ? [0, 3] : [0];
  const out = new Uint8Array(n * keep.length);
  for (let i = 0; i < n; i++) keep.forEach((c, j) => (out[i * keep.length + j] = rgb[i * C + c]!));
  return { ...base, data: out, channels: keep.length as 1 | 2 };
}

/**
 * torch's F.interpolate(mode='nearest') of a [height, width] plane: source index floor(i · in/out) with the scale and
 * the product in float32, as torch computes them.
 */
export function resizeNearestPlane(plane: ArrayLike<number>, width: number, height: number, outW: number, outH: number): Float32Array {
  if (plane.length !== width * height) throw new RangeError(`${plane.length} values do not fill ${width}×${height}`);
  const index = (inSize: number, outSize: number) => {
    const scale = Math.fround(inSize / outSize);
    return Int32Array.from({ length: outSize }, (_, i) => Math.min(Math.floor(Math.fround(i * scale)), inSize - 1));
  };
  const xs = index(width, outW);
  const ys = index(height, outH);
  const out = new Float32Array(outW * outH);
  for (let y = 0; y < outH; y++) for (let x = 0; x < outW; x++) out[y * outW + x] = plane[ys[y]! * width + xs[x]!]!;
  return out;
}

/**
 * Alpha-CLIP's alpha input [size, size] for a mask (1 = the object; any other value is background, so Ref LDM-Seg's
 * ignore label 255 counts as background as it sets it to 0): nearest-resized as torch does, then (m − 0.5) / 0.26.
 */
export function alphaFromMask(mask: ArrayLike<number>, width: number, height: number, size: number): Float32Array {
  const m = resizeNearestPlane(mask, width, height, size, size);
  // sub_ then div_ in float32, as torch computes them.
  const on = Math.fround(Math.fround(1 - ALPHA_MEAN) / Math.fround(ALPHA_STD));
  const off = Math.fround(Math.fround(0 - ALPHA_MEAN) / Math.fround(ALPHA_STD));
  return m.map((v) => (v === 1 ? on : off));
}

/**
 * The mask at the token grid (grid × grid, h-major, as the tower orders its patch tokens): 1 where the nearest
 * pixel is the object. Ref LDM-Seg passes it as the UNet's cross-attention mask over an example's patch tokens.
 */
export function tokenMaskFromMask(mask: ArrayLike<number>, width: number, height: number, grid: number): Uint8Array {
  return Uint8Array.from(resizeNearestPlane(mask, width, height, grid, grid), (v) => (v === 1 ? 1 : 0));
}
