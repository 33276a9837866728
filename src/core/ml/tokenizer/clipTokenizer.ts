// The CLIP BPE tokenizer of openai/CLIP (clip/simple_tokenizer.py + clip.tokenize), which is also what
// Stable Diffusion 1.x feeds its text encoder (HF CLIPTokenizer, padded with <|endoftext|>).
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { parseJson } from '../../json';
import { BpeMerger } from './bpe';
import { BYTE_DECODER, BYTE_ENCODER, BYTE_ORDER } from './byteUnicode';
import { cleanText, type CleanOptions } from './clean';

export const SOT_TOKEN = '<|startoftext|>';
export const EOT_TOKEN = '<|endoftext|>';
/** openai keeps merges[1 : 49152-256-2+1] of the merges file: 48,894 merges. */
const MERGE_COUNT = 49152 - 256 - 2;

// Pre-tokenizer: special tokens, English contractions, letter runs, single digits, other-symbol runs.
// openai compiles it with IGNORECASE over already-lowercased text; the one code point where that changes the
// result in Python's `regex` is U+0345 (it case-folds to a letter, so neither class takes it and it is
// dropped), checked over all code points, so it is excluded explicitly instead of using JS's /i semantics.
const PRE_TOKEN_RE = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\p{White_Space}\p{L}\p{N}\u0345]+/gu;

export interface TokenizeOptions {
  /** Output row length (CLIP: 77). */
  contextLength?: number;
  /** Cut over-long texts to contextLength keeping EOT last; otherwise they throw (openai semantics). */
  truncate?: boolean;
  /** Fill after EOT: 'zero' = openai clip.tokenize, 'eot' = HF CLIPTokenizer as used by SD 1.x pipelines. */
  pad?: 'zero' | 'eot';
}

export interface ClipTokenizerOptions extends CleanOptions {}

export class ClipTokenizer {
  readonly sot: number;
  readonly eot: number;
  private readonly decoder = new Map<number, string>();
  private readonly bpe: BpeMerger;

  private constructor(
    private readonly encoder: ReadonlyMap<string, number>,
    merges: ReadonlyArray<readonly [string, string]>,
    private readonly options: ClipTokenizerOptions,
  ) {
    const sot = encoder.get(SOT_TOKEN);
    const eot = encoder.get(EOT_TOKEN);
    if (sot === undefined || eot === undefined) throw new Error(`tokenizer vocabulary lacks ${SOT_TOKEN} or ${EOT_TOKEN}`);
    this.sot = sot;
    this.eot = eot;
    for (const [tok, id] of encoder) this.decoder.set(id, tok);
    const ranks = new Map<string, number>();
    merges.forEach(([a, b], i) => ranks.set(`${a} ${b}`, i));
    this.bpe = new BpeMerger(ranks, [SOT_TOKEN, EOT_TOKEN]);
  }

  /** openai's `bpe_simple_vocab_16e6.txt.gz`: the vocabulary is derived from the merges. */
  static fromBpeGz(path: string, options: ClipTokenizerOptions = {}): ClipTokenizer {
    return ClipTokenizer.fromMergesText(gunzipSync(readFileSync(path)).toString('utf8'), options);
  }

  /** Build from the text of an openai-style merges file (header line, then "a b" lines). */
  static fromMergesText(text: string, options: ClipTokenizerOptions = {}): ClipTokenizer {
    const merges = parseMerges(text);
    const vocab: string[] = BYTE_ORDER.map((b) => BYTE_ENCODER[b]!);
    vocab.push(...vocab.map((v) => v + '</w>'));
    for (const [a, b] of merges) vocab.push(a + b);
    vocab.push(SOT_TOKEN, EOT_TOKEN);
    return new ClipTokenizer(new Map(vocab.map((v, i) => [v, i])), merges, options);
  }

