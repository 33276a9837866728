// How an image becomes a model's square input, and how a square map comes back to the image, exactly.
//
// A frame is a square window of side `side` in ORIGINAL image pixels:
//   letterbox: side = max(w, h); the image sits inside it at (padX, padY) = (⌊(side−w)/2⌋, ⌊(side−h)/2⌋), the rest is
//              padding (edge pixels repeated). Every pixel of the image is inside: every pixel gets a label.
//   centre crop (the references' preprocessing): side = min(w, h); the window starts at (cropX, cropY) =
//              (⌊(w−side)/2⌋, ⌊(h−side)/2⌋) inside the image. Pixels outside it get no label.
// Because the window is placed in original pixels, mapping back needs no rounding of a scaled box: image pixel x lies at
// window coordinate u = x − x0 (x0 = −padX or cropX), and a map of `mapSide`² pixels over the window is sampled at
// ⌊(u + ½)·mapSide/side⌋ (nearest).
import sharp from 'sharp';

export interface RgbImage {
  /** Row-major RGB bytes. */
  data: Uint8Array;
  width: number;
  height: number;
}

export interface Letterbox {
  width: number;
  height: number;
  /** max(width, height): the padded square, in original pixels. */
  side: number;
  padX: number;
  padY: number;
}

export interface CentreCrop {
  width: number;
  height: number;
  /** min(width, height): the square cut from the image's centre, in original pixels. */
  side: number;
  cropX: number;
  cropY: number;
}

export type Frame = Letterbox | CentreCrop;

function checkSize(width: number, height: number): void {
  if (!(width > 0 && height > 0)) throw new RangeError(`image size ${width}×${height} is empty`);
}

export function letterbox(width: number, height: number): Letterbox {
  checkSize(width, height);
  const side = Math.max(width, height);
  return { width, height, side, padX: Math.floor((side - width) / 2), padY: Math.floor((side - height) / 2) };
}

export function centreCrop(width: number, height: number): CentreCrop {
  checkSize(width, height);
  const side = Math.min(width, height);
  return { width, height, side, cropX: Math.floor((width - side) / 2), cropY: Math.floor((height - side) / 2) };
}

/** The window's top-left corner in image pixels (negative for a letterbox's padding). */
export function frameOrigin(f: Frame): { x: number; y: number } {
  return 'padX' in f ? { x: -f.padX, y: -f.padY } : { x: f.cropX, y: f.cropY };
}

/** The frame's square of an image resized to size² (bilinear, antialiased when shrinking), row-major RGB bytes. */
export async function frameImage(rgb: RgbImage, frame: Frame, size: number): Promise<Uint8Array> {
  const raw = { width: rgb.width, height: rgb.height, channels: 3 as const };
  let square = Buffer.from(rgb.data.buffer, rgb.data.byteOffset, rgb.data.byteLength);
  // sharp applies extend after resize within one pipeline, so the square is made first and resized in a second pass.
  if ('padX' in frame) {
    if (frame.width !== frame.height) {
      square = await sharp(square, { raw })
        .extend({
          top: frame.padY, bottom: frame.side - frame.height - frame.padY, left: frame.padX, right: frame.side - frame.width - frame.padX, extendWith: 'copy',
        })
        .raw()
        .toBuffer();
    }
  } else if (frame.width !== frame.height) {
    square = await sharp(square, { raw }).extract({ left: frame.cropX, top: frame.cropY, width: frame.side, height: frame.side }).raw().toBuffer();
  }
  const px =
    frame.side === size
      ? square
      : await sharp(square, { raw: { width: frame.side, height: frame.side, channels: 3 } }).resize(size, size, { kernel: 'linear', fit: 'fill' }).raw().toBuffer();
  if (px.length !== size * size * 3) throw new Error(`frame: expected ${size * size * 3} bytes, got ${px.length}`);
  return new Uint8Array(px.buffer, px.byteOffset, px.length);
}

/** The cell of a cells×cells grid over the frame under image pixel (x, y) (clamped into the image and the window). */
export function pixelToCell(frame: Frame, x: number, y: number, cells = 64): { x: number; y: number } {
  const o = frameOrigin(frame);
  const at = (v: number, size: number, origin: number) => {
    const u = Math.min(size - 1, Math.max(0, v)) - origin + 0.5;
    return Math.min(cells - 1, Math.max(0, Math.floor((u * cells) / frame.side)));
  };
  return { x: at(x, frame.width, o.x), y: at(y, frame.height, o.y) };
}

/** The cell of a cells×cells grid over a letterbox square under each image column (or row): where its pixel centre falls. */
export function cellsAlong(size: number, pad: number, side: number, cells: number): Int32Array {
  return Int32Array.from({ length: size }, (_, x) => Math.min(cells - 1, Math.floor(((x + pad + 0.5) * cells) / side)));
}
