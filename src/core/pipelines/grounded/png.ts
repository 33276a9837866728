// Generated images as PNG files that say how they were made: tEXt chunks (Latin-1 keyword and text, as the PNG
// specification has them; iTXt for text outside Latin-1) inserted before IEND of sharp's encoding.
import sharp from 'sharp';
import { crc32 } from 'node:zlib';
import type { RgbImage } from '../common/frame';

const IEND = Buffer.from('IEND', 'latin1');

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))) >>> 0);
  return Buffer.concat([head, data, crc]);
}

/** One text chunk: tEXt when the text is Latin-1, else uncompressed iTXt (UTF-8). Keywords are 1–79 Latin-1 characters. */
function textChunk(keyword: string, text: string): Buffer {
  if (!/^[\x20-\x7e]{1,79}$/.test(keyword)) throw new Error(`PNG text keyword must be 1-79 printable ASCII characters: ${keyword}`);
  if (/^[\x00-\xff]*$/.test(text) && !text.includes('\0')) return chunk('tEXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.of(0), Buffer.from(text, 'latin1')]));
  return chunk('iTXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.of(0, 0, 0, 0, 0), Buffer.from(text, 'utf8')]));
}

/** The PNG of `image` with `text` as its text chunks, in the given order. */
export async function encodePng(image: RgbImage, text: Record<string, string>): Promise<Buffer> {
  const png = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).png().toBuffer();
  const end = png.length - 12; // IEND: length 0, type, CRC
  if (!png.subarray(end + 4, end + 8).equals(IEND)) throw new Error('the PNG encoder did not end with IEND');
  return Buffer.concat([png.subarray(0, end), ...Object.entries(text).map(([k, v]) => textChunk(k, v)), png.subarray(end)]);
}
