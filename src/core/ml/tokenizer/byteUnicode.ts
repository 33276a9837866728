// GPT-2's reversible byte <-> unicode table (openai/CLIP bytes_to_unicode): printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100.. in byte order, so BPE never sees whitespace or control chars.

/** Bytes in the order their chars enter the vocabulary (printable ranges first, then the rest). */
export const BYTE_ORDER: readonly number[] = (() => {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const printable = new Set(bs);
  for (let b = 0; b < 256; b++) if (!printable.has(b)) bs.push(b);
  return bs;
})();

/** byte -> its unicode stand-in */
export const BYTE_ENCODER: readonly string[] = (() => {
  const enc = new Array<string>(256);
  let n = 0;
  for (const b of BYTE_ORDER) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    enc[b] = String.fromCharCode(printable ? b : 256 + n++);
  }
  return enc;
})();

/** unicode stand-in -> byte */
export const BYTE_DECODER: ReadonlyMap<string, number> = new Map(BYTE_ENCODER.map((ch, b) => [ch, b]));
