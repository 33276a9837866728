// The CLIP tokenizer against the openai/CLIP golden cases (tests/golden/tokenizer_F, see its README), by the kind
// module `npm run golden` runs (src/core/golden/clipTokenizer.ts): every comparison exact.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClipTokenizer, fixText, pythonHtmlUnescape } from '../../src/core/ml/tokenizer';
import { withinTolerance } from '../../src/core/golden/compare';
import { BPE_FILE, clipTokenizerKind, readTokenizerGolden } from '../../src/core/golden/clipTokenizer';

const GOLDEN = resolve(__dirname, '../golden/tokenizer_F');
const BPE_GZ = join(GOLDEN, BPE_FILE);
const golden = readTokenizerGolden(GOLDEN);

const tok = ClipTokenizer.fromBpeGz(BPE_GZ);

describe('ClipTokenizer from bpe_simple_vocab_16e6.txt.gz', () => {
  it('matches openai on every golden string: cleaning, BPE with and without ftfy, decoding, 77-id rows, refusals, id tables', async () => {
    const checks = await clipTokenizerKind.check(GOLDEN, { kind: 'clip_tokenizer' });
    expect(checks.filter((c) => !withinTolerance(c))).toEqual([]);
    expect(checks.map((c) => c.name)).toEqual([
      'vocabulary', 'cleaned', 'bpe_tokens', 'bpe_ids', 'n_bpe', 'decoded', 'bpe_ids_without_ftfy', 'ftfy_changes_ids', 'truncated',
      'ids_77_openai_pad0', 'ids_77_sd_hf_pad_eot', 'token_ids.safetensors/ids_77_openai_pad0', 'token_ids.safetensors/ids_77_sd_hf_pad_eot',
      'token_ids.safetensors/ids_77_sd_hf_pad_eot_float32',
    ]);
    expect(checks.filter((c) => c.measure === 'mismatches' && c.name !== 'vocabulary').map((c) => c.total)).toEqual(Array(13).fill(35));
  });

  it('the golden strings reach the edges: ftfy repairs, exactly 75 and 76 ids, a truncated row', () => {
    expect(golden.strings).toHaveLength(35);
    expect(golden.strings.filter((s) => s.ftfy_changes_ids)).toHaveLength(5);
    expect(golden.strings[33]!.bpe_ids).toHaveLength(75);
    expect(golden.strings[34]!.bpe_ids).toHaveLength(76);
    expect(golden.strings[27]!.truncated).toBe(true);
  });

  it('tokenizes to int32 rows, or int64 for ONNX text encoders, and keeps EOT last when truncating', () => {
    const texts = golden.strings.map((s) => s.text);
    const ids32 = tok.tokenize(texts, { truncate: true });
    expect(ids32).toBeInstanceOf(Int32Array);
    expect(tok.tokenizeInt64(texts, { truncate: true, pad: 'eot' })).toBeInstanceOf(BigInt64Array);
    expect(ids32[27 * 77 + 76]).toBe(golden.eot);
    // exactly 75 BPE ids + SOT + EOT fit; 76 do not
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
