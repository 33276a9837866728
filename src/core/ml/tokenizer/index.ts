// CLIP BPE tokenizer (openai/CLIP simple_tokenizer.py semantics, ftfy 6.3.1 cleanup included).
export { ClipTokenizer, SOT_TOKEN, EOT_TOKEN } from './clipTokenizer';
export type { TokenizeOptions, ClipTokenizerOptions } from './clipTokenizer';
export { cleanText, basicClean, whitespaceClean } from './clean';
export { fixText } from './ftfy';
export { pythonHtmlUnescape } from './htmlUnescape';
