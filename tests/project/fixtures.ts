// Image files made on the fly for the indexer tests: every format, and every way a file can be broken.
import { deflateSync, crc32 } from 'node:zlib';
import sharp from 'sharp';

/** Solid-colour image encoded by sharp. */
export function solid(width: number, height: number, color: string, channels: 3 | 4 = 3) {
  return sharp({ create: { width, height, channels, background: color } });
}

/** Deterministic noise, so encoders cannot compress it to nothing (truncation then cuts real data). */
export function noise(width: number, height: number, seed = 1) {
  const px = Buffer.alloc(width * height * 3);
  let s = seed >>> 0;
  for (let i = 0; i < px.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    px[i] = s >>> 24;
  }
  return sharp(px, { raw: { width, height, channels: 3 } });
}

/** A 24-bit bottom-up BMP of the given RGB pixels. */
export function bmp24(width: number, height: number, rgb: Uint8Array): Buffer {
  const stride = Math.ceil((width * 3) / 4) * 4;
  const out = Buffer.alloc(54 + stride * height);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(54, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(width, 18);
  out.writeInt32LE(height, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(24, 28);
  out.writeUInt32LE(stride * height, 34);
  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      out[row + x * 3] = rgb[i + 2]!;
      out[row + x * 3 + 1] = rgb[i + 1]!;
      out[row + x * 3 + 2] = rgb[i]!;
    }
  }
  return out;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A tiny PNG whose header claims width×height (a decompression bomb as the indexer sees it). */
export function forgedPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1024))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Two frames of width×height: red, then green. */
export function twoFrameGif(width: number, height: number) {
  const px = Buffer.alloc(width * height * 2 * 3);
  for (let i = 0; i < width * height * 2; i++) px.set(i < width * height ? [255, 0, 0] : [0, 255, 0], i * 3);
  return sharp(px, { raw: { width, height: height * 2, channels: 3, pageHeight: height } as never }).gif().toBuffer();
}
