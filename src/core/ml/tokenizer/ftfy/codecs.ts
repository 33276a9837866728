// The byte-level codecs ftfy's encoding repair needs: single-byte charmaps (encode only what the table
// can represent), strict UTF-8, and ftfy's "utf-8-variants" (CESU-8 surrogate pairs and Java's C0 80 NUL).
// Bytes travel as "binary strings" (one char per byte, U+0000..U+00FF) so byte-level regexes stay plain JS.
import { CHARMAP_ENCODINGS } from './charData';

export interface Charmap {
  name: string;
  /** decoding table: byte -> char */
  decode: string;
  /** encoding table: code point -> byte */
  encode: Map<number, number>;
  /** ftfy chardata.possible_encoding: every char is ASCII-but-0x1A or some decoded byte 0x80..0xFF / 0x1A */
  possible: RegExp;
}

function escapeForClass(ch: string): string {
  return /[\\\]\[^-]/.test(ch) ? `\\${ch}` : ch;
}

function buildCharmap(name: string, table: string): Charmap {
  const encode = new Map<number, number>();
  for (let b = 0; b < 256; b++) {
    const cp = table.codePointAt(b)!;
    if (!encode.has(cp)) encode.set(cp, b);
  }
  const highChars = [...table.slice(0x80), table[0x1a]!].map(escapeForClass).join('');
  const possible = new RegExp(`^[\\x00-\\x19\\x1b-\\x7f${highChars}]*$`, 'u');
  return { name, decode: table, encode, possible };
}

export const CHARMAPS: readonly Charmap[] = CHARMAP_ENCODINGS.map(([name, table]) => buildCharmap(name, table));
const byName = new Map(CHARMAPS.map((m) => [m.name, m]));

export function charmap(name: string): Charmap {
  const m = byName.get(name);
  if (!m) throw new Error(`unknown charmap ${name}`);
  return m;
}

/** Encode text with a charmap into a binary string; null if some char is not representable. */
export function charmapEncode(text: string, map: Charmap): string | null {
  let out = '';
  for (const ch of text) {
    const b = map.encode.get(ch.codePointAt(0)!);
    if (b === undefined) return null;
    out += String.fromCharCode(b);
  }
  return out;
}

/** Decode a binary string with a charmap's table. */
export function charmapDecode(bytes: string, map: Charmap): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += map.decode[bytes.charCodeAt(i)];
  return out;
}

function binaryToBytes(bin: string): Uint8Array {
  const u = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
  return u;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict UTF-8 decode of a binary string (Python bytes.decode('utf-8')); null on any invalid sequence. */
export function utf8Decode(bin: string): string | null {
  try {
    return strictUtf8.decode(binaryToBytes(bin));
  } catch {
    return null;
  }
}

// C0 80 (Java's NUL) or a CESU-8 encoded surrogate pair (ED A0-AF xx ED B0-BF xx).
const SPECIAL_BYTES = /\xc0\x80|\xed[\xa0-\xaf][\x80-\xbf]\xed[\xb0-\xbf][\x80-\xbf]/g;

/** ftfy's "utf-8-variants" decoder; null where Python would raise UnicodeDecodeError. */
export function utf8VariantsDecode(bin: string): string | null {
  let out = '';
  let pos = 0;
  for (const m of bin.matchAll(SPECIAL_BYTES)) {
    const seg = utf8Decode(bin.slice(pos, m.index));
    if (seg === null) return null;
    out += seg;
    const s = m[0];
    if (s.length === 2) out += '\u0000';
    else {
      const b = (i: number) => s.charCodeAt(i);
      const cp = ((b(1) & 0x0f) << 16) + ((b(2) & 0x3f) << 10) + ((b(4) & 0x0f) << 6) + (b(5) & 0x3f) + 0x10000;
      out += String.fromCodePoint(cp);
    }
    pos = m.index + s.length;
  }
  const rest = utf8Decode(bin.slice(pos));
  return rest === null ? null : out + rest;
}
