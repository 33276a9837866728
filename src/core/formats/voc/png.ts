// Label images as Pascal VOC stores them: 8-bit palette PNGs whose pixel value is a class or object index, with
// VOC's colour map as the palette (so viewers show colours and readers that expand the palette to RGB can map the
// colours back). Written here (zlib) because an image library would quantise the palette; read with sharp.
import sharp from 'sharp';
import { crc32, deflateSync } from 'node:zlib';

/** VOC's colour map: index bits spread over the colour channels' high bits (devkit's labelcolormap.m). */
export const VOC_COLORMAP: ReadonlyArray<readonly [number, number, number]> = Array.from({ length: 256 }, (_, i) => {
  let r = 0, g = 0, b = 0;
  for (let j = 0, c = i; j < 8; j++, c >>= 3) {
    r |= ((c >> 0) & 1) << (7 - j);
    g |= ((c >> 1) & 1) << (7 - j);
    b |= ((c >> 2) & 1) << (7 - j);
  }
  return [r, g, b] as const;
});

const indexOfColour = new Map(VOC_COLORMAP.map(([r, g, b], i) => [(r << 16) | (g << 8) | b, i]));

/** An 8-bit palette PNG of `indices` (row-major, h×w). */
export function encodeIndexedPng(indices: Uint8Array, h: number, w: number): Buffer {
  const raw = Buffer.alloc(h * (w + 1));
  for (let y = 0; y < h; y++) raw.set(indices.subarray(y * w, (y + 1) * w), y * (w + 1) + 1); // filter byte 0
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 3, 0, 0, 0], 8); // 8 bits, palette, deflate, no filter method, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('PLTE', Buffer.from(VOC_COLORMAP.flat())),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Whether `head` (a file's first bytes) starts a palette PNG whose palette is VOC's colour map, as we write them. */
export function isVocPng(head: Uint8Array): boolean {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const plte = Buffer.from(VOC_COLORMAP.flat());
  // Signature, IHDR (8 + 13 + 4 bytes) with colour type 3, then PLTE of 768 bytes.
  return (
    b.length >= 33 + 8 + 768 &&
    b.readUInt32BE(0) === 0x89504e47 &&
    b.toString('latin1', 12, 16) === 'IHDR' &&
    b[25] === 3 &&
    b.toString('latin1', 37, 41) === 'PLTE' &&
    b.subarray(41, 41 + 768).equals(plte)
  );
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * The indices of a label PNG: a palette PNG with VOC's colours (as sharp expands it to RGB), or a grey image
 * whose values are the indices. Throws with the reason when it is neither.
 */
export async function readIndexedPng(bytes: Uint8Array): Promise<{ indices: Uint8Array; h: number; w: number }> {
  const meta = await sharp(bytes).metadata().catch(() => null);
  if (!meta) throw new Error('not a readable image');
  // sharp would expand a grey image to RGB: its first channel holds the indices.
  const grey = !meta.isPalette && (meta.channels ?? 3) <= 2;
  const pipeline = grey ? sharp(bytes).extractChannel(0) : sharp(bytes).removeAlpha();
  const image = await pipeline.raw().toBuffer({ resolveWithObject: true }).catch(() => null);
  if (!image) throw new Error('not a readable image');
  const { data, info } = image;
  const { width: w, height: h, channels } = info;
  const indices = new Uint8Array(w * h);
  if (channels === 1) indices.set(data.subarray(0, w * h));
  else {
    for (let p = 0, q = 0; p < w * h; p++, q += channels) {
      const i = indexOfColour.get((data[q]! << 16) | (data[q + 1]! << 8) | data[q + 2]!);
      if (i === undefined) throw new Error(`pixel (${p % w}, ${Math.floor(p / w)}) has a colour outside VOC's colour map`);
      indices[p] = i;
    }
  }
  return { indices, h, w };
}
