// The text cleanup openai/CLIP applies before tokenizing: whitespace_clean(basic_clean(text)).lower().
import { fixText } from './ftfy';
import { pythonHtmlUnescape } from './htmlUnescape';

// Python str.strip()/isspace(): Unicode White_Space plus U+001C..U+001F (JS trim differs: it strips U+FEFF, keeps U+0085).
const PY_STRIP_RE = /^[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
export const pyStrip = (s: string): string => s.replace(PY_STRIP_RE, '');

export interface CleanOptions {
  /** Run the ftfy 6.3.1 repair step (openai's default). Default true. */
  ftfy?: boolean;
}

/** basic_clean: ftfy.fix_text, html.unescape twice, strip. */
export function basicClean(text: string, opts: CleanOptions = {}): string {
  if (opts.ftfy !== false) text = fixText(text);
  return pyStrip(pythonHtmlUnescape(pythonHtmlUnescape(text)));
}

// The `regex` module's \s is exactly Unicode White_Space.
const WS_RUN_RE = /\p{White_Space}+/gu;

/** whitespace_clean: collapse whitespace runs to one space, strip. */
export const whitespaceClean = (text: string): string => pyStrip(text.replace(WS_RUN_RE, ' '));

/** The full cleanup CLIP's encode() applies. */
export const cleanText = (text: string, opts: CleanOptions = {}): string =>
  whitespaceClean(basicClean(text, opts)).toLowerCase();
