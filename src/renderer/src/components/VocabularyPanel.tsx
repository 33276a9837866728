// The pipeline panel's part for pipelines that label everything a vocabulary names: the project's vocabulary as
// an editable list (one category a line, synonyms after commas), which of its entries are stuff, and where to label —
// this image, the images selected in the grid, or every image (a job: progress, cancel and the summary in the
// JobBar). The vocabulary is stored with the project when the field loses focus, a stuff box changes or a run
// starts. Proposals come back unassigned and are offered in the category they were found as.
import { useEffect, useRef, useState } from 'react';
import type { ProjectVocabulary, Prompt } from '../../../shared/contract';
import { synonymsOf } from '../../../shared/vocabulary';
import { entryName, isStuff, vocabularyNames, vocabularyPrompt, vocabularyText } from '../canvas/prompts/vocabulary';
import { client } from '../client';
import { useSelectedForRun } from '../selection';

const PLACEHOLDER = 'One category a line, synonyms after commas:\nperson\ncar, automobile\nroad\nsky';

/** Whether a draft (its stuff possibly naming entries since removed) says what `v` says. */
function same(v: ProjectVocabulary, d: ProjectVocabulary): boolean {
  const stuff = d.names.filter((n) => isStuff(d.stuff, n)).map(entryName);
  return JSON.stringify([v.names, v.stuff]) === JSON.stringify([d.names, stuff]);
}

export function VocabularyPanel({
  imageId,
  busy,
  onFind,
  onMessage,
}: {
  imageId: number;
  busy: boolean;
  /** Runs the pipeline with the prompt on these images (undefined: every image). */
  onFind(imageIds: number[] | undefined, prompt: Prompt): void;
  onMessage(msg: string): void;
}) {
  const [saved, setSaved] = useState<ProjectVocabulary | null>(null);
  /** The field's text and the stuff boxes while they differ from what is stored; null: they show the stored vocabulary. */
  const [draft, setDraft] = useState<{ text: string; stuff: string[] } | null>(null);
  const { selected, runIds } = useSelectedForRun();
  // What the back end holds, and the stores in flight: one at a time, so a click that also blurs the field stores once.
  const stored = useRef<ProjectVocabulary | null>(null);
  const queue = useRef<Promise<unknown>>(Promise.resolve());
  useEffect(() => {
    // Until a vocabulary is stored it is the categories, so their changes show too; no project yet: nothing to show.
    const load = () =>
      void client.call('vocabulary.get', {}).then((v) => {
        stored.current = v;
        setSaved(v);
      }, () => {});
    load();
    return client.on('project.changed', (e) => (e.what === 'vocabulary' || e.what === 'categories' || e.what === 'project') && load());
  }, []);

  const text = draft?.text ?? (saved ? vocabularyText(saved) : '');
  const names = vocabularyNames(text);
  // Stuff is kept by an entry's first synonym: entries renamed or removed in the field drop out of it.
  const stuffOf = (list: readonly string[]) => names.filter((n) => isStuff(list, n)).map(entryName);
  const current: ProjectVocabulary = { names, stuff: stuffOf(draft?.stuff ?? saved?.stuff ?? []) };

  /** Stores the vocabulary unless it is stored already; the stored one, or null when it was refused (said). */
  const save = (v: ProjectVocabulary): Promise<ProjectVocabulary | null> => {
    const done = queue.current.then(async () => {
      try {
        if (JSON.stringify(stored.current) !== JSON.stringify(v)) stored.current = await client.call('vocabulary.set', v);
        setSaved(stored.current);
        // Typing or ticking on while it was stored keeps the newer draft.
        setDraft((d) => (d && same(v, { names: vocabularyNames(d.text), stuff: d.stuff }) ? null : d));
        return stored.current;
      } catch (e) {
        onMessage(`The vocabulary was not stored: ${(e as Error).message}`);
        return null;
      }
    });
    queue.current = done;
    return done;
  };
  const label = async (imageIds: number[] | undefined) => {
    const v = await save(current);
    if (v) onFind(imageIds, vocabularyPrompt(v));
  };
  const empty = !names.length;
  const why = empty ? 'Type the categories to find first' : '';

  return (
    <div className="vocabulary" data-testid="vocabulary">
      <label className="small muted" htmlFor="vocabulary-text">
        Vocabulary: {names.length === 1 ? '1 category' : `${names.length} categories`}
      </label>
      <textarea
        id="vocabulary-text"
        className="vocabulary-text"
        rows={4}
        value={text}
        placeholder={PLACEHOLDER}
        spellCheck={false}
        data-testid="vocabulary-text"
        onChange={(e) => setDraft({ text: e.target.value, stuff: current.stuff })}
        onBlur={() => draft !== null && void save(current)}
      />
      {names.length > 0 && (
        <div className="vocabulary-entries" data-testid="vocabulary-entries" title="Tick the stuff: regions such as road or sky, one per image; the rest are things, one proposal per object">
          <span className="small muted">Stuff:</span>
          {names.map((n, i) => {
            const [first, ...others] = synonymsOf(n);
            const on = isStuff(current.stuff, n);
            return (
              <label key={i} className={`vocabulary-entry small ${on ? 'stuff' : ''}`} data-testid="vocabulary-entry">
                <input
                  type="checkbox"
                  checked={on}
                  aria-label={`${first} is stuff`}
                  onChange={(e) => {
                    const stuff = stuffOf(e.target.checked ? [...current.stuff, first!] : current.stuff.filter((s) => s !== first));
                    setDraft({ text, stuff });
                    void save({ names, stuff });
                  }}
                />
                {first}
                {others.length > 0 && <span className="muted"> = {others.join(' = ')}</span>}
              </label>
            );
          })}
        </div>
      )}
      <div className="segment-row">
        <button onClick={() => void label([imageId])} disabled={empty || busy} data-testid="vocabulary-here" title={why || 'Label everything the vocabulary names in this image'}>
          {busy ? 'Labelling…' : 'Label this image'}
        </button>
        <button
          onClick={() => void label(runIds)}
          disabled={empty || busy || !runIds.length}
          data-testid="vocabulary-selected"
          title={
            !selected
              ? 'Select images in the grid first (click, Ctrl+click, Shift+click, Ctrl+A)'
              : why || `Label everything the vocabulary names in the images selected in the grid (a job)${runIds.length < selected ? `; ${selected - runIds.length} missing or unreadable left out` : ''}`
          }
        >
          Label selected images{selected ? ` (${runIds.length})` : ''}
        </button>
        <button onClick={() => void label(undefined)} disabled={empty || busy} data-testid="vocabulary-all" title={why || 'Label everything the vocabulary names in every image (a job)'}>
          Label all images
        </button>
      </div>
    </div>
  );
}
