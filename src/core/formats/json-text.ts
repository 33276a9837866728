// JSON from a file's bytes: UTF-8 (a byte-order mark is allowed) or UTF-16 with a byte-order mark. Errors say
// where the text stops being valid, never what it holds: the file may not be what its name claims.
import { JsonSyntaxError, parseJson } from '../json';

export class JsonTextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonTextError';
  }
}

/** Parses `bytes`; `name` (a path) starts every error message. */
export function parseJsonBytes(bytes: Uint8Array, name: string): unknown {
  const { text, byteAt } = decodeText(bytes, name);
  try {
    return parseJson(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw new JsonTextError(`${name} is not valid JSON (at byte ${byteAt(e.position)})`);
    throw e;
  }
}

function decodeText(bytes: Uint8Array, name: string): { text: string; byteAt(index: number): number } {
  const utf16 = bytes[0] === 0xff && bytes[1] === 0xfe ? 'utf-16le' : bytes[0] === 0xfe && bytes[1] === 0xff ? 'utf-16be' : null;
  if (utf16) {
    try {
      const text = new TextDecoder(utf16, { fatal: true, ignoreBOM: true }).decode(bytes.subarray(2));
      return { text, byteAt: (i) => 2 + 2 * i };
    } catch {
      throw new JsonTextError(`${name} starts like UTF-16 text but is not`);
    }
  }
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(bom));
    return { text, byteAt: (i) => bom + Buffer.byteLength(text.slice(0, i)) };
  } catch {
    throw new JsonTextError(`${name} is not UTF-8 text (nor UTF-16 with a byte-order mark)`);
  }
}
