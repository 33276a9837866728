// The CLIP tokenizer against the openai/CLIP golden cases (tests/golden/tokenizer_F, see its README).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClipTokenizer, fixText, pythonHtmlUnescape } from '../../src/core/ml/tokenizer';

const GOLDEN = resolve(__dirname, '../golden/tokenizer_F');
const BPE_GZ = join(GOLDEN, 'bpe_simple_vocab_16e6.txt.gz');

interface GoldenCase {
  text: string;
  cleaned: string;
  bpe_ids: number[];
  bpe_tokens: string[];
  truncated: boolean;
  bpe_ids_without_ftfy: number[];
  ftfy_changes_ids: boolean;
  decoded: string;
  ids_77_openai_pad0: number[];
  ids_77_sd_hf_pad_eot: number[];
}
const golden = JSON.parse(readFileSync(join(GOLDEN, 'tokenizer_golden.json'), 'utf8')) as {
  sot: number;
  eot: number;
  vocab_size: number;
  context_length: number;
  strings: GoldenCase[];
};

/** Minimal safetensors reader for the I64 id tables (the real reader lives in ml/weights). */
function readI64Tensor(path: string, name: string): { shape: number[]; data: number[] } {
  const buf = readFileSync(path);
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  const info = header[name] as { dtype: string; shape: number[]; data_offsets: [number, number] };
  expect(info.dtype).toBe('I64');
  const start = 8 + headerLen + info.data_offsets[0];
  const n = (info.data_offsets[1] - info.data_offsets[0]) / 8;
  const data = Array.from({ length: n }, (_, i) => Number(buf.readBigInt64LE(start + 8 * i)));
  return { shape: info.shape, data };
}

const tok = ClipTokenizer.fromBpeGz(BPE_GZ);
const tokNoFtfy = ClipTokenizer.fromBpeGz(BPE_GZ, { ftfy: false });
const texts = golden.strings.map((s) => s.text);
const row = (a: ArrayLike<number>, r: number, n = 77) => Array.from(a).slice(r * n, (r + 1) * n);

describe('ClipTokenizer from bpe_simple_vocab_16e6.txt.gz', () => {
  it('has the CLIP vocabulary and special ids', () => {
    expect(golden.strings).toHaveLength(35);
    expect(tok.vocabSize).toBe(golden.vocab_size);
    expect([tok.sot, tok.eot]).toEqual([golden.sot, golden.eot]);
  });

  describe.each(golden.strings.map((s, i) => [i, s] as const))('golden case %i', (_i, c) => {
    it('cleans, encodes and decodes like openai (with ftfy)', () => {
      expect(tok.clean(c.text)).toBe(c.cleaned);
      expect(tok.encodeToTokens(c.text)).toEqual(c.bpe_tokens);
      expect(tok.encode(c.text)).toEqual(c.bpe_ids);
      expect(tok.decode(c.bpe_ids)).toBe(c.decoded);
    });
    it('encodes like openai without ftfy', () => {
      expect(tokNoFtfy.encode(c.text)).toEqual(c.bpe_ids_without_ftfy);
    });
    it('tokenizes to 77 ids, openai (pad 0) and SD/HF (pad EOT)', () => {
      expect(Array.from(tok.tokenize([c.text], { truncate: true }))).toEqual(c.ids_77_openai_pad0);
      expect(Array.from(tok.tokenize(c.text, { truncate: true, pad: 'eot' }))).toEqual(c.ids_77_sd_hf_pad_eot);
    });
  });

  it('the cases where ftfy matters really differ without it', () => {
    const changed = golden.strings.filter((s) => s.ftfy_changes_ids);
    expect(changed).toHaveLength(5);
    for (const c of changed) expect(tokNoFtfy.encode(c.text)).not.toEqual(tok.encode(c.text));
  });

  it('batch tokenize equals token_ids.safetensors bit for bit', () => {
    const file = join(GOLDEN, 'token_ids.safetensors');
    const pad0 = readI64Tensor(file, 'ids_77_openai_pad0');
    const padEot = readI64Tensor(file, 'ids_77_sd_hf_pad_eot');
    expect(pad0.shape).toEqual([35, 77]);
    const ids32 = tok.tokenize(texts, { truncate: true });
    expect(ids32).toBeInstanceOf(Int32Array);
    expect(Array.from(ids32)).toEqual(pad0.data);
    const ids64 = tok.tokenizeInt64(texts, { truncate: true, pad: 'eot' });
    expect(ids64).toBeInstanceOf(BigInt64Array);
    expect(Array.from(ids64, Number)).toEqual(padEot.data);
    expect(row(ids32, 27)[76]).toBe(golden.eot); // truncated row keeps EOT last
  });

  it('refuses over-long text without truncate, as openai raises', () => {
    for (const c of golden.strings) {
      if (c.truncated) {
        expect(() => tok.tokenize([c.text])).toThrow(/is too long for context length 77/);
      } else {
        expect(row(tok.tokenize([c.text]), 0)).toEqual(c.ids_77_openai_pad0);
      }
    }
    // exactly 75 BPE ids + SOT + EOT fit; 76 do not
    expect(golden.strings[33]!.bpe_ids).toHaveLength(75);
    expect(golden.strings[34]!.bpe_ids).toHaveLength(76);
    expect(() => tok.tokenize(golden.strings[34]!.text, { contextLength: 77 })).toThrow(/too long/);
  });

  it('honours other context lengths', () => {
    const ids = tok.tokenize(['a photograph of an astronaut riding a horse'], { contextLength: 5, truncate: true });
    expect(Array.from(ids)).toEqual([49406, 320, 8853, 539, 49407]);
    expect(() => tok.tokenize(['x'], { contextLength: 1 })).toThrow(/contextLength/);
  });

  it('rejects ids outside the vocabulary when decoding', () => {
    expect(() => tok.decode([49408])).toThrow(/not in the vocabulary/);
    expect(tok.decode([49406, 320, 49407])).toBe('<|startoftext|>a <|endoftext|>');
  });
});

