// The zip container of torch.save (torch ≥ 1.6): entries are stored uncompressed, so an entry is a byte range of
// the file and tensors are read from it directly. Only the central directory is read when a file is opened; files
// over 4 GB carry ZIP64 records (end-of-directory locator and record, 64-bit sizes and offsets in extra fields).
// CRCs are not checked: that would read the whole multi-GB file.
import type { ByteSource } from '../bytes';
import { FormatError, shown } from './format';

export interface ZipEntry {
  name: string;
  /** 0 = stored. */
  method: number;
  size: number;
  compressedSize: number;
  /** Offset of the entry's local header. */
  headerOffset: number;
}

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const LOCATOR64 = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX_COMMENT = 0xffff;
const MAX_DIRECTORY = 256 * 1024 * 1024; // ~2 million entries; a checkpoint has one per tensor storage

const u64 = (v: DataView, at: number) => Number(v.getBigUint64(at, true));

/** The entries of the zip archive in `src`, by name, in directory order. */
export function readZipEntries(src: ByteSource): Map<string, ZipEntry> {
  const tailLen = Math.min(src.size, 22 + MAX_COMMENT);
  const tail = src.read(src.size - tailLen, tailLen);
  const tv = new DataView(tail.buffer);
  let at = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD && i + 22 + tv.getUint16(i + 20, true) <= tailLen) {
      at = i;
      break;
    }
  }
  if (at < 0) throw new FormatError('no zip end of central directory record (truncated?)');
  const eocdPos = src.size - tailLen + at;
  let count = tv.getUint16(at + 10, true);
  let dirSize = tv.getUint32(at + 12, true);
  let dirOffset = tv.getUint32(at + 16, true);
  if (tv.getUint16(at + 4, true) !== 0 && tv.getUint16(at + 4, true) !== 0xffff) throw new FormatError('multi-part zip archives are not supported');
  const hasLocator = eocdPos >= 20 && new DataView(src.read(eocdPos - 20, 4).buffer).getUint32(0, true) === LOCATOR64;
  if (hasLocator || count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
    if (!hasLocator) throw new FormatError('the zip archive needs ZIP64 records but has none (damaged?)');
    const recPos = u64(new DataView(src.read(eocdPos - 20, 20).buffer), 8);
    if (recPos + 56 > eocdPos) throw new FormatError('the ZIP64 end of central directory record is damaged');
    const rec = new DataView(src.read(recPos, 56).buffer);
    if (rec.getUint32(0, true) !== EOCD64) throw new FormatError('the ZIP64 end of central directory record is damaged');
    count = u64(rec, 32);
    dirSize = u64(rec, 40);
    dirOffset = u64(rec, 48);
  }
  if (dirOffset + dirSize > src.size)
    throw new FormatError(`the zip central directory (${dirSize} bytes at ${dirOffset}) runs past the end of the ${src.size}-byte file (truncated?)`);
  if (dirSize > MAX_DIRECTORY || count * 46 > dirSize) throw new FormatError('the zip central directory is damaged');

  const dir = src.read(dirOffset, dirSize);
  const dv = new DataView(dir.buffer);
  const utf8 = new TextDecoder('utf-8');
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > dirSize || dv.getUint32(p, true) !== CENTRAL) throw new FormatError(`the zip central directory is damaged (entry ${i + 1} of ${count})`);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const next = p + 46 + nameLen + extraLen + dv.getUint16(p + 32, true);
    if (next > dirSize) throw new FormatError(`the zip central directory is damaged (entry ${i + 1} of ${count})`);
    const e: ZipEntry = {
      name: utf8.decode(dir.subarray(p + 46, p + 46 + nameLen)),
      method: dv.getUint16(p + 10, true),
      compressedSize: dv.getUint32(p + 20, true),
      size: dv.getUint32(p + 24, true),
      headerOffset: dv.getUint32(p + 42, true),
    };
    if (dv.getUint16(p + 8, true) & 1) throw new FormatError(`zip entry ${shown(e.name)} is encrypted`);
    readZip64Extra(dv, p + 46 + nameLen, extraLen, e);
    if (e.headerOffset + 30 + e.compressedSize > src.size)
      throw new FormatError(`zip entry ${shown(e.name)} (${e.compressedSize} bytes at ${e.headerOffset}) runs past the end of the ${src.size}-byte file (truncated?)`);
    if (!entries.has(e.name)) entries.set(e.name, e);
    p = next;
  }
  return entries;
}

/** 64-bit values replace the 32-bit fields that hold 0xffffffff, in this order (APPNOTE 4.5.3). */
function readZip64Extra(dv: DataView, start: number, len: number, e: ZipEntry): void {
  for (let q = start; q + 4 <= start + len;) {
    const id = dv.getUint16(q, true);
    const size = dv.getUint16(q + 2, true);
    if (id === 0x0001) {
      let r = q + 4;
      const take = () => {
        if (r + 8 > q + 4 + size) throw new FormatError(`the ZIP64 fields of zip entry ${shown(e.name)} are damaged`);
        const v = u64(dv, r);
        r += 8;
        return v;
      };
      if (e.size === 0xffffffff) e.size = take();
      if (e.compressedSize === 0xffffffff) e.compressedSize = take();
      if (e.headerOffset === 0xffffffff) e.headerOffset = take();
      return;
    }
    q += 4 + size;
  }
}

/** Where the entry's bytes start; only stored entries can be read as they lie in the file. */
export function entryDataOffset(src: ByteSource, e: ZipEntry): number {
  if (e.method !== 0)
    throw new FormatError(`zip entry ${shown(e.name)} is compressed (method ${e.method}); PyTorch checkpoints store their entries uncompressed`);
  if (e.compressedSize !== e.size) throw new FormatError(`zip entry ${shown(e.name)} is damaged (stored, but its sizes differ)`);
  const h = new DataView(src.read(e.headerOffset, 30).buffer);
  if (h.getUint32(0, true) !== LOCAL) throw new FormatError(`zip entry ${shown(e.name)} is damaged (no local header)`);
  const start = e.headerOffset + 30 + h.getUint16(26, true) + h.getUint16(28, true);
  if (start + e.size > src.size)
    throw new FormatError(`zip entry ${shown(e.name)} (${e.size} bytes at ${start}) runs past the end of the ${src.size}-byte file (truncated?)`);
  return start;
}
