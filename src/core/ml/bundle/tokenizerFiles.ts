// Finding the CLIP tokenizer files of a source (diffusers `tokenizer/`, or a --tokenizer path) and loading them.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ClipTokenizer } from '../tokenizer';
import { BundleError } from './errors';

export type TokenizerFiles =
  | { format: 'vocab-merges'; vocab: string; merges: string }
  | { format: 'bpe-gz'; bpe: string };

/** A folder with vocab.json + merges.txt or exactly one *.txt.gz, or a *.txt.gz file. Null when `path` holds none. */
export function findTokenizerFiles(path: string): TokenizerFiles | null {
  if (!existsSync(path)) return null;
  if (statSync(path).isFile()) return path.endsWith('.gz') ? { format: 'bpe-gz', bpe: path } : null;
  const vocab = join(path, 'vocab.json');
  const merges = join(path, 'merges.txt');
  if (existsSync(vocab) && existsSync(merges)) return { format: 'vocab-merges', vocab, merges };
  const gz = readdirSync(path).filter((f) => f.endsWith('.txt.gz'));
  if (gz.length === 1) return { format: 'bpe-gz', bpe: join(path, gz[0]!) };
  return null;
}

/** Like findTokenizerFiles, but an explicit --tokenizer path that holds nothing usable is an error. */
export function requireTokenizerFiles(path: string): TokenizerFiles {
  if (!existsSync(path)) throw new BundleError(`tokenizer not found: ${path}`);
  const t = findTokenizerFiles(path);
  if (!t)
    throw new BundleError(`no CLIP tokenizer in ${path}: expected a folder with vocab.json + merges.txt, or a bpe_simple_vocab_16e6.txt.gz (folder or file)`);
  return t;
}

export function tokenizerPaths(t: TokenizerFiles): string[] {
  return t.format === 'vocab-merges' ? [t.vocab, t.merges] : [t.bpe];
}

/** Parses the files (so a corrupt tokenizer fails at conversion, not at first use). */
export function loadTokenizer(t: TokenizerFiles): ClipTokenizer {
  try {
    return t.format === 'vocab-merges' ? ClipTokenizer.fromVocabMerges(t.vocab, t.merges) : ClipTokenizer.fromBpeGz(t.bpe);
  } catch (e) {
    throw new BundleError(`cannot load the tokenizer (${tokenizerPaths(t).map((p) => basename(p)).join(', ')}): ${(e as Error).message}`);
  }
}
