// The pipeline panel's part for pipelines that segment from an example: the examples grouped by their mask's
// category (image, delete), the one to find from, and where to find it — this image, or every image (a job: progress,
// cancel and the summary in the JobBar), the images selected in the grid, or every image. Proposals come back
// unassigned and are offered in the example's category.
import type { Category, Example, Prompt } from '../../../shared/contract';
import { chooseExample, deleteExample, examplePrompt, useChosenExample, useExamples } from '../canvas/prompts/example';
import { useSelectedForRun } from '../selection';
import { UNASSIGNED_COLOR } from './CanvasView';

export function ExamplePanel({
  imageId,
  categories,
  busy,
  onFind,
  onMessage,
}: {
  imageId: number;
  categories: Category[];
  busy: boolean;
  /** Runs the pipeline with the prompt on these images (undefined: every image). */
  onFind(imageIds: number[] | undefined, prompt: Prompt): void;
  onMessage(msg: string): void;
}) {
  const examples = useExamples();
  const current = useChosenExample();
  const { selected, runIds } = useSelectedForRun();
  const byId = new Map(categories.map((c) => [c.id, c]));
  // Categories in the panel's order, unassigned last; a category deleted since counts as unassigned.
  const groups = [...categories.map((c) => c.id), null]
    .map((id) => ({ id, items: (examples ?? []).filter((e) => (e.categoryId !== null && byId.has(e.categoryId) ? e.categoryId : null) === id) }))
    .filter((g) => g.items.length);
  const find = (imageIds: number[] | undefined) => current && onFind(imageIds, examplePrompt(current));
  const what = current ? `the example ${current.imagePath} #${current.annotationId}` : '';

  return (
    <div className="examples" data-testid="examples">
      {examples && !examples.length && (
        <p className="small muted" data-testid="examples-empty">
          No example yet: select a mask and press U (or ☆ in its row) to use it as an example.
        </p>
      )}
      {groups.map((g) => {
        const c = g.id === null ? undefined : byId.get(g.id);
        return (
          <div key={g.id ?? 'none'} className="example-group">
            <div className="small example-category">
              <span className="swatch" style={{ background: c?.color ?? UNASSIGNED_COLOR }} /> {c?.name ?? 'unassigned'}
            </div>
            <ul className="example-list">
              {g.items.map((e) => (
                <ExampleRow key={e.id} e={e} current={current?.id === e.id} onMessage={onMessage} />
              ))}
            </ul>
          </div>
        );
      })}
      <div className="segment-row">
        <button onClick={() => find([imageId])} disabled={!current || busy} data-testid="find-here" title={current ? `Find ${what} in this image` : 'Choose an example first'}>
          {busy ? 'Finding…' : 'Find in this image'}
        </button>
        <button
          onClick={() => find(runIds)}
          disabled={!current || busy || !runIds.length}
          data-testid="find-selected"
          title={
            !selected
              ? 'Select images in the grid first (click, Ctrl+click, Shift+click, Ctrl+A)'
              : current
                ? `Find ${what} in the images selected in the grid (a job)${runIds.length < selected ? `; ${selected - runIds.length} missing or unreadable left out` : ''}`
                : 'Choose an example first'
          }
        >
          Find in selected images{selected ? ` (${runIds.length})` : ''}
        </button>
        <button onClick={() => find(undefined)} disabled={!current || busy} data-testid="find-all" title={current ? `Find ${what} in every image (a job)` : 'Choose an example first'}>
          Find in all images
        </button>
      </div>
    </div>
  );
}

function ExampleRow({ e, current, onMessage }: { e: Example; current: boolean; onMessage(msg: string): void }) {
  return (
    <li className={current ? 'current' : ''} data-testid="example-row" data-id={e.id} onClick={() => chooseExample(e.id)} title={`Find from this mask (#${e.annotationId}, ${e.bbox[2]}×${e.bbox[3]} px box)`}>
      <input type="radio" checked={current} readOnly aria-label={`Example ${e.imagePath} #${e.annotationId}`} />
      <span className="example-name">
        <bdi dir="ltr">{e.imagePath}</bdi> <span className="muted">#{e.annotationId}</span>
      </span>
      <button
        className="icon"
        title="Delete this example (the mask stays)"
        aria-label={`Delete example ${e.imagePath} #${e.annotationId}`}
        onClick={(ev) => {
          ev.stopPropagation();
          deleteExample(e.id).catch((err: Error) => onMessage(err.message));
        }}
      >
        ×
      </button>
    </li>
  );
}
