// JSON.parse for text DiffLabel did not write (COCO files, bundle.json, configs, vocabularies, safetensors headers).
// V8's syntax errors quote the input ("Unexpected token 'r', "root:x:0:0…" is not valid JSON"), and the input may be a
// file the user never meant to show: the error says where the text stops being JSON, never what it holds.

export class JsonSyntaxError extends SyntaxError {
  /** Index of the first character that is not JSON (the text's length when it ends too early). */
  readonly position: number;
  constructor(position: number) {
    super(`not valid JSON (at character ${position})`);
    this.name = 'JsonSyntaxError';
    this.position = position;
  }
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Only on failure: find where, without JSON.parse's quote of the text around it.
    throw new JsonSyntaxError(syntaxErrorAt(text));
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
