// The labeler's workplace: image strip | canvas | categories and masks, with the toolbar above and the
// status bar below. Owns the tool state and the keyboard; every edit goes through the editor (autosave).
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { Category, Image } from '../../../shared/contract';
import { fillHoles, fromCompressedString, rleEquals, toCocoRle } from '../../../core/masks';
import { TOOLS, type Tool } from '../canvas/tools';
import { useClickSegment } from '../canvas/clickTool';
import { diffseg, useDiffSegModel } from '../canvas/diffseg';
import { useImageAnnotations } from '../canvas/useImageAnnotations';
import { client } from '../client';
import { CanvasView, type CanvasHandle, type PolygonMemory } from './CanvasView';
import { ExportDialog } from './ExportDialog';
import { HelpOverlay } from './HelpOverlay';
import { JobBar } from './JobBar';
import { SegmentPanel } from './SegmentPanel';
import { ImageStrip, type StripFilter } from './ImageStrip';
import { AnnotationList, CategoryPanel } from './SidePanel';
import { StatusBar } from './StatusBar';

export function AnnotateView({
  imageId,
  onOpenImage,
  onBack,
  onOpenFolder,
  filter,
  onFilter,
  version,
}: {
  imageId: number;
  onOpenImage(id: number): void;
  onBack(): void;
  onOpenFolder(): void;
  filter: StripFilter;
  onFilter(f: StripFilter): void;
  version: number;
}) {
  const [image, setImage] = useState<Image | null>(null);
  const [categories, setCategories] = useState<Category[]>([]);
  const [currentCategory, setCurrentCategory] = useState<number | null | undefined>(undefined);
  const [tool, setTool] = useState<Tool>('select');
  const [brushSize, setBrushSize] = useState(() => stored('brushSize', 15));
  const [tolerance, setTolerance] = useState(() => stored('wandTolerance', 24));
  const [selected, setSelected] = useState<number[]>([]);
  const [hidden, setHidden] = useState<Set<number>>(new Set());
  const [locked, setLocked] = useState<Set<number>>(new Set());
  const [masksVisible, setMasksVisible] = useState(true);
  const [dialog, setDialog] = useState<'help' | 'export' | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const index = useRef<number | null>(null);
  const polygons = useRef<PolygonMemory>(new Map()).current;
  const canvas = useRef<CanvasHandle>(null);
  const editor = useImageAnnotations(imageId);
  const model = useDiffSegModel();
  const click = useClickSegment(imageId, model, setMessage);
  useEffect(() => localStorage.setItem('difflabel.brushSize', String(brushSize)), [brushSize]);
  useEffect(() => localStorage.setItem('difflabel.wandTolerance', String(tolerance)), [tolerance]);

  useEffect(() => {
    setSelected([]);
    setHidden(new Set());
    setLocked(new Set());
  }, [imageId]);
  useEffect(() => {
    client.call('images.get', { id: imageId }).then(setImage, (e: Error) => setMessage(e.message));
  }, [imageId, version]);

  const loadCategories = useCallback(() => {
    client.call('categories.list', {}).then((list) => {
      setCategories(list);
      setCurrentCategory((c) => (c === undefined || (c !== null && !list.some((x) => x.id === c)) ? (list[0]?.id ?? null) : c));
    });
  }, []);
  useEffect(() => {
    loadCategories();
    return client.on('project.changed', (e) => (e.what === 'categories' || e.what === 'project') && loadCategories());
  }, [loadCategories]);

  useEffect(() => {
    if (editor.error) setMessage(editor.error);
  }, [editor.error]);
  useEffect(() => {
    if (!message) return;
    const t = setTimeout(() => {
      setMessage(null);
      editor.clearError();
    }, 4000);
    return () => clearTimeout(t);
  }, [message]); // eslint-disable-line react-hooks/exhaustive-deps

  // Points belong to the click tool: leaving it drops them.
  useEffect(() => {
    if (tool !== 'click') click.clear();
  }, [tool]); // eslint-disable-line react-hooks/exhaustive-deps

  // Selection only ever names masks that exist (after undo, merge, split, deletes elsewhere).
  useEffect(() => {
    setSelected((s) => {
      const ids = new Set(editor.annotations.map((a) => a.id));
      const kept = s.filter((id) => ids.has(id));
      return kept.length === s.length ? s : kept;
    });
  }, [editor.annotations]);

  const counts = useMemo(() => {
    const m = new Map<number | null, number>();
    for (const a of editor.annotations) m.set(a.categoryId, (m.get(a.categoryId) ?? 0) + 1);
    return m;
  }, [editor.annotations]);

  // ---- navigation ---------------------------------------------------------------------------------
  const listArgs = { status: filter.status, missing: filter.missing, search: filter.search || undefined };
  const locate = async (): Promise<number | null> => {
    if (index.current !== null) return index.current;
    return (index.current = (await client.call('images.position', { id: imageId, ...listArgs })).index);
  };
  const go = async (delta: number, afterRemoval = false) => {
    const at = await locate();
    // When the current image just left the filtered list (marked done), the next one took its place.
    const target = at === null ? 0 : afterRemoval ? at + (delta > 0 ? 0 : delta) : at + delta;
    if (target < 0) return setMessage('This is the first image');
    const r = await client.call('images.list', { ...listArgs, offset: target, limit: 1 });
    const next = r.items[0];
    if (!next) return setMessage('This is the last image');
    index.current = target;
    onOpenImage(next.id);
  };
  const markDone = async () => {
    if (!image) return;
    const done = image.status === 'done';
    await client.call('images.setStatus', { id: image.id, status: done ? 'in_progress' : 'done' }).then(setImage, (e: Error) => setMessage(e.message));
    if (!done) await go(1, filter.status !== undefined && filter.status !== 'done');
  };

  // ---- actions on the selection -----------------------------------------------------------------------
  const ann = (id: number) => editor.annotations.find((a) => a.id === id);
  const editable = (ids: number[]) => ids.filter((id) => !locked.has(id));
  const actions = {
    delete: () => {
      const ids = editable(selected);
      if (!ids.length) return setMessage('Select a mask first');
      void editor.removeMany(ids, 'delete');
      setSelected([]);
    },
    fillHoles: () => {
      const a = editable(selected).length === 1 ? ann(selected[0]!) : undefined;
      if (!a || !image) return setMessage('Select one mask to fill its holes');
      const rle = fromCompressedString(a.mask.counts, image.height, image.width);
      const filled = fillHoles(rle);
      if (rleEquals(rle, filled)) return setMessage('That mask has no holes');
      void editor.updateMask(a.id, toCocoRle(filled, true) as { size: [number, number]; counts: string }, 'fill holes');
    },
    merge: () => {
      const ids = editable(selected);
      if (ids.length < 2) return setMessage('Select two or more masks (Shift+click) to merge');
      void editor.merge(ids).then((r) => r && setSelected([ids[0]!]));
    },
    split: () => {
      const ids = editable(selected);
      if (ids.length !== 1) return setMessage('Select one mask to split');
      void editor.split(ids[0]!).then((r) => {
        if (r && r.annotations.length) {
          const before = new Set(editor.annotations.map((a) => a.id));
          setSelected(r.annotations.filter((a) => !before.has(a.id) || a.id === ids[0]).map((a) => a.id));
        }
      });
    },
    acceptClick: () => {
      const points = click.points;
      if (!points.some((p) => p.positive)) return setMessage('Click inside an object first (a + point)');
      if (click.mask && click.area === 0) return setMessage('The clicks select no pixel: add a + point or remove a − point');
      const category = currentCategory ?? null;
      void editor.addFrom((id) => diffseg.accept(id, points, category, model)).then((a) => {
        if (!a) return;
        click.clear();
        setSelected([a.id]);
      });
    },
    deleteProposals: (ids: number[]) => {
      const unlocked = editable(ids);
      if (unlocked.length) void editor.removeMany(unlocked, 'delete proposals');
      setSelected((s) => s.filter((id) => !ids.includes(id)));
    },
    setCategory: (categoryId: number | null) => {
      setCurrentCategory(categoryId);
      for (const id of editable(selected)) if (ann(id)?.categoryId !== categoryId) void editor.setCategory(id, categoryId);
    },
  };

  // ---- keyboard -------------------------------------------------------------------------------------
  const keyHandler = useRef<(e: KeyboardEvent) => void>(() => {});
  keyHandler.current = (e: KeyboardEvent) => {
    const t = e.target as HTMLElement;
    if (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT') return;
    const ctrl = e.ctrlKey || e.metaKey;
    const k = e.key;
    if (dialog) {
      if (k === 'Escape' || (k === '?' && dialog === 'help')) setDialog(null);
      return;
    }
    let handled = true;
    if (ctrl && k.toLowerCase() === 'z') void (e.shiftKey ? editor.redo() : editor.undo());
    else if (ctrl && k.toLowerCase() === 'y') void editor.redo();
    else if (ctrl && k.toLowerCase() === 'e') setDialog('export');
    else if (ctrl || e.altKey) handled = false;
    else if (k === ' ') {
      // Space pans (CanvasView); never let it also press the focused toolbar button.
    } else if (k === '?') setDialog('help');
    else if (k === 'Enter') {
      if (tool === 'click') actions.acceptClick();
      else canvas.current?.closePolygon();
    } else if (k === 'Escape') {
      if (!(tool === 'click' && click.clear()) && !canvas.current?.cancel()) setSelected([]);
    } else if (k === 'Backspace') {
      if (tool === 'click' ? !click.removeLast() : !canvas.current?.removeLastVertex()) actions.delete();
    } else if (k === 'Delete') actions.delete();
    else if (k === '[') setBrushSize((s) => Math.max(1, s - (s > 20 ? 5 : 2)));
    else if (k === ']') setBrushSize((s) => Math.min(500, s + (s >= 20 ? 5 : 2)));
    else if (k === '{') setTolerance((t) => Math.max(0, t - 4));
    else if (k === '}') setTolerance((t) => Math.min(255, t + 4));
    else if (/^[1-9]$/.test(k)) {
      const c = categories[Number(k) - 1];
      if (c) actions.setCategory(c.id);
    } else if (k === '0') canvas.current?.oneToOne();
    else if (k === '+' || k === '=') canvas.current?.zoomBy(1.25);
    else if (k === '-' || k === '_') canvas.current?.zoomBy(0.8);
    else if (k === 'ArrowRight' || k === '.') void go(1);
    else if (k === 'ArrowLeft' || k === ',') void go(-1);
    else {
      const lower = k.toLowerCase();
      const toolHit = TOOLS.find((x) => x.key.toLowerCase() === lower);
      if (toolHit) setTool(toolHit.id);
      else if (lower === 'f') canvas.current?.fit();
      else if (lower === 'g') actions.fillHoles();
      else if (lower === 'm') actions.merge();
      else if (lower === 'x') actions.split();
      else if (lower === 'h') setMasksVisible((v) => !v);
      else if (lower === 'd') void markDone();
      else handled = false;
    }
    if (handled) e.preventDefault();
  };
  useEffect(() => {
    const h = (e: KeyboardEvent) => keyHandler.current(e);
    window.addEventListener('keydown', h);
    return () => window.removeEventListener('keydown', h);
  }, []);

  const h = editor.history;
  const toggle = (set: Set<number>, id: number) => {
    const n = new Set(set);
    if (!n.delete(id)) n.add(id);
    return n;
  };

  return (
    <div className="annotate">
      <header className="toolbar">
        <button onClick={onBack} title="Back to the image grid" data-testid="back-to-grid">
          ▦
        </button>
        <div className="tool-group" role="toolbar" aria-label="Tools">
          {TOOLS.map((t) => (
            <button key={t.id} className={tool === t.id ? 'active' : ''} title={`${t.label} (${t.key}): ${t.hint}`} onClick={() => setTool(t.id)} data-testid={`tool-${t.id}`}>
              {t.label}
            </button>
          ))}
        </div>
        {(tool === 'brush' || tool === 'eraser') && (
          <label className="tool-option" title="[ and ]">
            Size
            <input type="range" min={1} max={199} step={2} value={brushSize} onChange={(e) => setBrushSize(Number(e.target.value))} />
            <span data-testid="brush-size">{brushSize}</span>
          </label>
        )}
        {tool === 'wand' && (
          <label className="tool-option" title="Magic wand colour tolerance ({ and })">
            Tol.
            <input type="range" min={0} max={255} value={tolerance} onChange={(e) => setTolerance(Number(e.target.value))} data-testid="wand-tolerance" />
            <span>{tolerance}</span>
          </label>
        )}
        <div className="tool-group">
          <button onClick={actions.fillHoles} title="Fill holes (G)" disabled={selected.length !== 1}>
            Fill holes
          </button>
          <button onClick={actions.merge} title="Merge selected (M)" disabled={selected.length < 2}>
            Merge
          </button>
          <button onClick={actions.split} title="Split into connected parts (X)" disabled={selected.length !== 1}>
            Split
          </button>
          <button onClick={actions.delete} title="Delete (Del)" disabled={!selected.length}>
            Delete
          </button>
        </div>
        <div className="tool-group">
          <button onClick={() => void editor.undo()} disabled={!h?.canUndo} title={`Undo ${h?.undoLabel ?? ''} (Ctrl+Z)`} data-testid="undo">
            ↶
          </button>
          <button onClick={() => void editor.redo()} disabled={!h?.canRedo} title={`Redo ${h?.redoLabel ?? ''} (Ctrl+Shift+Z)`} data-testid="redo">
            ↷
          </button>
        </div>
        <div className="tool-group">
          <button onClick={() => canvas.current?.fit()} title="Fit (F)">
            Fit
          </button>
          <button onClick={() => canvas.current?.oneToOne()} title="1:1 (0)">
            1:1
          </button>
          <button onClick={() => setMasksVisible((v) => !v)} className={masksVisible ? '' : 'active'} title="Show / hide masks (H)">
            Masks
          </button>
        </div>
        <span className="spacer" />
        <button onClick={() => void go(-1)} title="Previous image (←)">
          ‹
        </button>
        <button
          className={image?.status === 'done' ? 'done-on' : ''}
          onClick={() => void markDone()}
          disabled={image?.missing}
          title={image?.missing ? 'The file is missing: its masks are read-only until it returns' : 'Mark done and go to the next (D)'}
          data-testid="mark-done"
        >
          {image?.status === 'done' ? '✓ Done' : 'Mark done'}
        </button>
        <button onClick={() => void go(1)} title="Next image (→)">
          ›
        </button>
        <button onClick={() => setDialog('export')} title="Export COCO (Ctrl+E)" data-testid="open-export">
          Export
        </button>
        <button onClick={() => setDialog('help')} title="Keyboard shortcuts (?)" data-testid="open-help">
          ?
        </button>
      </header>
      <div className="workplace">
        <ImageStrip
          filter={filter}
          onFilter={(f) => {
            index.current = null;
            onFilter(f);
          }}
          currentId={imageId}
          version={version}
          onOpen={(img, i) => {
            index.current = i;
            onOpenImage(img.id);
          }}
          onOpenFolder={onOpenFolder}
          onMessage={setMessage}
        />
        <main className="canvas-area">
          {image && image.id === imageId ? (
            <CanvasView
              ref={canvas}
              image={image}
              editor={editor}
              categories={categories}
              hidden={hidden}
              locked={locked}
              masksVisible={masksVisible}
              selected={selected}
              onSelect={setSelected}
              tool={tool}
              brushSize={brushSize}
              tolerance={tolerance}
              currentCategory={currentCategory ?? null}
              polygons={polygons}
              onMessage={setMessage}
              click={click}
            />
          ) : (
            <div className="canvas-note">Loading…</div>
          )}
          {message && (
            <div className="toast" role="alert" onClick={() => setMessage(null)}>
              {message}
            </div>
          )}
        </main>
        <aside className="side">
          <SegmentPanel
            imageId={imageId}
            tool={tool}
            click={click}
            annotations={editor.annotations}
            onAccept={actions.acceptClick}
            onClickTool={() => setTool('click')}
            onProposalsStored={editor.reload}
            onDeleteProposals={actions.deleteProposals}
            onMessage={setMessage}
          />
          <CategoryPanel categories={categories} current={currentCategory ?? null} onCurrent={actions.setCategory} counts={counts} onError={setMessage} />
          <AnnotationList
            annotations={editor.annotations}
            categories={categories}
            selected={selected}
            onSelect={setSelected}
            hidden={hidden}
            onToggleHidden={(id) => setHidden((s) => toggle(s, id))}
            locked={locked}
            onToggleLocked={(id) => {
              setLocked((s) => toggle(s, id));
              setSelected((s) => s.filter((x) => x !== id));
            }}
            onCategory={(id, c) => void editor.setCategory(id, c)}
            readOnly={image?.missing ? 'The file is missing: its masks are kept, read-only and left out of exports, until indexing finds it again.' : undefined}
          />
        </aside>
      </div>
      {/* Below the workplace, not over the canvas: it shrinks the canvas from below, so the image does not move. */}
      <JobBar />
      <StatusBar
        width={image?.width ?? 0}
        height={image?.height ?? 0}
        masks={editor.annotations.length}
        busy={editor.busy}
        historyLabel={h?.undoLabel ? `undo: ${h.undoLabel}` : ''}
      />
      {dialog === 'help' && <HelpOverlay onClose={() => setDialog(null)} />}
      {dialog === 'export' && <ExportDialog onClose={() => setDialog(null)} />}
    </div>
  );
}

/** Tool settings survive reloads (they are preferences, not project data). */
function stored(key: string, fallback: number): number {
  const v = Number(localStorage.getItem(`difflabel.${key}`));
  return Number.isFinite(v) && v > 0 ? v : fallback;
}
