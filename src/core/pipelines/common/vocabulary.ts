// A vocabulary prompt's entries as every vocabulary pipeline reads them: an entry is one category, its synonyms after
// commas ("car, automobile"), the first naming it; stuff entries are named in `stuff` by that first synonym.
import { synonymsOf } from '../../../shared/vocabulary';
import { PipelineInputError } from '../run';

export interface VocabularyEntry {
  /** The first names the category. */
  synonyms: string[];
  isThing: boolean;
}

/** A vocabulary prompt's entries; a PipelineInputError for an entry named twice or a stuff name that is no entry's. */
export function vocabularyEntries(prompt: { names: readonly string[]; stuff?: readonly string[] }): VocabularyEntry[] {
  const stuff = new Set((prompt.stuff ?? []).map((s) => s.trim().toLowerCase()));
  const seen = new Map<string, number>();
  const entries = prompt.names.map((name, i) => {
    const synonyms = synonymsOf(name);
    if (!synonyms.length) throw new PipelineInputError(`vocabulary entry ${i + 1} names nothing`, [{ path: `prompt.names.${i}`, message: 'no name' }]);
    for (const s of synonyms) {
      const before = seen.get(s.toLowerCase());
      if (before !== undefined) throw new PipelineInputError(`"${s}" is in vocabulary entries ${before + 1} and ${i + 1}: a word names one category`, [{ path: `prompt.names.${i}`, message: `"${s}" is named before` }]);
      seen.set(s.toLowerCase(), i);
    }
    return { synonyms, isThing: !stuff.has(synonyms[0]!.toLowerCase()) };
  });
  const names = new Set(entries.map((e) => e.synonyms[0]!.toLowerCase()));
  const stray = [...stuff].filter((s) => !names.has(s));
  if (stray.length) throw new PipelineInputError(`stuff names no vocabulary entry: ${stray.join(', ')} (name an entry by its first synonym)`, [{ path: 'prompt.stuff', message: 'not an entry' }]);
  return entries;
}
