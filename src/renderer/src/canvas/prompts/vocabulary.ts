// The vocabulary prompt of pipelines that label everything a vocabulary names: the project's stored vocabulary
// (vocabulary.get / vocabulary.set) as the pipeline panel edits it, one entry a line with commas between synonyms
// ("car, automobile"), and the prompt a run sends.
import type { ProjectVocabulary, Prompt } from '../../../../shared/contract';
import { synonymsOf } from '../../../../shared/vocabulary';
import { client } from '../../client';

/** The panel's text of a vocabulary: one entry a line. */
export const vocabularyText = (v: ProjectVocabulary): string => v.names.join('\n');

/** The entries of the panel's text: one a line, synonyms tidied ("car ,automobile," → "car, automobile"), blank lines dropped. */
export const vocabularyNames = (text: string): string[] => text.split('\n').map((line) => synonymsOf(line).join(', ')).filter(Boolean);

/** The name stuff is listed by: an entry's first synonym. */
export const entryName = (entry: string): string => synonymsOf(entry)[0] ?? '';

/** Whether `stuff` lists the entry (by its first synonym, in any case, as the back end matches it). */
export const isStuff = (stuff: readonly string[], entry: string): boolean => stuff.some((s) => s.toLowerCase() === entryName(entry).toLowerCase());

export const vocabularyPrompt = (v: ProjectVocabulary): Prompt => ({ kind: 'vocabulary', names: v.names, ...(v.stuff.length ? { stuff: v.stuff } : {}) });

/** The stored vocabulary as a prompt, for runs started away from the panel (the grid's and the strip's batch button). */
export async function storedVocabularyPrompt(): Promise<Prompt> {
  const v = await client.call('vocabulary.get', {});
  if (!v.names.length) throw new Error('The vocabulary is empty: open an image and type the categories to find in its side panel first');
  return vocabularyPrompt(v);
}
