// Reading image files through sharp (or our BMP reader, which sharp lacks), with EXIF orientation applied.
// Orientation rule: stored width/height, thumbnails and pixels are all "as displayed" (EXIF applied), the
// way browsers show the image, so masks line up with what the labeler saw.
import { open, type FileHandle } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import { BmpError, decodeBmp, readBmpHeader } from './bmp';
import { SNIFF_BYTES, sniffImageFormat, type ImageFormat } from './sniff';

/** The largest file Node reads into one buffer (fs.readFile's limit, whose error code a larger file reports). */
const MAX_FILE_BYTES = 2 ** 31 - 1;

export interface ImageFile {
  format: ImageFormat;
  /** The whole file. */
  buf: Buffer;
}

/**
 * Reads image files into one buffer kept from file to file: a fresh buffer per file cost more CPU (its page faults)
 * than the read itself, ~0.5–1.5 ms per MB (README.md, Indexing speed). What read() returns is valid until its next
 * call. A file whose first bytes are no image's is not read further.
 */
export class ImageFileReader {
  private buf = Buffer.allocUnsafeSlow(1 << 20);

  /** The file's format and bytes, or null when it is not an image. */
  async read(path: string): Promise<ImageFile | null> {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const head = await readInto(fh, this.buf, 0, Math.min(size, SNIFF_BYTES));
      const format = sniffImageFormat(this.buf.subarray(0, head));
      if (!format) return null;
      if (size > MAX_FILE_BYTES) throw Object.assign(new RangeError(`file size (${size}) is greater than 2 GiB`), { code: 'ERR_FS_FILE_TOO_LARGE' });
      if (this.buf.length < size) {
        const bigger = Buffer.allocUnsafeSlow(size);
        this.buf.copy(bigger, 0, 0, head);
        this.buf = bigger;
      }
      const length = head + (await readInto(fh, this.buf, head, size - head));
      return { format, buf: this.buf.subarray(0, length) };
    } finally {
      await fh.close();
    }
  }
}

/** Reads up to length bytes at offset (also the file position); fewer where the file ends first. */
async function readInto(fh: FileHandle, buf: Buffer, offset: number, length: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, offset + done, length - done, offset + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Displayed size from the header alone: nothing is decoded. */
export async function probeSize(buf: Buffer, format: ImageFormat): Promise<{ width: number; height: number }> {
  if (format === 'bmp') {
    const h = readBmpHeader(buf);
    if (h.width <= 0 || h.height <= 0) throw new BmpError(`BMP has invalid size ${h.width}×${h.height}`);
    return { width: h.width, height: h.height };
  }
  const m = await sharp(buf, { limitInputPixels: false }).metadata();
  const width = m.autoOrient?.width ?? m.width;
  const height = m.autoOrient?.height ?? m.height;
  if (!width || !height) throw new Error('no image size in the header');
  return { width, height };
}

/** A sharp pipeline over the first frame/page, oriented; decoding fails on truncated or broken data. */
export function openImage(buf: Buffer, format: ImageFormat, maxPixels: number): Sharp {
  if (format === 'bmp') {
    const d = decodeBmp(buf);
    return sharp(d.data, { raw: { width: d.width, height: d.height, channels: d.channels } });
  }
  return sharp(buf, { failOn: 'error', limitInputPixels: Math.max(1, Math.floor(maxPixels)), autoOrient: true });
}

export const THUMB_SIZE = 256;

/**
 * WebP thumbnail, longest side THUMB_SIZE (small images are not enlarged). Decodes the whole image (JPEG and WebP
 * shrink on load). Encoder effort 0: at 256 px it encodes in a fifth of the default effort's CPU, as sharp, 10 % more
 * bytes (benchmarks/index.ts; README.md, Thumbnails).
 */
export function makeThumbnail(img: Sharp): Promise<Buffer> {
  return img.resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 80, effort: 0 }).toBuffer();
}

/** 8-bit sRGB, 3 channels, interleaved; transparency is flattened onto white. */
export async function decodeRgb(img: Sharp): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await img
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}
