import { useLayoutEffect, useRef, useState, type FormEvent } from 'react';
import { isProposal, type Annotation, type AttributeValue, type Category } from '../../../shared/contract';
import { client } from '../client';
import { useExamples } from '../canvas/prompts/example';
import { AttributeDefsEditor, AttributeEditor, useAttributeDefs } from './AttributePanel';
import { UNASSIGNED_COLOR } from './CanvasView';

/** Categories: colour, hotkey (1–9 by position), add, rename (double-click), merge into another, delete; the current one's attributes. */
export function CategoryPanel({
  categories,
  current,
  onCurrent,
  counts,
  onError,
}: {
  categories: Category[];
  current: number | null;
  onCurrent(id: number | null): void;
  counts: Map<number | null, number>;
  onError(msg: string): void;
}) {
  const [name, setName] = useState('');
  const [renaming, setRenaming] = useState<number | null>(null);
  const [merging, setMerging] = useState<number | null>(null);
  // The category about to be deleted, with what deleting it leaves unassigned across the project.
  const [deleting, setDeleting] = useState<{ category: Category; annotations: number; images: number } | null>(null);
  const call = (p: Promise<unknown>) => p.catch((e: Error) => onError(e.message));
  const attributeDefs = useAttributeDefs();
  const currentCategory = categories.find((c) => c.id === current);

  const askDelete = (category: Category) =>
    call(
      client.call('categories.counts', {}).then((counts) => {
        const c = counts.find((x) => x.id === category.id);
        setDeleting({ category, annotations: c?.annotations ?? 0, images: c?.images ?? 0 });
      }),
    );
  const confirmDelete = () => {
    if (!deleting) return;
    setDeleting(null);
    call(client.call('categories.delete', { id: deleting.category.id }));
  };

  const add = (e: FormEvent) => {
    e.preventDefault();
    const n = name.trim();
    if (!n) return;
    call(
      client.call('categories.add', { name: n, color: PALETTE[categories.length % PALETTE.length] }).then((c) => {
        setName('');
        // Hand the keyboard back to the canvas shortcuts.
        (document.activeElement as HTMLElement | null)?.blur();
        onCurrent(c.id);
      }),
    );
  };

  return (
    <section className="panel-section" data-testid="categories">
      <h3>Categories</h3>
      <ul className="cat-list">
        {categories.map((c, i) => (
          <li key={c.id} className={current === c.id ? 'current' : ''} data-testid="category-row" onClick={() => onCurrent(c.id)}>
            <input
              type="color"
              value={c.color}
              title="Colour"
              onClick={(e) => e.stopPropagation()}
              onChange={(e) => call(client.call('categories.update', { id: c.id, color: e.target.value }))}
            />
            {renaming === c.id ? (
              <input
                className="cat-rename"
                autoFocus
                defaultValue={c.name}
                onClick={(e) => e.stopPropagation()}
                onBlur={(e) => {
                  setRenaming(null);
                  const v = e.target.value.trim();
                  if (v && v !== c.name) call(client.call('categories.update', { id: c.id, name: v }));
                }}
                onKeyDown={(e) => {
                  if (e.key === 'Enter') (e.target as HTMLInputElement).blur();
                  if (e.key === 'Escape') setRenaming(null);
                }}
              />
            ) : (
              <span className="cat-name" title="Double-click to rename" onDoubleClick={() => setRenaming(c.id)}>
                {c.name}
              </span>
            )}
            <span className="cat-count">{counts.get(c.id) ?? 0}</span>
            {i < 9 && <kbd title={`Press ${i + 1}`}>{i + 1}</kbd>}
            {merging === c.id ? (
              <select
                autoFocus
                aria-label={`Merge ${c.name} into`}
                defaultValue=""
                onClick={(e) => e.stopPropagation()}
                onBlur={() => setMerging(null)}
                onChange={(e) => {
                  setMerging(null);
                  const into = Number(e.target.value);
                  if (into) call(client.call('categories.merge', { from: c.id, into }).then(() => current === c.id && onCurrent(into)));
                }}
              >
                <option value="">merge into…</option>
                {categories
                  .filter((o) => o.id !== c.id)
                  .map((o) => (
                    <option key={o.id} value={o.id}>
                      {o.name}
                    </option>
                  ))}
              </select>
            ) : (
              <button
                className="icon"
                title={`Merge ${c.name} into another category`}
                disabled={categories.length < 2}
                onClick={(e) => {
                  e.stopPropagation();
                  setMerging(c.id);
                }}
              >
                ⇢
              </button>
            )}
            <button
              className="icon"
              title={`Delete ${c.name} (its masks become unassigned)`}
              aria-label={`Delete category ${c.name}`}
              onClick={(e) => {
                e.stopPropagation();
                askDelete(c);
              }}
            >
              ×
            </button>
          </li>
        ))}
        <li className={current === null ? 'current' : ''} onClick={() => onCurrent(null)}>
          <span className="swatch" style={{ background: UNASSIGNED_COLOR }} />
          <span className="cat-name muted">unassigned</span>
          <span className="cat-count">{counts.get(null) ?? 0}</span>
        </li>
      </ul>
      {deleting && (
        <div className="cat-confirm" role="group" aria-label="Delete category" data-testid="category-delete">
          <p>
            Delete “{deleting.category.name}”?{' '}
            {deleting.annotations === 0
              ? 'No mask uses it.'
              : `Its ${deleting.annotations === 1 ? '1 mask' : `${deleting.annotations} masks`} on ${deleting.images === 1 ? '1 image' : `${deleting.images} images`} ${deleting.annotations === 1 ? 'becomes' : 'become'} unassigned.`}{' '}
            This cannot be undone.
          </p>
          <div className="dialog-buttons">
            <button onClick={() => setDeleting(null)}>Cancel</button>
            <button className="danger" onClick={confirmDelete}>
              Delete
            </button>
          </div>
        </div>
      )}
      {currentCategory && <AttributeDefsEditor category={currentCategory} defs={attributeDefs} onError={onError} />}
      <form className="cat-add" onSubmit={add}>
        <input placeholder="New category" value={name} onChange={(e) => setName(e.target.value)} data-testid="new-category" />
        <button type="submit" disabled={!name.trim()}>
          Add
        </button>
      </form>
    </section>
  );
}

