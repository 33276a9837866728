// `segment`'s vocabulary options: `--vocab` lists categories (commas between categories, `|` between a category's
// synonyms: "person,car|automobile,road"; repeated, the lists add up), `--stuff` names those of them that are stuff
// (by their first synonym, same syntax), and `--mode odise|attention` picks the vocabulary pipeline, ODISE's or the
// attention mode's. Commas cannot separate synonyms on the command line as they do in the app's field: a shell user
// writes a list of categories far more often than a category with synonyms.
import type { Prompt } from '../../shared/contract';
import type { ProjectStore } from '../project';
import { synonymsOf } from '../../shared/vocabulary';
import { vocabularyEntries } from '../pipelines/common/vocabulary';

export interface VocabularyOptions {
  vocab?: string[];
  stuff?: string[];
  mode?: string;
}

/** The pipeline each `--mode` runs. */
export const VOCABULARY_MODES: Record<string, string> = { odise: 'odise', attention: 'vocabulary' };

/** Categories of `--vocab` / `--stuff` values, each as a vocabulary entry ("car, automobile"). */
export function vocabularyList(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(',')).map((c) => synonymsOf(c.replace(/\|/g, ',')).join(', ')).filter(Boolean);
}

/**
 * The pipeline the options name (`--mode` over `--pipeline`), or the usage error that says why not: a mode whose
 * pipeline is not registered in this build, or a mode and a pipeline that disagree.
 */
export function vocabularyPipeline(o: VocabularyOptions, pipeline: string, pipelineGiven: boolean, registered: ReadonlySet<string>): { pipeline: string } | { error: string } {
  if (o.mode === undefined) return { pipeline };
  const id = VOCABULARY_MODES[o.mode];
  if (!id) return { error: `--mode takes ${Object.keys(VOCABULARY_MODES).join(' or ')}, not "${o.mode}"` };
  if (!registered.has(id)) return { error: `--mode ${o.mode} runs the ${id} pipeline, which this build of DiffLabel does not have (pipelines: ${[...registered].join(', ')}); --mode attention runs without ODISE weights` };
  if (pipelineGiven && pipeline !== id) return { error: `--mode ${o.mode} runs the ${id} pipeline, not ${pipeline}: give one of --mode and --pipeline` };
  return { pipeline: id };
}

/** The vocabulary prompt of `--vocab` and `--stuff` (null without --vocab), or a usage error. */
export function vocabularyPrompt(o: VocabularyOptions): Prompt | { error: string } | null {
  if (!o.vocab) return o.stuff ? { error: '--stuff names categories of --vocab: give --vocab too' } : null;
  const names = vocabularyList(o.vocab);
  if (!names.length) return { error: '--vocab names no category' };
  const stuff = vocabularyList(o.stuff ?? []).map((s) => synonymsOf(s)[0]!);
  const prompt = { kind: 'vocabulary' as const, names, ...(stuff.length ? { stuff } : {}) };
  try {
    vocabularyEntries(prompt); // a word named twice, stuff that is no category: said before any image runs
  } catch (e) {
    return { error: (e as Error).message };
  }
  return prompt;
}

/** Commander's collector for a repeatable option. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** The prompt with `stuff` taken from the project: the entries whose category (matched by name) is stuff. */
export function withProjectStuff(store: ProjectStore, prompt: Extract<Prompt, { kind: 'vocabulary' }>): Prompt {
  const stuff = prompt.names.map((n) => synonymsOf(n)[0]!).filter((n) => store.categoryNamed(n)?.isthing === false);
  return stuff.length ? { ...prompt, stuff } : prompt;
}
