// openai/CLIP's BPE tokenizer (with and without ftfy) and the 77-id rows SD 1.x (pad EOT) and clip.tokenize (pad 0)
// feed the text encoder. Every comparison is exact.
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { ClipTokenizer } from '../ml/tokenizer';
import { SafetensorsFile } from '../ml/weights';
import { exactCheck, readJsonAs, ReferenceOutputs, type GoldenKind, type OutputCheck } from './compare';

export const BPE_FILE = 'bpe_simple_vocab_16e6.txt.gz';

const GoldenString = z.object({
  text: z.string(),
  cleaned: z.string(),
  bpe_ids: z.array(z.number()),
  bpe_tokens: z.array(z.string()),
  n_bpe: z.number(),
  truncated: z.boolean(),
  bpe_ids_without_ftfy: z.array(z.number()),
  ftfy_changes_ids: z.boolean(),
  decoded: z.string(),
  ids_77_openai_pad0: z.array(z.number()),
  ids_77_sd_hf_pad_eot: z.array(z.number()),
  // hf_clip_tokenizer_agrees compares transformers' tokenizer with openai's, not ours: not read.
});
const TokenizerGolden = z.object({ sot: z.number(), eot: z.number(), vocab_size: z.number(), context_length: z.number(), strings: z.array(GoldenString) });
export type TokenizerGolden = z.infer<typeof TokenizerGolden>;
type GoldenString = z.infer<typeof GoldenString>;

/** The case's tokenizer_golden.json. */
export const readTokenizerGolden = (dir: string): TokenizerGolden => readJsonAs(join(dir, 'tokenizer_golden.json'), TokenizerGolden);

/** A value as it appears in a mismatch report, cut short. */
const show = (v: unknown) => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
};

/** How our value differs from the reference: for lists, where they first differ. */
function difference(got: unknown, want: unknown): string {
  if (!Array.isArray(got) || !Array.isArray(want)) return `${show(got)}, reference ${show(want)}`;
  const at = Array.from({ length: Math.max(got.length, want.length) }, (_, i) => i).find((i) => !isDeepStrictEqual(got[i], want[i]))!;
  const lengths = got.length === want.length ? '' : ` (${got.length} entries, reference ${want.length})`;
  return `entry ${at} is ${show(got[at])}, reference ${show(want[at])}${lengths}`;
}

export const clipTokenizerKind: GoldenKind = {
  title: 'openai/CLIP BPE tokenizer',
  async check(dir) {
    const golden = readTokenizerGolden(dir);
    const tok = ClipTokenizer.fromBpeGz(join(dir, BPE_FILE));
    const plain = ClipTokenizer.fromBpeGz(join(dir, BPE_FILE), { ftfy: false });
    const contextLength = golden.context_length;
    const strings = golden.strings;
    /** Our value for each string against the reference field of the same name. */
    const each = <K extends keyof GoldenString>(field: K, ours: (s: GoldenString) => unknown, name: string = field) =>
      exactCheck(name, strings, (s, i) => {
        const got = ours(s);
        return isDeepStrictEqual(got, s[field]) ? undefined : `string ${i} ${show(s.text)}: ${difference(got, s[field])}`;
      });
    /** openai refuses an over-long text unless told to truncate: the error message, or the row. */
    const untruncated = (text: string): unknown => {
      try {
        return Array.from(tok.tokenize([text], { contextLength }));
      } catch (e) {
        return (e as Error).message;
      }
    };
    const checks: OutputCheck[] = [
      exactCheck('vocabulary', [['vocab_size', tok.vocabSize, golden.vocab_size], ['sot', tok.sot, golden.sot], ['eot', tok.eot, golden.eot]] as const,
        ([k, got, want]) => (got === want ? undefined : `${k} ${got}, reference ${want}`)),
      each('cleaned', (s) => tok.clean(s.text)),
      each('bpe_tokens', (s) => tok.encodeToTokens(s.text)),
      each('bpe_ids', (s) => tok.encode(s.text)),
      each('n_bpe', (s) => tok.encode(s.text).length),
      each('decoded', (s) => tok.decode(s.bpe_ids)),
      each('bpe_ids_without_ftfy', (s) => plain.encode(s.text)),
      each('ftfy_changes_ids', (s) => !isDeepStrictEqual(plain.encode(s.text), tok.encode(s.text))),
      exactCheck('truncated', strings, (s, i) => {
        const got = untruncated(s.text);
        const ok = s.truncated ? typeof got === 'string' && got.endsWith(`is too long for context length ${contextLength}`) : isDeepStrictEqual(got, s.ids_77_openai_pad0);
        return ok ? undefined : `string ${i} ${show(s.text)} without truncation: ${s.truncated ? `${show(got)}, reference refused as too long` : difference(got, s.ids_77_openai_pad0)}`;
      }),
      each('ids_77_openai_pad0', (s) => Array.from(tok.tokenize([s.text], { contextLength, truncate: true }))),
      each('ids_77_sd_hf_pad_eot', (s) => Array.from(tok.tokenize(s.text, { contextLength, truncate: true, pad: 'eot' }))),
    ];
    // The batch rows, as the text encoder gets them (int32 and int64), against the stored id tables.
    const texts = strings.map((s) => s.text);
    const table = new ReferenceOutputs(SafetensorsFile.open(join(dir, 'token_ids.safetensors')), 'token_ids.safetensors/');
    const rows = (name: string, got: ArrayLike<number | bigint>) => {
      const want = table.file.readRaw(name).data as ArrayLike<number | bigint>;
      const n = table.file.info(name).shape[1]!;
      const row = (a: ArrayLike<number | bigint>, r: number) => Array.from({ length: n }, (_, j) => Number(a[r * n + j]!));
      table.add(exactCheck(`token_ids.safetensors/${name}`, texts, (_, r) => (isDeepStrictEqual(row(got, r), row(want, r)) ? undefined : `row ${r}: ${difference(row(got, r), row(want, r))}`)), name);
    };
    const ids32 = tok.tokenize(texts, { contextLength, truncate: true });
    const ids64 = tok.tokenizeInt64(texts, { contextLength, truncate: true, pad: 'eot' });
    rows('ids_77_openai_pad0', ids32);
    rows('ids_77_sd_hf_pad_eot', ids64);
    rows('ids_77_sd_hf_pad_eot_float32', ids64);
    return [...checks, ...table.checks()];
  },
};
