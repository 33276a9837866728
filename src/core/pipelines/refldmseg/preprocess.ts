// Ref LDM-Seg's input geometry (configs/cfg.py:53-71, mmseg's SegDataPreProcessor, module/model/clip.py:34-60): an
// image is resized so that its long side is 256 (mmcv Resize with keep_ratio) and padded on the right and bottom to
// 256²; a support mask is resized the same way with cv2's nearest rule and padded with the ignore label 255, which
// counts as background for Alpha-CLIP and the token mask. The token mask is the 16×16 grid of ViT-L/14 at 224 that
// the UNet's cross-attention mask covers, one per shot, concatenated along the tokens.
import { tokenMaskFromMask } from '../../ml/models/clipPreprocess';

/** The side every Ref LDM-Seg input is resized and padded to. */
export const REFLDMSEG_SIZE = 256;
/** Alpha-CLIP ViT-L/14 at 224: 16×16 patch tokens per shot. */
export const TOKEN_GRID = 16;
/** mmseg's ignore label: the support mask's padding. */
export const IGNORE_LABEL = 255;

export interface Letterbox {
  width: number;
  height: number;
  /** The image's size after the resize, at the top left of the padded square. */
  resizedWidth: number;
  resizedHeight: number;
  /** The square's side (256). */
  size: number;
}

/**
 * mmcv's `rescale_size` for scale (size, size) with keep_ratio: factor min(size / long, size / short), which is
 * size / long, new size `int(x · factor + 0.5)` in double. A side that rounds to 0 (an image over 512 times longer than wide) is
 * kept at 1 pixel, where mmcv would hand cv2 an empty size.
 */
export function letterbox(width: number, height: number, size = REFLDMSEG_SIZE): Letterbox {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new RangeError(`image size ${width}×${height} is not a positive integer size`);
  const factor = size / Math.max(width, height);
  const side = (x: number) => Math.max(1, Math.min(size, Math.trunc(x * factor + 0.5)));
  return { width, height, resizedWidth: side(width), resizedHeight: side(height), size };
}

/** cv2.resize INTER_NEAREST's source index for each output index: floor(i / (out / in)) in double, clamped. */
function cv2NearestIndex(inSize: number, outSize: number): Int32Array {
  const inv = 1 / (outSize / inSize);
  return Int32Array.from({ length: outSize }, (_, i) => Math.min(Math.floor(i * inv), inSize - 1));
}

/**
 * A support mask (width × height, row-major: 1 = the example object, 0 = background, 255 = ignore) as Ref LDM-Seg
 * feeds it: nearest-resized to the letterbox and padded with 255 to size × size.
 */
export function supportMask(mask: ArrayLike<number>, box: Letterbox): Uint8Array {
  const { width, height, resizedWidth, resizedHeight, size } = box;
  if (mask.length !== width * height) throw new RangeError(`${mask.length} mask values do not fill ${width}×${height}`);
  const xs = cv2NearestIndex(width, resizedWidth);
  const ys = cv2NearestIndex(height, resizedHeight);
  const out = new Uint8Array(size * size).fill(IGNORE_LABEL);
  for (let y = 0; y < resizedHeight; y++) for (let x = 0; x < resizedWidth; x++) out[y * size + x] = mask[ys[y]! * width + xs[x]!]!;
  return out;
}

/**
 * The UNet's `encoder_attention_mask` row for k shots: each padded support mask (size × size) at the token grid
 * (torch nearest, 255 → 0), h-major, shots one after another (`'(b k) l d -> b (k l) d'`), 1 = attend.
 */
export function supportTokenMask(shots: readonly Uint8Array[], size = REFLDMSEG_SIZE, grid = TOKEN_GRID): Float32Array {
  if (!shots.length) throw new RangeError('no support shots');
  const out = new Float32Array(shots.length * grid * grid);
  shots.forEach((m, k) => out.set(tokenMaskFromMask(m, size, size, grid), k * grid * grid));
  return out;
}