describe('ClipTokenizer from a diffusers vocab.json + merges.txt pair', () => {
  let dir = '';
  beforeAll(() => {
    // Derive the pair the way HF's CLIP tokenizer files are laid out: merges.txt with a version header,
    // vocab.json = token -> id of the openai vocabulary.
    dir = mkdtempSync(join(tmpdir(), 'difflabel-tok-'));
    const lines = gunzipSync(readFileSync(BPE_GZ)).toString('utf8').split('\n').slice(1, 1 + 48894);
    writeFileSync(join(dir, 'merges.txt'), `#version: 0.2\n${lines.join('\n')}\n`);
    const vocab: Record<string, number> = {};
    for (let id = 0; id < tok.vocabSize; id++) vocab[tok.decodeToken(id)] = id;
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify(vocab));
    writeFileSync(join(dir, 'bad.json'), '[1,2]');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the same ids on every golden case', () => {
    const hf = ClipTokenizer.fromVocabMerges(join(dir, 'vocab.json'), join(dir, 'merges.txt'));
    expect(hf.vocabSize).toBe(49408);
    expect([hf.sot, hf.eot]).toEqual([49406, 49407]);
    for (const c of golden.strings) {
      expect(hf.encode(c.text)).toEqual(c.bpe_ids);
      expect(Array.from(hf.tokenize([c.text], { truncate: true, pad: 'eot' }))).toEqual(c.ids_77_sd_hf_pad_eot);
    }
  });

  it('reports unreadable vocabularies clearly', () => {
    expect(() => ClipTokenizer.fromVocabMerges(join(dir, 'missing.json'), join(dir, 'merges.txt'))).toThrow(/cannot read tokenizer vocabulary/);
    expect(() => ClipTokenizer.fromVocabMerges(join(dir, 'bad.json'), join(dir, 'merges.txt'))).toThrow(/not a JSON object/);
  });
});

describe('cleanup helpers', () => {
  it('html.unescape follows Python (legacy names without ";", numeric remaps)', () => {
    expect(pythonHtmlUnescape('&amp;&lt;tag&gt; &copy 2024 &#x80; &#0; &#1; &#xD800; &notit;')).toBe('&<tag> © 2024 € \ufffd  \ufffd ¬it;');
  });
  it('fixText repairs mojibake, width, quotes and ligatures but leaves plain text alone', () => {
    expect(fixText('cafÃ© â€œquotesâ€\x9d')).toBe('café "quotes"');
    expect(fixText('Ｆｕｌｌｗｉｄｔｈ ﬁne ‘ok’')).toBe("Fullwidth fine 'ok'");
    expect(fixText('café naïve résumé')).toBe('café naïve résumé');
    expect(fixText('e\u0301')).toBe('\u00e9');
  });
});
