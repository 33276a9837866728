// ftfy.fix_text with ftfy 6.3.1's default configuration, the cleanup openai/CLIP's tokenizer runs first.
// Ported from the algorithm in python-ftfy (MIT); see ./charData for the tables it uses.
import { isBad } from './badness';
import { CHARMAPS, charmap, charmapDecode, charmapEncode, utf8Decode, utf8VariantsDecode } from './codecs';
import { UTF8_CLUES as U } from './charData';
import {
  fixC1Controls,
  fixCharacterWidth,
  fixLatinLigatures,
  fixLineBreaks,
  fixSurrogates,
  hasAlteredUtf8,
  removeControlChars,
  removeTerminalEscapes,
  replaceLossySequences,
  restoreByteA0,
  uncurlQuotes,
  unescapeHtml,
} from './fixes';

const ASCII_RE = /^[\x00-\x7f]*$/;
const C1_RE = /[\x80-\x9f]/;
const SLOPPY_1252 = charmap('sloppy-windows-1252');
// Bytes that strict windows-1252 leaves undefined.
const CP1252_UNDEFINED = /[\x81\x8d\x8f\x90\x9d]/;

// ftfy.chardata.UTF8_DETECTOR_RE: runs of what look like UTF-8 sequences decoded one byte per char.
const UTF8_DETECTOR_RE = new RegExp(
  `(?<![${U.utf8_continuation_strict}])(?:[${U.utf8_first_of_2}][${U.utf8_continuation}]` +
    `|[${U.utf8_first_of_3}][${U.utf8_continuation}]{2}|[${U.utf8_first_of_4}][${U.utf8_continuation}]{3})+`,
  'gu',
);
const HAS_UTF8_SEQUENCE = new RegExp(UTF8_DETECTOR_RE.source, 'u');

/** Re-encode with a single-byte encoding and decode as UTF-8; null if that is not possible. */
function tryRedecode(mapName: string, encoded: string): string | null {
  let bytes = encoded;
  if (mapName !== 'macroman' && hasAlteredUtf8(bytes)) bytes = restoreByteA0(bytes);
  if (mapName.startsWith('sloppy')) bytes = replaceLossySequences(bytes);
  return bytes.includes('\xed') || bytes.includes('\xc0') ? utf8VariantsDecode(bytes) : utf8Decode(bytes);
}

function decodeInconsistentUtf8(text: string): string {
  return text.replace(UTF8_DETECTOR_RE, (sub) =>
    sub.length < text.length && isBad(sub) ? fixEncoding(sub) : sub,
  );
}

function fixEncodingOneStep(text: string): string {
  if (text.length === 0 || ASCII_RE.test(text) || !isBad(text)) return text;
  const possible: string[] = [];
  for (const map of CHARMAPS) {
    if (!map.possible.test(text)) continue;
    possible.push(map.name);
    const encoded = charmapEncode(text, map);
    if (encoded === null) continue;
    const fixed = tryRedecode(map.name, encoded);
    if (fixed !== null) return fixed;
  }
  if (HAS_UTF8_SEQUENCE.test(text)) {
    const fixed = decodeInconsistentUtf8(text);
    if (fixed !== text) return fixed;
  }
  if (possible.includes('latin-1')) {
    if (possible.includes('sloppy-windows-1252')) return text;
    // Latin-1 text with C1 controls that strict windows-1252 can decode.
    const bytes = charmapEncode(text, charmap('latin-1'))!;
    if (!CP1252_UNDEFINED.test(bytes)) {
      const fixed = charmapDecode(bytes, SLOPPY_1252);
      if (fixed !== text) return fixed;
    }
  }
  if (C1_RE.test(text)) return fixC1Controls(text);
  return text;
}

/** ftfy.fix_encoding: undo mojibake until the text stops changing. */
export function fixEncoding(text: string): string {
  for (;;) {
    const prev = text;
    text = fixEncodingOneStep(text);
    if (text === prev) return text;
  }
}

function fixSegment(text: string, unescape: boolean): string {
  for (;;) {
    const orig = text;
    if (unescape) text = unescapeHtml(text);
    text = fixEncoding(text);
    text = fixC1Controls(text);
    text = fixLatinLigatures(text);
    text = fixCharacterWidth(text);
    text = uncurlQuotes(text);
    text = fixLineBreaks(text);
    text = fixSurrogates(text);
    text = removeTerminalEscapes(text);
    text = removeControlChars(text);
    text = text.normalize('NFC');
    if (text === orig) return text;
  }
}

/**
 * ftfy.fix_text(text) with the default TextFixerConfig: line by line, HTML entities unescaped only until a
 * line containing '<' is seen (then the text is taken to be HTML), mojibake repaired, C1 controls, ligatures,
 * full/half-width forms, curly quotes, line breaks, surrogates, terminal escapes and control chars fixed, NFC.
 */
export function fixText(text: string): string {
  let out = '';
  let unescape = true;
  let pos = 0;
  const maxDecodeLength = 1_000_000;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos) + 1;
    if (end === 0) end = text.length;
    if (end - pos > maxDecodeLength) end = pos + maxDecodeLength;
    const segment = text.slice(pos, end);
    if (unescape && segment.includes('<')) unescape = false;
    out += fixSegment(segment, unescape);
    pos = end;
  }
  return out;
}