const ROW_H = 32;
const PALETTE = ['#e6194b', '#3cb44b', '#ffe119', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45', '#fabed4', '#469990', '#dcbeff'];

/**
 * The image's masks: select, visibility, lock, category (a proposal's offered one in a click), source and score, use
 * as example; below them the attributes of the one selected.
 */
export function AnnotationList({
  annotations,
  categories,
  selected,
  onSelect,
  hidden,
  onToggleHidden,
  locked,
  onToggleLocked,
  onCategory,
  onUseAsExample,
  onAttributes,
  onConvert,
  readOnly,
}: {
  annotations: Annotation[];
  categories: Category[];
  selected: number[];
  onSelect(ids: number[]): void;
  hidden: ReadonlySet<number>;
  onToggleHidden(id: number): void;
  locked: ReadonlySet<number>;
  onToggleLocked(id: number): void;
  onCategory(id: number, categoryId: number | null): void;
  onUseAsExample(id: number): void;
  onAttributes(id: number, values: Record<string, AttributeValue>): void;
  /** Box from the selected mask, or mask from the selected box. */
  onConvert(): void;
  /** Why these masks cannot be changed now (the image's file is missing). */
  readOnly?: string;
}) {
  const colour = new Map(categories.map((c) => [c.id, c.color]));
  const named = new Map(categories.map((c) => [c.id, c.name]));
  const examples = new Set(useExamples()?.map((e) => e.annotationId));
  const attributeDefs = useAttributeDefs();
  const one = selected.length === 1 ? annotations.find((a) => a.id === selected[0]) : undefined;
  // Virtualised: an image with a thousand proposals keeps a few dozen rows in the DOM.
  const scroller = useRef<HTMLDivElement>(null);
  const [viewport, setViewport] = useState({ top: 0, height: 400 });
  useLayoutEffect(() => {
    const el = scroller.current!;
    const ro = new ResizeObserver(() => setViewport((v) => ({ ...v, height: el.clientHeight })));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  // Bring the selected mask into view when it is picked on the canvas.
  const first = selected[0];
  useLayoutEffect(() => {
    const i = annotations.findIndex((a) => a.id === first);
    const el = scroller.current;
    if (i < 0 || !el) return;
    if (i * ROW_H < el.scrollTop) el.scrollTop = i * ROW_H;
    else if ((i + 1) * ROW_H > el.scrollTop + el.clientHeight) el.scrollTop = (i + 1) * ROW_H - el.clientHeight;
  }, [first]); // eslint-disable-line react-hooks/exhaustive-deps
  const from = Math.max(0, Math.floor(viewport.top / ROW_H) - 5);
  const to = Math.min(annotations.length, Math.ceil((viewport.top + viewport.height) / ROW_H) + 5);
  return (
    <>
    <section className="panel-section grow" data-testid="annotations">
      <h3>
        Masks <span className="muted">{annotations.length}</span>
      </h3>
      {readOnly && (
        <p className="panel-note" data-testid="masks-read-only">
          {readOnly}
        </p>
      )}
      <div className="ann-scroller" ref={scroller} onScroll={(e) => setViewport({ top: e.currentTarget.scrollTop, height: e.currentTarget.clientHeight })}>
        <ul className="ann-list" style={{ height: annotations.length * ROW_H }}>
          {annotations.slice(from, to).map((a, k) => (
            <li
              key={a.id}
              style={{ transform: `translateY(${(from + k) * ROW_H}px)` }}
              className={selected.includes(a.id) ? 'selected' : ''}
              data-testid="annotation-row"
              data-id={a.id}
              onClick={(e) => onSelect(e.shiftKey ? (selected.includes(a.id) ? selected.filter((x) => x !== a.id) : [...selected, a.id]) : [a.id])}
            >
              <span className="swatch" style={{ background: a.categoryId !== null ? (colour.get(a.categoryId) ?? UNASSIGNED_COLOR) : UNASSIGNED_COLOR }} />
              <select
                value={a.categoryId ?? ''}
                aria-label="Category"
                onClick={(e) => e.stopPropagation()}
                onChange={(e) => onCategory(a.id, e.target.value ? Number(e.target.value) : null)}
              >
                <option value="">unassigned</option>
                {categories.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name}
                  </option>
                ))}
              </select>
              {isProposal(a) && a.suggestedCategoryId !== null && named.has(a.suggestedCategoryId) ? (
                <button
                  className="small accept-suggested"
                  data-testid="accept-suggested"
                  title={`Proposed by ${a.source}${a.score !== null ? ` (score ${a.score.toFixed(2)})` : ''}: accept as ${named.get(a.suggestedCategoryId)} (A)`}
                  onClick={(e) => {
                    e.stopPropagation();
                    onCategory(a.id, a.suggestedCategoryId);
                  }}
                >
                  ✓ {named.get(a.suggestedCategoryId)}?
                </button>
              ) : (
                <span className="ann-meta" title={`#${a.id} · ${a.shape === 'mask' ? `${a.area} px` : a.shape}`}>
                  {a.shape !== 'mask' ? `${a.shape} · ` : ''}
                  {a.source}
                  {a.score !== null ? ` · ${a.score.toFixed(2)}` : ''}
                </span>
              )}
              <button
                className={`icon ${examples.has(a.id) ? 'on' : ''}`}
                title={examples.has(a.id) ? 'An example (choose it in the example panel)' : 'Use as example (U)'}
                aria-label="Use as example"
                data-testid="use-as-example"
                onClick={(e) => {
                  e.stopPropagation();
                  onUseAsExample(a.id);
                }}
              >
                {examples.has(a.id) ? '★' : '☆'}
              </button>
              <button
                className={`icon ${hidden.has(a.id) ? 'off' : ''}`}
                title={hidden.has(a.id) ? 'Show' : 'Hide'}
                aria-label={hidden.has(a.id) ? 'Show' : 'Hide'}
                onClick={(e) => {
                  e.stopPropagation();
                  onToggleHidden(a.id);
                }}
              >
                {hidden.has(a.id) ? '◌' : '◉'}
              </button>
              <button
                className={`icon text ${locked.has(a.id) ? 'on' : ''}`}
                title={locked.has(a.id) ? 'Unlock' : 'Lock (cannot be selected or edited on the canvas)'}
                aria-label={locked.has(a.id) ? 'Unlock' : 'Lock'}
                onClick={(e) => {
                  e.stopPropagation();
                  onToggleLocked(a.id);
                }}
              >
                {locked.has(a.id) ? 'locked' : 'lock'}
              </button>
            </li>
          ))}
        </ul>
      </div>
      {annotations.length === 0 && <p className="empty small">No masks yet: draw one with the polygon (P), brush (B), magic wand (W) or click segment (C).</p>}
    </section>
    {one && one.shape !== 'point' && !readOnly && (
      <section className="panel-section" data-testid="shape-actions">
        <button className="small" data-testid="convert-shape" onClick={onConvert} title={one.shape === 'mask' ? 'A box around this mask, same category (J)' : 'The click segmenter\'s segment inside this box, same category (J)'}>
          {one.shape === 'mask' ? 'Box from mask' : 'Mask from box'}
        </button>
      </section>
    )}
    {one && <AttributeEditor annotation={one} defs={attributeDefs} onSet={onAttributes} readOnly={Boolean(readOnly)} />}
    </>
  );
}
