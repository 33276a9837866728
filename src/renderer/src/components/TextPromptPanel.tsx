// The pipeline panel's part for pipelines that segment what a text names (Peekaboo): the text, a category that fills
// it (its proposals are then offered in that category), where to run it — this image, the images selected in the
// grid, or every image (a job: the JobBar has progress and cancel too) —, the run's progress and cancel here while its
// mask shows live on the canvas, and the prompts given before, to run one again.
import { useEffect, useState } from 'react';
import type { Category, EventPayload, Prompt } from '../../../shared/contract';
import { client } from '../client';
import { loadRecentPrompts, useRecentPrompts, type TextPrompt } from '../canvas/prompts/text';
import { useSelectedForRun } from '../selection';
import { UNASSIGNED_COLOR } from './CanvasView';

export function TextPromptPanel({
  pipeline,
  imageId,
  categories,
  job,
  onFind,
}: {
  pipeline: string;
  imageId: number;
  categories: Category[];
  /** The run this panel started, while it runs ('' until its id is known). */
  job: string | null;
  /** Runs the pipeline with the prompt on these images (undefined: every image). */
  onFind(imageIds: number[] | undefined, prompt: Prompt): void;
}) {
  const [text, setText] = useState('');
  const [categoryId, setCategoryId] = useState<number | null>(null);
  const [progress, setProgress] = useState<EventPayload<'job.progress'> | null>(null);
  const recent = useRecentPrompts(pipeline);
  const { selected, runIds } = useSelectedForRun();
  const byId = new Map(categories.map((c) => [c.id, c]));

  useEffect(() => {
    setProgress(null);
    if (!job) return;
    const off = client.on('job.progress', (e) => e.jobId === job && setProgress(e));
    return () => {
      off();
      void loadRecentPrompts(pipeline).catch(() => {}); // the run stored its prompt
    };
  }, [job, pipeline]);

  const prompt = (): TextPrompt | null => {
    const t = text.trim();
    return t ? { kind: 'text', text: t, ...(categoryId !== null && byId.has(categoryId) ? { categoryId } : {}) } : null;
  };
  const find = (imageIds: number[] | undefined, p = prompt()) => p && onFind(imageIds, p);
  const busy = job !== null;
  const ready = !busy && text.trim() !== '';
  const what = `“${text.trim()}”`;
  const use = (p: TextPrompt) => {
    setText(p.text);
    setCategoryId(p.categoryId ?? null);
  };

  return (
    <div className="text-prompt" data-testid="text-prompt">
      <label className="small text-prompt-category" title="The category to find: fills the text with its name, and its proposals are offered in it">
        Category{' '}
        <select
          value={categoryId ?? ''}
          data-testid="text-prompt-category"
          onChange={(e) => {
            const c = byId.get(Number(e.target.value));
            setCategoryId(c?.id ?? null);
            if (c) setText(c.name);
          }}
        >
          <option value="">none</option>
          {categories.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
      </label>
      <input
        type="text"
        className="text-prompt-input"
        value={text}
        maxLength={1000}
        placeholder="What to segment, e.g. the brown cow (a | b: both, averaged)"
        aria-label="Text prompt"
        data-testid="text-prompt-input"
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          e.stopPropagation(); // typing is not the canvas's shortcuts
          if (e.key === 'Enter' && ready) find([imageId]);
        }}
      />
      <div className="segment-row">
        <button className="primary" onClick={() => find([imageId])} disabled={!ready} data-testid="text-find-here" title={ready ? `Find ${what} in this image (Enter)` : 'Type what to find first'}>
          {busy ? 'Finding…' : 'Find in this image'}
        </button>
        <button
          onClick={() => find(runIds)}
          disabled={!ready || !runIds.length}
          data-testid="text-find-selected"
          title={!selected ? 'Select images in the grid first (click, Ctrl+click, Shift+click, Ctrl+A)' : `Find ${what} in the images selected in the grid (a job)`}
        >
          Selected images{selected ? ` (${runIds.length})` : ''}
        </button>
        <button onClick={() => find(undefined)} disabled={!ready} data-testid="text-find-all" title={`Find ${what} in every image (a job)`}>
          All images
        </button>
      </div>
      {job !== null && (
        <div className="text-prompt-progress small" role="status" data-testid="text-prompt-progress">
          <span className="spinner" />
          <span className="job-message">{progress?.message || 'starting…'}</span>
          <button onClick={() => job && void client.call('jobs.cancel', { id: job })} disabled={!job} data-testid="text-prompt-cancel">
            Cancel
          </button>
        </div>
      )}
      {!!recent?.length && (
        <details className="text-prompt-recent" open>
          <summary className="small muted">Prompts used ({recent.length})</summary>
          <ul className="example-list" data-testid="text-prompt-recent">
            {recent.map((r) => {
              const c = r.prompt.categoryId !== undefined ? byId.get(r.prompt.categoryId) : undefined;
              return (
                <li key={`${r.prompt.text}\n${r.prompt.categoryId ?? ''}`} data-testid="recent-prompt" onClick={() => use(r.prompt)} title={`Use this prompt (${r.runs} run${r.runs === 1 ? '' : 's'}, last ${new Date(r.usedAt).toLocaleString()})`}>
                  {c && <span className="swatch" style={{ background: c.color ?? UNASSIGNED_COLOR }} />}
                  <span className="example-name">
                    <bdi>{r.prompt.text}</bdi>
                  </span>
                  <button
                    className="icon"
                    disabled={busy}
                    title="Run this prompt again on this image"
                    aria-label={`Run “${r.prompt.text}” again on this image`}
                    onClick={(ev) => {
                      ev.stopPropagation();
                      use(r.prompt);
                      find([imageId], r.prompt);
                    }}
                  >
                    ↻
                  </button>
                </li>
              );
            })}
          </ul>
        </details>
      )}
    </div>
  );
}
