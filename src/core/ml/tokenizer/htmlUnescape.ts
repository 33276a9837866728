// Python's html.unescape (3.11), which CLIP's basic_clean applies twice: HTML5 named references (the
// legacy ones also without ';', longest prefix wins), decimal/hex references with HTML5's remapping.
import { HTML5_ENTITIES, INVALID_CHARREFS, INVALID_CODEPOINT_RANGES } from './htmlEntities';

export const HTML_ENTITY_TABLE = HTML5_ENTITIES;

const CHARREF_RE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function isInvalidCodepoint(n: number): boolean {
  return INVALID_CODEPOINT_RANGES.some(([a, b]) => n >= a && n <= b);
}

function numericRef(body: string): string {
  const hex = body[1] === 'x' || body[1] === 'X';
  const digits = body.slice(hex ? 2 : 1).replace(/;$/, '');
  // Python ints are unbounded: anything past 7 hex / 8 decimal digits is far beyond U+10FFFF.
  const num = digits.replace(/^0+/, '').length > (hex ? 7 : 8) ? Infinity : parseInt(digits, hex ? 16 : 10);
  const remapped = INVALID_CHARREFS[num];
  if (remapped !== undefined) return remapped;
  if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
  if (isInvalidCodepoint(num)) return '';
  return String.fromCodePoint(num);
}

function namedRef(body: string): string {
  const exact = Object.hasOwn(HTML5_ENTITIES, body) ? HTML5_ENTITIES[body] : undefined;
  if (exact !== undefined) return exact;
  const cps = Array.from(body);
  for (let x = cps.length - 1; x > 1; x--) {
    const prefix = cps.slice(0, x).join('');
    const v = Object.hasOwn(HTML5_ENTITIES, prefix) ? HTML5_ENTITIES[prefix] : undefined;
    if (v !== undefined) return v + cps.slice(x).join('');
  }
  return `&${body}`;
}

/** html.unescape from Python 3.11. */
export function pythonHtmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(CHARREF_RE, (_m, body: string) => (body[0] === '#' ? numericRef(body) : namedRef(body)));
}
