// Recognising images by their first bytes, never by their name.

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'tiff' | 'bmp' | 'gif';

/** Bytes needed by sniffImageFormat. */
export const SNIFF_BYTES = 32;

/** Names that promise an image: such a file that is not one is reported, other non-images are ignored. */
const IMAGE_EXTENSIONS = new Set(['jpg', 'jpeg', 'jpe', 'jfif', 'png', 'apng', 'webp', 'tif', 'tiff', 'bmp', 'dib', 'gif']);

export function hasImageExtension(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return dot > 0 && IMAGE_EXTENSIONS.has(name.slice(dot + 1).toLowerCase());
}

const ascii = (b: Uint8Array, at: number, s: string) => {
  if (b.length < at + s.length) return false;
  for (let i = 0; i < s.length; i++) if (b[at + i] !== s.charCodeAt(i)) return false;
  return true;
};

export function sniffImageFormat(b: Uint8Array): ImageFormat | null {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (ascii(b, 0, '\x89PNG\r\n\x1a\n')) return 'png';
  if (ascii(b, 0, 'GIF87a') || ascii(b, 0, 'GIF89a')) return 'gif';
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP')) return 'webp';
  // Classic TIFF (42) and BigTIFF (43), either byte order.
  if (ascii(b, 0, 'II') && b[3] === 0 && (b[2] === 42 || b[2] === 43)) return 'tiff';
  if (ascii(b, 0, 'MM') && b[2] === 0 && (b[3] === 42 || b[3] === 43)) return 'tiff';
  // 'BM' alone is too weak (text can start with it): also require zero reserved words and a known DIB header size.
  if (ascii(b, 0, 'BM') && b.length >= 18) {
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const dib = view.getUint32(14, true);
    if (view.getUint32(6, true) === 0 && [12, 16, 40, 52, 56, 64, 108, 124].includes(dib)) return 'bmp';
  }
  return null;
}
