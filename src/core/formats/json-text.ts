// JSON from a file's bytes: UTF-8 (a byte-order mark is allowed) or UTF-16 with a byte-order mark. Errors say
// where the text stops being valid, never what it holds: the file may not be what its name claims.

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
    return JSON.parse(text);
  } catch {
    // JSON.parse's own message quotes the text around the error.
    throw new JsonTextError(`${name} is not valid JSON (at byte ${byteAt(syntaxErrorAt(text))})`);
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

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) => isDigit(c) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
const LITERALS = ['true', 'false', 'null'];

/**
 * Index of the first character at which `s` stops being JSON (RFC 8259); its length when it ends too early.
 * Iterative, so any depth of nesting is fine.
 */
function syntaxErrorAt(s: string): number {
  const n = s.length;
  const open: number[] = []; // '[' or '{' of every container not closed yet
  let i = 0;
  const space = () => {
    for (let c = s.charCodeAt(i); c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d; c = s.charCodeAt(++i));
  };
  const digits = () => {
    const start = i;
    while (isDigit(s.charCodeAt(i))) i++;
    return i > start;
  };
  const string = () => {
    for (i++; i < n; ) {
      const c = s.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return true;
      }
      if (c < 0x20) return false;
      if (c !== 0x5c) {
        i++;
        continue;
      }
      const e = s.charAt(i + 1);
      if (e === 'u') {
        for (let k = 2; k < 6; k++) {
          if (!isHex(s.charCodeAt(i + k))) {
            i += k;
            return false;
          }
        }
        i += 6;
      } else if (e !== '' && '"\\/bfnrt'.includes(e)) i += 2;
      else {
        i++;
        return false;
      }
    }
    return false;
  };
  const number = () => {
    if (s.charCodeAt(i) === 0x2d) i++;
    if (s.charCodeAt(i) === 0x30) i++;
    else if (!digits()) return false;
    if (s.charCodeAt(i) === 0x2e) {
      i++;
      if (!digits()) return false;
    }
    if ((s.charCodeAt(i) | 0x20) === 0x65) {
      i++;
      if (s.charCodeAt(i) === 0x2b || s.charCodeAt(i) === 0x2d) i++;
      if (!digits()) return false;
    }
    return true;
  };
  const literal = () => {
    let reach = i;
    for (const word of LITERALS) {
      let k = 0;
      while (k < word.length && s.charCodeAt(i + k) === word.charCodeAt(k)) k++;
      if (k === word.length) {
        i += k;
        return true;
      }
      reach = Math.max(reach, i + k);
    }
    i = reach; // where the text departs from every literal
    return false;
  };
  const key = () => {
    if (s.charCodeAt(i) !== 0x22 || !string()) return false;
    space();
    if (s.charCodeAt(i) !== 0x3a) return false;
    i++;
    return true;
  };

  for (;;) {
    // A value starts here.
    space();
    const c = s.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) {
      i++;
      space();
      if (s.charCodeAt(i) !== c + 2) {
        open.push(c);
        if (c === 0x7b && !key()) return i;
        continue;
      }
      i++; // an empty container
    } else if (c === 0x22 ? !string() : c === 0x2d || isDigit(c) ? !number() : !literal()) return i;
    // After a value: a comma, the end of the container, or the end of the text.
    for (;;) {
      space();
      const top = open[open.length - 1];
      if (top === undefined) return i;
      const d = s.charCodeAt(i);
      if (d === top + 2) {
        open.pop();
        i++;
        continue;
      }
      if (d !== 0x2c) return i;
      i++;
      if (top === 0x7b) {
        space();
        if (!key()) return i;
      }
      break;
    }
  }
}
