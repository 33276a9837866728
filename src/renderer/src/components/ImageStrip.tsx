import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { Image, ImageStatus } from '../../../shared/contract';
import { client } from '../client';
import { SegmentBatchButton } from './PipelinePanel';

const ROW_H = 60;
const PAGE = 200;

export const STATUSES: { key: ImageStatus; label: string }[] = [
  { key: 'unlabeled', label: 'Unlabeled' },
  { key: 'in_progress', label: 'In progress' },
  { key: 'done', label: 'Done' },
  { key: 'error', label: 'Error' },
];

export interface StripFilter {
  status?: ImageStatus;
  search: string;
  /** Only images whose file is missing. */
  missing?: boolean;
  /** Only images that hold proposals (segment-everything masks waiting for a labeler). */
  proposals?: boolean;
}

const FILTER_KEY = 'difflabel.stripFilter';

/** The filter as last left: a preference kept across reloads, like the tool settings. Anything unreadable is no filter. */
export function storedFilter(): StripFilter {
  try {
    const v = JSON.parse(localStorage.getItem(FILTER_KEY) ?? '{}') as Partial<Record<keyof StripFilter, unknown>>;
    return {
      status: STATUSES.some((s) => s.key === v.status) ? (v.status as ImageStatus) : undefined,
      missing: v.missing === true || undefined,
      proposals: v.proposals === true || undefined,
      search: typeof v.search === 'string' ? v.search : '',
    };
  } catch {
    return { search: '' };
  }
}

export function storeFilter(f: StripFilter): void {
  localStorage.setItem(FILTER_KEY, JSON.stringify(f));
}

/** What a missing image's tooltip and canvas say. */
export const missingNote = (img: Image) => `file missing: ${img.path} — masks kept`;

/** The compact image list beside the canvas: virtualised rows, the same status filter and path search as the grid. */
export function ImageStrip({
  filter,
  onFilter,
  currentId,
  onOpen,
  version,
  onOpenFolder,
  onMessage,
}: {
  filter: StripFilter;
  onFilter(f: StripFilter): void;
  currentId: number;
  onOpen(img: Image): void;
  version: number;
  onOpenFolder(): void;
  onMessage?(msg: string): void;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const [height, setHeight] = useState(600);
  const [scrollTop, setScrollTop] = useState(0);
  const [total, setTotal] = useState(0);
  const [pages, setPages] = useState<Map<number, Image[]>>(new Map());
  const requested = useRef(new Set<number>());
  const query = { status: filter.status, missing: filter.missing, proposals: filter.proposals, search: filter.search || undefined };
  // A new filter starts from an empty list; a project change (version) refreshes the rows in place, so a batch run
  // finishing image after image does not blank the strip.
  const key = `${filter.status}|${filter.missing}|${filter.proposals}|${filter.search}`;
  const keyRef = useRef(key);
  keyRef.current = key;

  useLayoutEffect(() => {
    const el = scroller.current!;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    requested.current = new Set();
    setPages(new Map());
    const k = key;
    client.call('images.list', { ...query, offset: 0, limit: 1 }).then(
      (r) => k === keyRef.current && setTotal(r.total),
      () => k === keyRef.current && setTotal(0),
    );
  }, [key]); // eslint-disable-line react-hooks/exhaustive-deps

  const first = Math.max(0, Math.floor(scrollTop / ROW_H) - 4);
  const last = Math.min(total - 1, Math.ceil((scrollTop + height) / ROW_H) + 4);
  const load = (p: number) => {
    const k = key;
    return client.call('images.list', { ...query, offset: p * PAGE, limit: PAGE }).then((r) => {
      if (k !== keyRef.current) return;
      setPages((m) => new Map(m).set(p, r.items));
      setTotal(r.total);
    });
  };
  useEffect(() => {
    for (let p = Math.floor(first / PAGE); p <= Math.floor(last / PAGE) && last >= 0; p++) {
      if (requested.current.has(p)) continue;
      requested.current.add(p);
      void load(p);
    }
  }, [first, last, key]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    if (version === 0) return;
    // Pages out of view are dropped (fetched again when scrolled to); those in view are replaced when they arrive.
    const inView = new Set<number>();
    for (let p = Math.floor(first / PAGE); p <= Math.floor(last / PAGE) && last >= 0; p++) inView.add(p);
    requested.current = new Set(inView);
    setPages((m) => new Map([...m].filter(([p]) => inView.has(p))));
    for (const p of inView) void load(p);
  }, [version]); // eslint-disable-line react-hooks/exhaustive-deps

  const rows = [];
  for (let i = first; i <= last; i++) {
    const img = pages.get(Math.floor(i / PAGE))?.[i % PAGE];
    rows.push(
      <div
        key={img ? img.id : `i${i}`}
        className={`strip-row ${img?.id === currentId ? 'current' : ''} ${img?.missing ? 'missing' : ''}`}
        style={{ transform: `translateY(${i * ROW_H}px)` }}
        data-testid="strip-row"
        title={img && (img.missing ? missingNote(img) : (img.error ?? img.path))}
        onClick={() => img && onOpen(img)}
      >
        {img && (
          <>
            <div className="strip-thumb">{img.status === 'error' ? <span className="broken">⚠</span> : <img src={client.thumbnailUrl(img.id)} alt="" loading="lazy" />}</div>
            <div className="strip-text">
              <div className="strip-name">
                <bdi dir="ltr">{img.path}</bdi>
              </div>
              <div className="meta">
                <span className={`badge ${img.status}`}>{img.status.replace('_', ' ')}</span>
                {img.missing && <span className="badge missing">missing</span>}
                <span>{img.annotations}</span>
              </div>
            </div>
          </>
        )}
      </div>,
    );
  }

  return (
    <aside className="strip" data-testid="image-strip">
      <div className="strip-filters">
        <select
          value={filter.missing ? 'missing' : filter.proposals ? 'proposals' : (filter.status ?? '')}
          onChange={(e) => {
            const v = e.target.value;
            const only = v === 'missing' || v === 'proposals';
            onFilter({ ...filter, status: v && !only ? (v as ImageStatus) : undefined, missing: v === 'missing' || undefined, proposals: v === 'proposals' || undefined });
          }}
          aria-label="Status filter"
        >
          <option value="">All images</option>
          {STATUSES.map((s) => (
            <option key={s.key} value={s.key}>
              {s.label}
            </option>
          ))}
          <option value="missing">Missing</option>
          <option value="proposals">Has proposals</option>
        </select>
        <input type="search" placeholder="Search path…" value={filter.search} onChange={(e) => onFilter({ ...filter, search: e.target.value })} />
      </div>
      <div className="strip-scroller" ref={scroller} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}>
        {total === 0 && <p className="empty">No images match.</p>}
        <div style={{ height: total * ROW_H, position: 'relative' }}>{rows}</div>
      </div>
      <div className="strip-footer">
        <SegmentBatchButton filter={filter} onMessage={onMessage} />
        <button onClick={onOpenFolder} title="Open another folder">
          Open folder…
        </button>
      </div>
    </aside>
  );
}
