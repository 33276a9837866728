// The individual text fixers of ftfy 6.3.1 (ftfy/fixes.py), each a pure string -> string function.
import { pythonHtmlUnescape, HTML_ENTITY_TABLE } from '../htmlUnescape';
import { charmap, charmapDecode } from './codecs';
import { LIGATURES, WIDTH_MAP } from './charData';

// ftfy.chardata.HTML_ENTITY_RE: only well-formed references with a semicolon.
const HTML_ENTITY_RE = /&#?[0-9A-Za-z]{1,24};/g;

/** ftfy's HTML_ENTITIES: every "&name;" plus upper-case spellings that are not themselves entities. */
const FTFY_ENTITIES: Map<string, string> = (() => {
  const m = new Map<string, string>();
  for (const [name, value] of Object.entries(HTML_ENTITY_TABLE)) {
    if (!name.endsWith(';')) continue;
    m.set(`&${name}`, value);
    if (name === name.toLowerCase()) {
      const upper = `&${name.toUpperCase()}`;
      if (pythonHtmlUnescape(upper) === upper) m.set(upper, value.toUpperCase());
    }
  }
  return m;
})();

export function unescapeHtml(text: string): string {
  return text.replace(HTML_ENTITY_RE, (ref) => {
    const named = FTFY_ENTITIES.get(ref);
    if (named !== undefined) return named;
    if (ref.startsWith('&#')) {
      const un = pythonHtmlUnescape(ref);
      return un.includes(';') ? ref : un;
    }
    return ref;
  });
}

const ANSI_RE = /\x1b\[((?:\d|;)*)([a-zA-Z])/g;
export const removeTerminalEscapes = (text: string): string => text.replace(ANSI_RE, '');

export const uncurlQuotes = (text: string): string =>
  text.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'");

function translate(text: string, table: Readonly<Record<number, string>>): string {
  let out = '';
  for (const ch of text) {
    const r = table[ch.codePointAt(0)!];
    out += r === undefined ? ch : r;
  }
  return out;
}

export const fixLatinLigatures = (text: string): string => translate(text, LIGATURES);
export const fixCharacterWidth = (text: string): string => translate(text, WIDTH_MAP);

export const fixLineBreaks = (text: string): string =>
  text.replace(/\r\n/g, '\n').replace(/[\r\u2028\u2029\u0085]/g, '\n');

// A JS string cannot hold a Python-style surrogate *pair* of code points (it is the astral char), so only
// lone surrogates remain to be replaced.
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
export const fixSurrogates = (text: string): string => text.replace(LONE_SURROGATE_RE, '\ufffd');

// ftfy.chardata.CONTROL_CHARS: C0 controls but \t \n \f \r, DEL, deprecated format chars, BOM, interlinear annotation.
const CONTROL_RE = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;
export const removeControlChars = (text: string): string => text.replace(CONTROL_RE, '');

const SLOPPY_1252 = charmap('sloppy-windows-1252');
/** C1 control chars are almost always Windows-1252 bytes decoded as Latin-1. */
export const fixC1Controls = (text: string): string =>
  text.replace(/[\x80-\x9f]/g, (ch) => charmapDecode(ch, SLOPPY_1252));

// --- byte-level fixes, applied to binary strings during encoding repair ---

// "Ã " meant as "à " (UTF-8 C3 A0 whose A0 became a space), except before Portuguese words where it is plausible.
const A_GRAVE_WORD_RE = /\xc3 (?! |quele|quela|quilo|s )/g;
const ALTERED_UTF8_RE =
  /[\xc2\xc3\xc5\xce\xd0\xd9][ ]|[\xe2\xe3][ ][\x80-\x84\x86-\x9f\xa1-\xbf]|[\xe0-\xe3][\x80-\x84\x86-\x9f\xa1-\xbf][ ]|[\xf0][ ][\x80-\xbf][\x80-\xbf]|[\xf0][\x80-\xbf][ ][\x80-\xbf]|[\xf0][\x80-\xbf][\x80-\xbf][ ]/g;
export const hasAlteredUtf8 = (bytes: string): boolean => new RegExp(ALTERED_UTF8_RE.source).test(bytes);

/** Put back the 0xA0 bytes that became spaces inside UTF-8 sequences. */
export function restoreByteA0(bytes: string): string {
  return bytes.replace(A_GRAVE_WORD_RE, '\xc3\xa0 ').replace(ALTERED_UTF8_RE, (m) => m.replace(/ /g, '\xa0'));
}

const LOSSY_UTF8_RE =
  /[\xc2-\xdf][\x1a]|[\xc2-\xc3][?]|\xed[\xa0-\xaf][\x1a?]\xed[\xb0-\xbf][\x1a?\x80-\xbf]|\xed[\xa0-\xaf][\x1a?\x80-\xbf]\xed[\xb0-\xbf][\x1a?]|[\xe0-\xef][\x1a?][\x1a\x80-\xbf]|[\xe0-\xef][\x1a\x80-\xbf][\x1a?]|[\xf0-\xf4][\x1a?][\x1a\x80-\xbf][\x1a\x80-\xbf]|[\xf0-\xf4][\x1a\x80-\xbf][\x1a?][\x1a\x80-\xbf]|[\xf0-\xf4][\x1a\x80-\xbf][\x1a\x80-\xbf][\x1a?]|\x1a/g;
/** UTF-8 sequences that lost a byte (to '?' or the sloppy codecs' 0x1A) become U+FFFD's UTF-8 bytes. */
export const replaceLossySequences = (bytes: string): string => bytes.replace(LOSSY_UTF8_RE, '\xef\xbf\xbd');
