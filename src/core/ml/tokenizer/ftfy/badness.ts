// ftfy's mojibake heuristic (ftfy 6.3.1 badness.BADNESS_RE), rewritten as a JS regex.
// A match means the text contains a character sequence far likelier to be mojibake than intended text;
// fix_encoding only tries to re-decode text that matches, and stops when it no longer does.
import { MOJIBAKE as M } from './charData';

/** Python `re` \s for str patterns (str.isspace): Unicode White_Space plus U+001C..U+001F. */
export const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** Python `re` \w for str patterns: letters, numbers and underscore. */
const PY_WORD = '\\p{L}\\p{N}_';

const c = (...parts: string[]): string => `[${parts.join('')}]`;

const ALL_PUNCT_ETC = [M.lower_accented, M.upper_accented, M.box, M.start_punctuation, M.end_punctuation, M.currency, M.numeric, M.law];
const ARABIC_CLASS = c(M.common, M.currency, M.bad, M.numeric, M.start_punctuation, '\u0178\u0160\u00ae\u00b0\u00b5\u00bb');

const alternatives: string[] = [
  c(M.c1),
  c(M.bad, ...ALL_PUNCT_ETC) + c(M.bad),
  '[a-zA-Z]' + c(M.lower_common, M.upper_common) + c(M.bad),
  c(M.bad) + c(...ALL_PUNCT_ETC),
  c(M.lower_accented, M.lower_common, M.box, M.end_punctuation, M.currency, M.numeric) + c(M.upper_accented),
  c(M.box, M.end_punctuation, M.currency, M.numeric) + c(M.lower_accented),
  c(M.lower_accented, M.box, M.end_punctuation) + c(M.currency),
  `[${PY_SPACE}]` + c(M.upper_accented) + c(M.currency),
  c(M.upper_accented, M.box) + c(M.numeric, M.law),
  c(M.lower_accented, M.upper_accented, M.box, M.currency, M.end_punctuation) + c(M.start_punctuation) + c(M.numeric),
  c(M.lower_accented, M.upper_accented, M.currency, M.numeric, M.box, M.law) + c(M.end_punctuation) + c(M.start_punctuation),
  c(M.currency, M.numeric, M.box) + c(M.start_punctuation),
  '[a-z]' + c(M.upper_accented) + c(M.start_punctuation, M.currency),
  c(M.box) + c(M.kaomoji),
  c(M.lower_accented, M.upper_accented, M.currency, M.numeric, M.start_punctuation, M.end_punctuation, M.law) + c(M.box),
  c(M.box) + c(M.end_punctuation),
  c(M.lower_accented, M.upper_accented) + c(M.start_punctuation, M.end_punctuation) + `[${PY_WORD}]`,
  // the ligature œ when not followed by an unaccented Latin letter
  '[\u0152\u0153][^A-Za-z]',
  // degree signs after capital letters
  c(M.upper_accented) + '\u00b0',
  // common Windows-1252 2-character mojibake not covered above
  '[\u00c2\u00c3\u00ce\u00d0]' + c('\u20ac\u0153\u0160\u0161\u00a2\u00a3\u0178\u017e\u00a0\u00ad\u00ae\u00a9\u00b0\u00b7\u00bb', M.start_punctuation, M.end_punctuation, '\u2013\u2014\u00b4'),
  '\u00d7[\u00b2\u00b3]',
  // Windows-1252 mojibake of Arabic words: four characters
  '[\u00d8\u00d9]' + ARABIC_CLASS + '[\u00d8\u00d9]' + ARABIC_CLASS,
  // 3-character sequences of some South Asian alphabets
  '\u00e0[\u00b2\u00b5\u00b9\u00bc\u00bd\u00be]',
  // MacRoman mojibake
  '\u221a[\u00b1\u2202\u2020\u2260\u00ae\u2122\u00b4\u2264\u2265\u00a5\u00b5\u00f8]',
  '\u2248[\u00b0\u00a2]',
  '\u201a\u00c4[\u00ec\u00ee\u00ef\u00f2\u00f4\u00fa\u00f9\u00fb\u2020\u00b0\u00a2\u03c0]',
  '\u201a[\u00e2\u00f3][\u00e0\u00e4\u00b0\u00ea]',
  // Windows-1251 mojibake of the U+2000 range
  '\u0432\u0402',
  // Windows-1251 mojibake of Latin-1 and/or Cyrillic: 3-character sequences
  '[\u0412\u0413\u0420\u0421]' + c(M.c1, M.bad, M.start_punctuation, M.end_punctuation, M.currency, '\u00b0\u00b5') + '[\u0412\u0413\u0420\u0421]',
  // (Python's `.` excludes only '\n'; JS's would also exclude \r and U+2028/9)
  '\u0413\u045e\u0412\u0402\u0412[^\\n][A-Za-z ]',
  // Windows-1252 encodings of 'à' and 'á', and of U+00A0 itself
  '\u00c3[\u00a0\u00a1]',
  `[a-z][${PY_SPACE}]?[\u00c3\u00c2][ ]`,
  '^[\u00c3\u00c2][ ]',
  // Â before a character as an encoding of exactly that character
  c('a-z.,?!', M.end_punctuation) + '\u00c2' + c(' ', M.start_punctuation, M.end_punctuation),
  // Windows-1253 mojibake of the U+2000 range
  '\u03b2\u20ac[\u2122\u00a0\u0386\u00ad\u00ae\u00b0]',
  // Windows-1253 mojibake of Latin-1 and/or Greek
  '[\u0392\u0393\u039e\u039f]' + c(M.c1, M.bad, M.start_punctuation, M.end_punctuation, M.currency, '\u00b0') + '[\u0392\u0393\u039e\u039f]',
  // Windows-1257 mojibake of the U+2000 range
  '\u0101\u20ac',
];

const BADNESS_RE = new RegExp(alternatives.join('|'), 'u');

/** True when the text looks like it contains mojibake (ftfy.badness.is_bad). */
export function isBad(text: string): boolean {
  return BADNESS_RE.test(text);
}
