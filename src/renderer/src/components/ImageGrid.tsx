import { useEffect, useLayoutEffect, useRef, useState, type MouseEvent } from 'react';
import type { Image, ImageStatus } from '../../../shared/contract';
import { imagesIn } from '../canvas/pipelines';
import { client } from '../client';
import { clearSelection, restoreSelection, selectImages, selectOnly, toggleSelected, useSelection, type Selection } from '../selection';
import { missingNote } from './ImageStrip';

const CELL_W = 196;
const CELL_H = 212;
const PAGE = 500;
const OVERSCAN_ROWS = 2;

/**
 * A virtualised grid: only the rows in view (plus a margin) exist in the DOM, and images are fetched in
 * pages as they scroll into view, so a folder of 100k images scrolls like one of 100. A change in the project
 * (`version`) fetches the pages again while the cells keep showing what they showed: a batch run that finishes
 * an image every second must not blank the grid each time.
 *
 * Images are selected as in a file browser (click, Ctrl/Cmd+click, Shift+click, Ctrl+A, Esc), by id in a store the
 * batch button and the pipeline panel read (../selection), so the selection outlives the cells scrolled away; a
 * double-click or Enter opens an image.
 */
export function ImageGrid({
  status,
  missing,
  proposals,
  search,
  version,
  onOpen,
}: {
  status?: ImageStatus;
  missing?: boolean;
  proposals?: boolean;
  search: string;
  version: number;
  onOpen?: (img: Image, index: number) => void;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const [size, setSize] = useState({ width: 800, height: 600 });
  const [scrollTop, setScrollTop] = useState(0);
  const [total, setTotal] = useState(0);
  const [pages, setPages] = useState<Map<number, Image[]>>(new Map());
  const requested = useRef(new Set<number>());
  const filter = { status, missing, proposals, search: search || undefined };
  const filterKey = `${status}|${missing}|${proposals}|${search}`;
  // Answers to an older filter or version are dropped.
  const currentKey = useRef('');
  currentKey.current = `${filterKey}|${version}`;

  useLayoutEffect(() => {
    const el = scroller.current!;
    const ro = new ResizeObserver(() => setSize({ width: el.clientWidth - 28, height: el.clientHeight }));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // A new filter starts from an empty cache.
  useEffect(() => {
    setPages(new Map());
  }, [filterKey]);
  // Either asks for the pages in view again; until they come, the ones held stay on screen.
  useEffect(() => {
    requested.current = new Set();
    const key = currentKey.current;
    client.call('images.list', { ...filter, offset: 0, limit: 1 }).then(
      (r) => key === currentKey.current && setTotal(r.total),
      () => setTotal(0),
    );
  }, [filterKey, version]); // eslint-disable-line react-hooks/exhaustive-deps

  const sel = useSelection();
  const selRef = useRef(sel);
  selRef.current = sel;
  // A selection made under another filter is not what the grid shows: a new filter starts without one.
  useEffect(() => {
    if (selRef.current.filterKey !== filterKey && selRef.current.ids.size) clearSelection();
  }, [filterKey]);

  /** The images at positions [from, to]: from the pages held, else asked for (a range or Ctrl+A over unloaded pages). */
  const imagesBetween = async (from: number, to: number): Promise<Image[]> => {
    const held: Image[] = [];
    for (let i = from; i <= to; i++) {
      const img = pages.get(Math.floor(i / PAGE))?.[i % PAGE];
      if (!img) return imagesIn(filter, from, to + 1);
      held.push(img);
    }
    return held;
  };
  // A selection is made under the filter shown; images that arrive after the filter changed select nothing.
  const key = filterKey;
  const keyNow = useRef(key);
  keyNow.current = key;
  // The selection before a click: a double-click opens the image and puts it back, so that opening one keeps
  // the selection as it was (nothing selected stays nothing, and the batch buttons keep to the filter).
  const beforeClick = useRef<Selection>(sel);
  const select = (e: MouseEvent, img: Image, i: number) => {
    if (e.detail > 1) return; // the second click of a double-click
    beforeClick.current = sel;
    if (e.shiftKey && sel.anchor && sel.filterKey === key) {
      const [from, to] = [Math.min(sel.anchor.index, i), Math.max(sel.anchor.index, i)];
      void imagesBetween(from, to).then((images) => keyNow.current === key && selectImages(images, key));
    } else if (e.ctrlKey || e.metaKey) toggleSelected(img, i, key);
    else selectOnly(img, i, key);
  };

  // The grid's keys, unless a text field has them: Ctrl/Cmd+A selects every image shown, Esc clears, Enter opens the
  // image clicked last.
  const keysRef = useRef<(e: KeyboardEvent) => void>(() => {});
  keysRef.current = (e) => {
    const t = e.target as HTMLElement | null;
    if (e.defaultPrevented || (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)))) return;
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'a') {
      e.preventDefault();
      if (total) void imagesBetween(0, total - 1).then((images) => keyNow.current === key && selectImages(images, key));
    } else if (e.key === 'Escape' && sel.ids.size) clearSelection();
    else if (e.key === 'Enter' && sel.anchor && sel.filterKey === key && !(t && t.tagName === 'BUTTON')) {
      const { index, id } = sel.anchor;
      const img = pages.get(Math.floor(index / PAGE))?.[index % PAGE];
      if (img?.id === id) onOpen?.(img, index);
      else void client.call('images.get', { id }).then((found) => onOpen?.(found, index), () => {});
    }
  };
  useEffect(() => {
    const down = (e: KeyboardEvent) => keysRef.current(e);
    window.addEventListener('keydown', down);
    return () => window.removeEventListener('keydown', down);
  }, []);

  const columns = Math.max(1, Math.floor(size.width / CELL_W));
  const rows = Math.ceil(total / columns);
  const firstRow = Math.max(0, Math.floor(scrollTop / CELL_H) - OVERSCAN_ROWS);
  const lastRow = Math.min(rows - 1, Math.ceil((scrollTop + size.height) / CELL_H) + OVERSCAN_ROWS);
  const first = firstRow * columns;
  const last = Math.min(total - 1, (lastRow + 1) * columns - 1);

  useEffect(() => {
    for (let p = Math.floor(first / PAGE); p <= Math.floor(last / PAGE) && last >= 0; p++) {
      if (requested.current.has(p)) continue;
      requested.current.add(p);
      const key = currentKey.current;
      client.call('images.list', { ...filter, offset: p * PAGE, limit: PAGE }).then((r) => {
        if (key !== currentKey.current) return;
        setPages((m) => new Map(m).set(p, r.items));
        setTotal(r.total);
      });
    }
  }, [first, last, filterKey, version]); // eslint-disable-line react-hooks/exhaustive-deps

  const cells = [];
  for (let i = first; i <= last; i++) {
    const img = pages.get(Math.floor(i / PAGE))?.[i % PAGE];
    const style = { transform: `translate(${(i % columns) * CELL_W}px, ${Math.floor(i / columns) * CELL_H}px)` };
    const selected = !!img && sel.ids.has(img.id);
    const current = !!img && sel.anchor?.id === img.id;
    cells.push(
      <div
        className={`cell ${img && img.status !== 'error' ? 'openable' : ''} ${img?.missing ? 'missing' : ''} ${selected ? 'selected' : ''} ${current ? 'current' : ''}`}
        key={img ? img.id : `i${i}`}
        style={style}
        data-testid="image-cell"
        data-id={img?.id}
        data-missing={img?.missing ? 'true' : undefined}
        aria-selected={img ? selected : undefined}
        title={img && (img.missing ? missingNote(img) : (img.error ?? img.path))}
        // Shift+click selects a range, not the text under it.
        onMouseDown={(e) => e.shiftKey && e.preventDefault()}
        onClick={(e) => img && select(e, img, i)}
        onDoubleClick={() => {
          if (!img) return;
          restoreSelection(beforeClick.current);
          onOpen?.(img, i);
        }}
      >
        {img ? (
          <>
            <div className="thumb">
              {img.status === 'error' ? <span className="broken">⚠ {img.error}</span> : <img src={client.thumbnailUrl(img.id)} alt={img.path} loading="lazy" />}
              {img.missing && <span className="badge missing">missing</span>}
            </div>
            <div className="name">
              <bdi dir="ltr">{img.path}</bdi>
            </div>
            <div className="meta">
              <span className={`badge ${img.status}`}>{img.status.replace('_', ' ')}</span>
              <span>
                {img.width}×{img.height} · {img.annotations} {img.annotations === 1 ? 'mask' : 'masks'}
              </span>
            </div>
          </>
        ) : (
          <div className="thumb placeholder" />
        )}
      </div>,
    );
  }

  return (
    <>
      {sel.ids.size > 0 && (
        <div className="selection-bar" role="status">
          <span data-testid="selection-count">{sel.ids.size} selected</span>
          <button className="small" onClick={clearSelection} data-testid="selection-clear" title="Clear the selection (Esc)">
            Clear
          </button>
          <span className="muted small">Ctrl+click toggles · Shift+click a range · Ctrl+A all · double-click or Enter opens</span>
        </div>
      )}
      <div className="grid-scroller" ref={scroller} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}>
        {total === 0 ? <p className="empty">No images{status || missing || proposals || search ? ' match this filter' : ' in this folder yet'}.</p> : null}
        <div className="grid" style={{ height: rows * CELL_H, width: columns * CELL_W }}>
          {cells}
        </div>
      </div>
    </>
  );
}
