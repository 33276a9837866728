// A BMP reader: the sharp build ships no BMP loader, and BMP is simple enough to decode here.
// Supports uncompressed 1/4/8-bit palette, 16/24/32-bit (with BI_BITFIELDS masks), bottom-up and top-down.
// RLE-compressed and embedded JPEG/PNG BMPs are reported as unsupported.

export interface BmpHeader {
  width: number;
  height: number;
  bitsPerPixel: number;
  compression: number;
  topDown: boolean;
  dataOffset: number;
  headerSize: number;
}

export class BmpError extends Error {}

export function readBmpHeader(buf: Uint8Array): BmpHeader {
  if (buf.length < 26) throw new BmpError('BMP header is truncated');
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dataOffset = v.getUint32(10, true);
  const headerSize = v.getUint32(14, true);
  if (headerSize === 12) {
    // OS/2 BITMAPCOREHEADER: 16-bit sizes, no compression.
    return { width: v.getUint16(18, true), height: v.getUint16(20, true), bitsPerPixel: v.getUint16(24, true), compression: 0, topDown: false, dataOffset, headerSize };
  }
  if (buf.length < 14 + Math.min(headerSize, 40)) throw new BmpError('BMP header is truncated');
  const rawHeight = v.getInt32(22, true);
  return {
    width: v.getInt32(18, true),
    height: Math.abs(rawHeight),
    bitsPerPixel: v.getUint16(28, true),
    compression: headerSize >= 20 ? v.getUint32(30, true) : 0,
    topDown: rawHeight < 0,
    dataOffset,
    headerSize,
  };
}

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

/** Decodes to interleaved RGB or RGBA (when the file has a real alpha channel), top row first. */
export function decodeBmp(buf: Uint8Array): { data: Buffer; width: number; height: number; channels: 3 | 4 } {
  const h = readBmpHeader(buf);
  const { width, height, bitsPerPixel: bpp } = h;
  if (width <= 0 || height <= 0) throw new BmpError(`BMP has invalid size ${width}×${height}`);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (h.compression !== BI_RGB && h.compression !== BI_BITFIELDS && h.compression !== BI_ALPHABITFIELDS) {
    throw new BmpError(`unsupported BMP compression ${h.compression}`);
  }
  if (![1, 4, 8, 16, 24, 32].includes(bpp)) throw new BmpError(`unsupported BMP bit depth ${bpp}`);

  // Channel masks: from the header (V3+) or the 12/16 bytes after a 40-byte header; defaults otherwise.
  let masks: number[] | null = null;
  if (bpp === 16 || bpp === 32) {
    if (h.compression === BI_RGB) masks = bpp === 16 ? [0x7c00, 0x3e0, 0x1f, 0] : [0xff0000, 0xff00, 0xff, 0];
    else {
      const at = 14 + 40;
      const n = h.compression === BI_ALPHABITFIELDS || h.headerSize >= 56 ? 4 : 3;
      if (buf.length < at + 4 * n) throw new BmpError('BMP header is truncated');
      masks = Array.from({ length: n }, (_, i) => v.getUint32(at + 4 * i, true));
      if (n === 3) masks.push(0);
    }
  }
  let palette: Uint8Array | null = null;
  if (bpp <= 8) {
    const entry = h.headerSize === 12 ? 3 : 4;
    const start = 14 + h.headerSize;
    const count = Math.min(1 << bpp, Math.floor((h.dataOffset - start) / entry));
    if (count <= 0 || start + count * entry > buf.length) throw new BmpError('BMP palette is missing or truncated');
    palette = new Uint8Array(256 * 3);
    for (let i = 0; i < count; i++) {
      palette[i * 3] = buf[start + i * entry + 2]!;
      palette[i * 3 + 1] = buf[start + i * entry + 1]!;
      palette[i * 3 + 2] = buf[start + i * entry]!;
    }
  }
  const stride = Math.floor((width * bpp + 31) / 32) * 4;
  if (h.dataOffset + stride * height > buf.length) throw new BmpError('BMP pixel data is truncated');

  const alpha = masks !== null && masks[3] !== 0;
  const channels = alpha ? 4 : 3;
  const out = Buffer.alloc(width * height * channels);
  // Each mask's lowest set bit and field maximum, to scale any field width to 0..255.
  const shifts = masks?.map((m) => (m === 0 ? 0 : 31 - Math.clz32(m & -m))) ?? [];
  const fieldMax = masks?.map((m, i) => (m === 0 ? 1 : (m >>> shifts[i]!) >>> 0)) ?? [];
  for (let y = 0; y < height; y++) {
    const row = h.dataOffset + stride * (h.topDown ? y : height - 1 - y);
    let o = y * width * channels;
    for (let x = 0; x < width; x++, o += channels) {
      if (palette) {
        const bit = x * bpp;
        const byte = buf[row + (bit >> 3)]!;
        const idx = bpp === 8 ? byte : (byte >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        out[o] = palette[idx * 3]!;
        out[o + 1] = palette[idx * 3 + 1]!;
        out[o + 2] = palette[idx * 3 + 2]!;
      } else if (bpp === 24) {
        const p = row + x * 3;
        out[o] = buf[p + 2]!;
        out[o + 1] = buf[p + 1]!;
        out[o + 2] = buf[p]!;
      } else {
        const px = bpp === 16 ? v.getUint16(row + x * 2, true) : v.getUint32(row + x * 4, true);
        for (let c = 0; c < channels; c++) {
          const m = masks![c]!;
          out[o + c] = m === 0 ? 0 : Math.round((((px & m) >>> 0) >>> shifts[c]!) * 255 / fieldMax[c]!);
        }
      }
    }
  }
  return { data: out, width, height, channels };
}
