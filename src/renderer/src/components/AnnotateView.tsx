// The labeler's workplace: image strip | canvas | categories and masks, with the toolbar above and the
// status bar below. Owns the tool state and the keyboard; every edit goes through the editor (autosave).
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { isProposal, type Category, type Image } from '../../../shared/contract';
import { fillHoles, fromCompressedString, rleEquals, toCocoRle } from '../../../shared/masks';
import { actionFor, isPromptTool, loadKeys, saveKeys, TOOLS, type ActionId, type KeyMap, type Tool } from '../canvas/tools';
import { useDisplay } from '../canvas/display';
import { pipelineCalls, usePipeline } from '../canvas/pipelines';
import { promptToolOf } from '../canvas/prompts';
import { markAsExample } from '../canvas/prompts/example';
import { hoverPreview, setHoverPreview, useClickSegment } from '../canvas/prompts/points';
import { useImageAnnotations } from '../canvas/useImageAnnotations';
import { client } from '../client';
import { CanvasView, type CanvasHandle, type PolygonMemory } from './CanvasView';
import { ExportDialog } from './ExportDialog';
import { HelpOverlay } from './HelpOverlay';
import { ShortcutsDialog } from './ShortcutsDialog';
import { JobBar } from './JobBar';
import { PipelinePanel } from './PipelinePanel';
import { ImageStrip, type StripFilter } from './ImageStrip';
import { AnnotationList, CategoryPanel } from './SidePanel';
import { MaskDisplay } from './MaskDisplay';
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
  // 32 measured on photos (docs/canvas.md): at 24, 5–18 % of clicks took under 0.1 % of the image; at 40, a third of
  // the clicks on the cat photo flooded over half of it.
  const [tolerance, setTolerance] = useState(() => stored('wandTolerance', 32));
  const [selected, setSelected] = useState<number[]>([]);
  const [hidden, setHidden] = useState<Set<number>>(new Set());
  const [locked, setLocked] = useState<Set<number>>(new Set());
  const [masksVisible, setMasksVisible] = useState(true);
  const [dialog, setDialog] = useState<'help' | 'keys' | 'export' | null>(null);
  const [display, setDisplay] = useDisplay();
  const maskStyle = useMemo(() => ({ opacity: display.opacity, outline: display.outline }), [display.opacity, display.outline]);
  const [keys, setKeys] = useState<KeyMap>(loadKeys);
  useEffect(() => saveKeys(keys), [keys]);
  const keyHint = (id: ActionId) => (keys[id] ? ` (${keys[id]})` : '');
  const [place, setPlace] = useState<{ index: number | null; total: number } | null>(null);
  // One toast at a time: a new message replaces it, and the next key press or click dismisses it.
  const [toast, setToast] = useState<{ text: string; seq: number } | null>(null);
  const toastSeq = useRef(0);
  const setMessage = useCallback((text: string) => setToast({ text, seq: ++toastSeq.current }), []);
  const polygons = useRef<PolygonMemory>(new Map()).current;
  const canvas = useRef<CanvasHandle>(null);
  const noOverlap = useMemo(() => (display.noOverlap ? { locked } : null), [display.noOverlap, locked]);
  const editor = useImageAnnotations(imageId, noOverlap);
  const pipeline = usePipeline();
  const promptTool = promptToolOf(pipeline);
  // The toolbar: the drawing tools, and the prompt tool of the chosen pipeline.
  const tools = TOOLS.filter((t) => !isPromptTool(t.id) || t.id === promptTool?.id);
  const click = useClickSegment(pipeline, imageId, setMessage);
  const hoverOn = hoverPreview.use();
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
  const reloadMasks = useRef(editor.reload);
  reloadMasks.current = editor.reload;
  useEffect(() => {
    loadCategories();
    return client.on('project.changed', (e) => {
      if (e.what !== 'categories' && e.what !== 'project') return;
      loadCategories();
      // Deleting or merging a category changes the category of masks, this image's too.
      if (e.what === 'categories') reloadMasks.current();
    });
  }, [loadCategories]);

  useEffect(() => {
    if (!editor.error) return;
    setMessage(editor.error);
    editor.clearError(); // so that the same failure again shows again
  }, [editor.error]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    if (!toast) return;
    const t = setTimeout(() => setToast(null), 4000);
    return () => clearTimeout(t);
  }, [toast]);

  // Points belong to the click tool: leaving it drops them. A pipeline without that tool leaves it.
  useEffect(() => {
    if (tool !== 'click') click.clear();
  }, [tool]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    if (isPromptTool(tool) && tool !== promptTool?.id) setTool('select');
  }, [tool, promptTool]);

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
  // Next/previous/done are queued, each step starting where the one before arrived, so ten quick → move ten images.
  // `here` is the image the queue has reached: while steps run it is ahead of the rendered `imageId`.
  const here = useRef(imageId);
  const steps = useRef<{ queue: Promise<void>; pending: number; waiting: { delta: number } | null }>({ queue: Promise.resolve(), pending: 0, waiting: null });
  useLayoutEffect(() => {
    // Opened from elsewhere (back/forward, a link): navigation goes on from there. A render of an image the queue
    // opened on its way happens while the queue still runs and changes nothing.
    if (steps.current.pending === 0) here.current = imageId;
  }, [imageId]);
  const latest = useRef({ filter, imageId, annotations: editor.annotations });
  latest.current = { filter, imageId, annotations: editor.annotations };
  const listArgs = (f: StripFilter) => ({ status: f.status, missing: f.missing, proposals: f.proposals, search: f.search || undefined });
  useEffect(() => {
    let live = true;
    client.call('images.position', { id: imageId, ...listArgs(filter) }).then(
      (p) => live && setPlace(p),
      () => live && setPlace(null),
    );
    return () => {
      live = false;
    };
  }, [imageId, filter.status, filter.missing, filter.proposals, filter.search, version]); // eslint-disable-line react-hooks/exhaustive-deps

  const open = (id: number) => {
    here.current = id;
    onOpenImage(id);
  };
  /** Runs `step` after every earlier one; what it returns is shown as a message. */
  const enqueue = (step: () => Promise<string | void>) => {
    const s = steps.current;
    s.waiting = null; // a later press must not join a move queued before this step
    s.pending++;
    s.queue = s.queue
      .then(step)
      .then(
        (note) => void (note && setMessage(note)),
        (e: Error) => setMessage(e.message),
      )
      .finally(() => s.pending--);
  };
  /**
   * The `count`-th image from index `from` on, in direction `dir`, that can be opened (a broken file has nothing to
   * label); with fewer before the end of the filter, the last of them and `short`; null when there is none.
   */
  const openable = async (from: number, dir: 1 | -1, count = 1): Promise<{ id: number; index: number; short: boolean } | null> => {
    const args = listArgs(latest.current.filter);
    let last: { id: number; index: number } | null = null;
    let left = count;
    for (let at = from; at >= 0; ) {
      const offset = dir > 0 ? at : Math.max(0, at - SCAN + 1);
      const { items } = await client.call('images.list', { ...args, offset, limit: dir > 0 ? SCAN : at - offset + 1 });
      const seen = dir > 0 ? items : [...items].reverse();
      for (const [k, img] of seen.entries()) {
        if (img.status === 'error') continue;
        last = { id: img.id, index: at + dir * k };
        if (--left === 0) return { ...last, short: false };
      }
      if (dir > 0 && items.length < SCAN) break;
      at = dir > 0 ? at + SCAN : offset - 1;
    }
    return last && { ...last, short: true };
  };
  const position = (id: number) => client.call('images.position', { id, ...listArgs(latest.current.filter) });
  /** → and ←: the next readable image in the filter; they stop at either end (D wraps, they do not). */
  const go = (dir: 1 | -1) => {
    const s = steps.current;
    // Presses the same way while the move before them still waits join it: one jump over as many images.
    if (s.waiting && Math.sign(s.waiting.delta) === dir) return void (s.waiting.delta += dir);
    const move = { delta: dir };
    enqueue(async () => {
      if (s.waiting === move) s.waiting = null;
      const { index } = await position(here.current);
      // Not in the filter (searched away, status changed elsewhere): start at the filter's first image.
      const next = index === null ? await openable(0, 1) : await openable(index + dir, dir, Math.abs(move.delta));
      if (next) open(next.id);
      if (!next || next.short) return dir > 0 ? 'This is the last image' : 'This is the first image';
    });
    s.waiting = move;
  };
  /** D: done and on to the next readable image; past the last, back to the first. On a done image: back to in progress. */
  const markDone = () =>
    enqueue(async () => {
      const id = here.current;
      const img = await client.call('images.get', { id });
      if (img.status === 'error') return 'This file cannot be read: there is nothing to mark done';
      const shown = (next: Image) => latest.current.imageId === id && setImage(next);
      if (img.status === 'done') return void shown(await client.call('images.setStatus', { id, status: 'in_progress' }));
      const masks = latest.current.imageId === id ? latest.current.annotations : img.annotations ? await client.call('annotations.list', { imageId: id }) : [];
      const unassigned = masks.filter((a) => a.categoryId === null).length;
      const before = await position(id);
      shown(await client.call('images.setStatus', { id, status: 'done' }));
      const after = await position(id);
      // Done, the image may have left the filter ("Unlabeled"): then the one that took its place is next.
      const from = after.index !== null ? after.index + 1 : (before.index ?? 0);
      const ahead = await openable(from, 1);
      const next = ahead ?? (from > 0 ? await openable(0, 1) : null);
      const notes = [
        unassigned > 0 && `${img.path} done, but ${unassigned === 1 ? '1 mask has' : `${unassigned} masks have`} no category: export leaves ${unassigned === 1 ? 'it' : 'them'} out`,
      ];
      if (!next || next.id === id) notes.push(after.total === 0 ? 'Every image in this filter is done' : 'No other image in this filter');
      else {
        if (!ahead) notes.push('That was the last image: back to the first image');
        open(next.id);
      }
      return notes.filter(Boolean).join(' · ');
    });

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
      if (!a || a.shape !== 'mask' || !image) return setMessage('Select one mask to fill its holes');
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
    /** Box from mask (its tight box, a new box of its category), or mask from box (the click segmenter's segment in it). */
    convert: () => {
      const a = editable(selected).length === 1 ? ann(selected[0]!) : undefined;
      if (!a || a.shape === 'point') return setMessage('Select one mask (box from mask) or one box (mask from box)');
      if (a.shape === 'mask') {
        void editor.addShape({ kind: 'box', bbox: a.bbox }, a.categoryId).then((b) => b && setSelected([b.id]));
        return;
      }
      const segmenter = pipeline?.prompt === 'points' ? pipeline : null;
      if (!segmenter) return setMessage('Mask from box needs a pipeline that takes clicks (choose DiffSeg in the side panel)');
      setMessage('Segmenting inside the box…');
      void editor.addFrom((id) => pipelineCalls.accept(segmenter, id, { kind: 'points', points: [], box: a.bbox }, a.categoryId)).then((m) => {
        if (!m) return;
        setSelected([m.id]);
        setMessage(m.area ? `Mask from box: ${m.area} px` : 'The segmenter found nothing inside the box');
      });
    },
    acceptClick: () => {
      const points = click.points, within = click.box;
      if (!within && !points.some((p) => p.positive)) return setMessage('Click inside an object first (a + point), or drag a box around it');
      if (click.mask && click.area === 0) return setMessage('The clicks select no pixel: add a + point or remove a − point');
      const category = currentCategory ?? null;
      if (!pipeline) return;
      void editor.addFrom((id, overlap) => pipelineCalls.accept(pipeline, id, { kind: 'points', points, ...(within ? { box: within } : {}) }, category, overlap)).then((a) => {
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
    markExample: (id = selected.length === 1 ? selected[0] : undefined) => {
      if (id === undefined) return setMessage('Select one mask to use as an example');
      markAsExample(id).then(
        (e) => setMessage(`${e.imagePath} #${e.annotationId} is an example: find it in other images from the panel of a pipeline that takes one`),
        (e: Error) => setMessage(e.message),
      );
    },
    /** A: the selected proposals get the category they are offered in. */
    acceptSuggested: () => {
      const offered = editable(selected).map(ann).filter((a) => a && isProposal(a) && a.suggestedCategoryId !== null);
      if (!offered.length) return setMessage('Select a proposal offered in a category (✓ in its row) to accept it');
      for (const a of offered) void editor.setCategory(a!.id, a!.suggestedCategoryId);
    },
    setCategory: (categoryId: number | null) => {
      setCurrentCategory(categoryId);
      for (const id of editable(selected)) if (ann(id)?.categoryId !== categoryId) void editor.setCategory(id, categoryId);
    },
  };

  // ---- keyboard -------------------------------------------------------------------------------------
  const keyHandler = useRef<(e: KeyboardEvent) => void>(() => {});
  keyHandler.current = (e: KeyboardEvent) => {
    setToast(null);
    const t = e.target as HTMLElement;
    if (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT') {
      // Esc hands the keyboard back to the shortcuts; preventing the default keeps a search box's text.
      if (e.key === 'Escape') {
        e.preventDefault();
        t.blur();
      }
      return;
    }
    const ctrl = e.ctrlKey || e.metaKey;
    const k = e.key;
    if (dialog) {
      if (k === 'Escape' || (k === '?' && dialog === 'help')) setDialog(null);
      return;
    }
    let handled = true;
    // While the click tool has points (or points to put back), Ctrl+Z / Ctrl+Shift+Z are theirs, not the stored history's.
    const redo = () => (tool === 'click' && click.redo()) || void editor.redo();
    if (ctrl && k.toLowerCase() === 'z') void (e.shiftKey ? redo() : (tool === 'click' && click.undo()) || editor.undo());
    else if (ctrl && k.toLowerCase() === 'y') redo();
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
      // The tools that place points only take points back with it: a Backspace too many must not delete the mask
      // just accepted or closed. Elsewhere it deletes, for keyboards without a Delete key.
      if (tool === 'click' || tool === 'polygon') {
        if (!(tool === 'click' ? click.removeLast() : canvas.current?.removeLastVertex())) setMessage('No point to take back (Delete deletes the selected mask)');
      } else if (!canvas.current?.removeLastVertex()) actions.delete();
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
    else if (k === 'ArrowRight' || k === '.') go(1);
    else if (k === 'ArrowLeft' || k === ',') go(-1);
    else {
      const action = actionFor(keys, k);
      const toolHit = tools.find((x) => x.id === action);
      if (toolHit) setTool(toolHit.id);
      else if (action === 'fit') canvas.current?.fit();
      else if (action === 'fillHoles') actions.fillHoles();
      else if (action === 'merge') actions.merge();
      else if (action === 'split') actions.split();
      else if (action === 'toggleMasks') setMasksVisible((v) => !v);
      else if (action === 'outline') setDisplay({ outline: !display.outline });
      else if (action === 'done') markDone();
      else if (action === 'example') actions.markExample();
      else if (action === 'acceptSuggested') actions.acceptSuggested();
      else if (action === 'convert') actions.convert();
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
    <div
      className="annotate"
      onPointerDownCapture={() => setToast(null)}
      // A select hands the keyboard back to the shortcuts once a choice is made.
      onChange={(e) => e.target instanceof HTMLSelectElement && e.target.blur()}
    >
      <header className="toolbar">
        <button onClick={onBack} title="Back to the image grid" data-testid="back-to-grid">
          ▦
        </button>
        <div className="tool-group" role="toolbar" aria-label="Tools">
          {tools.map((t) => (
            <button key={t.id} className={tool === t.id ? 'active' : ''} title={`${t.label}${keyHint(t.id)}: ${t.hint}`} onClick={() => setTool(t.id)} data-testid={`tool-${t.id}`}>
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
        {tool === 'click' && (
          <label className="tool-option" title="Hover preview: shows faintly what a click at the pointer would give (from what the first click computed)">
            <input type="checkbox" checked={hoverOn} onChange={(e) => setHoverPreview(e.target.checked)} data-testid="hover-preview" />
            Hover
          </label>
        )}
        {tool === 'wand' && (
          <label className="tool-option" title="Magic wand colour tolerance ({ and }; or press and drag away from the spot)">
            Tol.
            <input type="range" min={0} max={255} value={tolerance} onChange={(e) => setTolerance(Number(e.target.value))} data-testid="wand-tolerance" />
            <span>{tolerance}</span>
          </label>
        )}
        <div className="tool-group">
          <button onClick={actions.fillHoles} title={`Fill holes${keyHint('fillHoles')}`} disabled={selected.length !== 1}>
            Fill holes
          </button>
          <button onClick={actions.merge} title={`Merge selected${keyHint('merge')}`} disabled={selected.length < 2}>
            Merge
          </button>
          <button onClick={actions.split} title={`Split into connected parts${keyHint('split')}`} disabled={selected.length !== 1}>
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
        <span className="image-name" title={image?.path} data-testid="image-name">
          <bdi dir="ltr">{image?.id === imageId ? image.path : ''}</bdi>
        </span>
        <div className="tool-group">
          <button onClick={() => go(-1)} title="Previous image (←)">
            ‹
          </button>
          <span className="image-position" title="Place in the strip's filter (– : the filter leaves this image out)" data-testid="image-position">
            {place ? `${place.index === null ? '–' : place.index + 1} / ${place.total}` : ''}
          </span>
          <button onClick={() => go(1)} title="Next image (→)">
            ›
          </button>
        </div>
        <button
          className={image?.status === 'done' ? 'done-on' : ''}
          onClick={markDone}
          disabled={image?.missing || image?.status === 'error'}
          title={
            image?.missing
              ? 'The file is missing: its masks are read-only until it returns'
              : image?.status === 'error'
                ? 'The file cannot be read: there is nothing to label'
                : `Mark done and go to the next${keyHint('done')}`
          }
          data-testid="mark-done"
        >
          {image?.status === 'done' ? '✓ Done' : 'Mark done'}
        </button>
        <button onClick={() => setDialog('export')} title="Export: COCO, YOLO, VOC, labelme, mask PNGs (Ctrl+E)" data-testid="open-export">
          Export
        </button>
        <button onClick={() => setDialog('help')} title="Keyboard shortcuts (?)" data-testid="open-help">
          ?
        </button>
      </header>
      <div className="workplace">
        <ImageStrip
          filter={filter}
          onFilter={onFilter}
          currentId={imageId}
          version={version}
          onOpen={(img) => open(img.id)}
          onOpenFolder={onOpenFolder}
          onMessage={setMessage}
        />
        <main className="canvas-area">
          {image?.id === imageId && image.status === 'error' ? (
            <div className="canvas-note broken-note" data-testid="canvas-note">
              This file cannot be read: {image.error}. There is nothing to label; replace the file and re-index the folder.
            </div>
          ) : image?.id === imageId ? (
            <CanvasView
              ref={canvas}
              image={image}
              editor={editor}
              categories={categories}
              hidden={hidden}
              locked={locked}
              masksVisible={masksVisible}
              maskStyle={maskStyle}
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
          {toast && (
            <div className="toast" role="alert" key={toast.seq}>
              {toast.text}
            </div>
          )}
        </main>
        <aside className="side">
          <PipelinePanel
            imageId={imageId}
            tool={tool}
            click={click}
            annotations={editor.annotations}
            categories={categories}
            onAccept={actions.acceptClick}
            onPromptTool={setTool}
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
            onCategory={(id, c) =>
              void editor.setCategory(id, c).then((dropped) => dropped.length && setMessage(`Attribute values dropped (the new category does not define them): ${dropped.join(', ')}`))
            }
            onAttributes={(id, values) => void editor.setAttributes(id, values)}
            onUseAsExample={actions.markExample}
            onConvert={actions.convert}
            readOnly={image?.missing ? 'The file is missing: its masks are kept, read-only and left out of exports, until indexing finds it again.' : undefined}
          />
        </aside>
      </div>
      {/* Below the workplace, not over the canvas: it shrinks the canvas from below, so the image does not move. */}
      <JobBar />
      <StatusBar
        width={image?.width ?? 0}
        height={image?.height ?? 0}
        onFit={() => canvas.current?.fit()}
        onOneToOne={() => canvas.current?.oneToOne()}
        masksVisible={masksVisible}
        onToggleMasks={() => setMasksVisible((v) => !v)}
        masks={editor.annotations.length}
        busy={editor.busy}
        historyLabel={h?.undoLabel ? `undo: ${h.undoLabel}` : ''}
      >
        <MaskDisplay display={display} onChange={setDisplay} outlineKey={keys.outline} />
      </StatusBar>
      {dialog === 'help' && <HelpOverlay keys={keys} onClose={() => setDialog(null)} onChangeKeys={() => setDialog('keys')} />}
      {dialog === 'keys' && <ShortcutsDialog keys={keys} onKeys={setKeys} onClose={() => setDialog('help')} />}
      {dialog === 'export' && <ExportDialog onClose={() => setDialog(null)} />}
    </div>
  );
}

/** How many images next/previous read at once while skipping broken ones. */
const SCAN = 20;

/** Tool settings survive reloads (they are preferences, not project data). */
function stored(key: string, fallback: number): number {
  const v = Number(localStorage.getItem(`difflabel.${key}`));
  return Number.isFinite(v) && v > 0 ? v : fallback;
}