  /** A diffusers/transformers `tokenizer/vocab.json` + `merges.txt` pair. */
  static fromVocabMerges(vocabPath: string, mergesPath: string, options: ClipTokenizerOptions = {}): ClipTokenizer {
    let vocab: unknown;
    try {
      vocab = parseJson(readFileSync(vocabPath, 'utf8'));
    } catch (e) {
      throw new Error(`cannot read tokenizer vocabulary ${vocabPath}: ${(e as Error).message}`);
    }
    if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) {
      throw new Error(`tokenizer vocabulary ${vocabPath} is not a JSON object of token -> id`);
    }
    const encoder = new Map<string, number>();
    for (const [i, [tok, id]] of Object.entries(vocab).entries()) {
      // The entry's number, not its text: the file may not be a vocabulary at all.
      if (!Number.isInteger(id)) throw new Error(`tokenizer vocabulary ${vocabPath}: entry ${i + 1} is not token -> integer id`);
      encoder.set(tok, id as number);
    }
    return new ClipTokenizer(encoder, parseMerges(readFileSync(mergesPath, 'utf8')), options);
  }

  get vocabSize(): number {
    return this.encoder.size;
  }

  /** The cleaned, lowercased text the BPE sees. */
  clean(text: string): string {
    return cleanText(text, this.options);
  }

  /** BPE symbols of a text, without SOT/EOT (openai `encode` before the id lookup). */
  encodeToTokens(text: string): string[] {
    const out: string[] = [];
    for (const m of this.clean(text).matchAll(PRE_TOKEN_RE)) {
      let mapped = '';
      for (const byte of Buffer.from(m[0], 'utf8')) mapped += BYTE_ENCODER[byte];
      out.push(...this.bpe.apply(mapped));
    }
    return out;
  }

  /** Token ids of a text, without SOT/EOT (openai SimpleTokenizer.encode). */
  encode(text: string): number[] {
    return this.encodeToTokens(text).map((t) => {
      const id = this.encoder.get(t);
      if (id === undefined) throw new Error(`BPE produced ${JSON.stringify(t)}, which is not in the vocabulary`);
      return id;
    });
  }

  /** The vocabulary string of one id ('</w>' marks a word end). */
  decodeToken(id: number): string {
    const tok = this.decoder.get(id);
    if (tok === undefined) throw new Error(`token id ${id} is not in the vocabulary`);
    return tok;
  }

  /** Text of token ids: '</w>' becomes a space, invalid UTF-8 becomes U+FFFD (openai decode). */
  decode(ids: Iterable<number>): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const tok = this.decodeToken(id);
      for (const ch of tok) {
        const b = BYTE_DECODER.get(ch);
        if (b === undefined) throw new Error(`token ${JSON.stringify(tok)} has a char outside the byte table`);
        bytes.push(b);
      }
    }
    return new TextDecoder('utf-8').decode(Uint8Array.from(bytes)).replaceAll('</w>', ' ');
  }

  /**
   * `[SOT] + encode(text) + [EOT]` per text, padded to `contextLength`, row-major `[texts.length, contextLength]`.
   * Too long: throws unless `truncate`, which keeps the first contextLength ids and sets the last to EOT.
   */
  tokenize(texts: string | readonly string[], opts: TokenizeOptions = {}): Int32Array {
    const { contextLength = 77, truncate = false, pad = 'zero' } = opts;
    if (!Number.isInteger(contextLength) || contextLength < 2) throw new Error(`contextLength must be an integer >= 2, got ${contextLength}`);
    const list = typeof texts === 'string' ? [texts] : texts;
    const out = new Int32Array(list.length * contextLength).fill(pad === 'eot' ? this.eot : 0);
    list.forEach((text, row) => {
      let ids = [this.sot, ...this.encode(text), this.eot];
      if (ids.length > contextLength) {
        if (!truncate) throw new Error(`Input ${text} is too long for context length ${contextLength}`);
        ids = ids.slice(0, contextLength);
        ids[contextLength - 1] = this.eot;
      }
      out.set(ids, row * contextLength);
    });
    return out;
  }

  /** `tokenize` as int64, the dtype ONNX text encoders take. */
  tokenizeInt64(texts: string | readonly string[], opts: TokenizeOptions = {}): BigInt64Array {
    return BigInt64Array.from(this.tokenize(texts, opts), (v) => BigInt(v));
  }
}

/** Merges after the '#version' header, capped at CLIP's 48,894 like openai and HF's slow CLIPTokenizer. */
function parseMerges(text: string): Array<[string, string]> {
  const lines = text.split('\n');
  const body = lines.slice(1, 1 + MERGE_COUNT);
  return body
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      const parts = l.trim().split(/\s+/);
      if (parts.length !== 2) throw new Error(`merges line ${i + 2} is not two tokens "a b"`);
      return [parts[0]!, parts[1]!] as [string, string];
    });
}
