// The canvas: the image (from a pyramid of display levels) and the masks (cached bitmaps) on one
// non-listening Konva layer, the editing overlays (selection outlines, polygon draft, vertex handles,
// brush preview) on another. Pointer input is handled here on the container, per tool.
import { forwardRef, useCallback, useEffect, useImperativeHandle, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { Circle, Layer, Line, Shape, Stage } from 'react-konva';
import type Konva from 'konva';
import type { Annotation, Category, Image } from '../../../shared/contract';
import { area, bbox as rleBbox, encode, fromCompressedString, maskToPolygons, polygonsToRle, toCocoRle, union, type Rle } from '../../../core/masks';
import type { ClickSegment } from '../canvas/clickTool';
import { makeSprite } from '../canvas/sprites';
import { MaskScene } from '../canvas/maskScene';
import { buildPyramid, closePyramid, levelFor, loadImage, type Pyramid } from '../canvas/pyramid';
import { applyStroke, floodFill, snapToCorner, snapToPixelCentre, type Pt } from '../canvas/raster';
import { setLive } from '../canvas/liveStatus';
import type { Tool } from '../canvas/tools';
import type { Editor } from '../canvas/useImageAnnotations';
import { fitView, screenToImage, visibleRect, wheelZoom, zoomTo, type View } from '../canvas/view';
import { client } from '../client';
import { missingNote } from './ImageStrip';

export const UNASSIGNED_COLOR = '#9aa1ad';
/** The live click-segment mask: a colour no category palette uses, so it never looks like a stored mask. */
export const LIVE_MASK_COLOR = '#00e5ff';

/** Editable polygons of masks drawn as polygons in this session; valid while the mask is unchanged. */
export type PolygonMemory = Map<number, { points: number[]; counts: string }>;

export interface CanvasHandle {
  fit(): void;
  oneToOne(): void;
  zoomBy(factor: number): void;
  closePolygon(): void;
  removeLastVertex(): boolean;
  cancel(): boolean;
}

interface Props {
  image: Image;
  editor: Editor;
  categories: Category[];
  hidden: ReadonlySet<number>;
  locked: ReadonlySet<number>;
  masksVisible: boolean;
  selected: number[];
  onSelect(ids: number[]): void;
  tool: Tool;
  brushSize: number;
  tolerance: number;
  currentCategory: number | null;
  polygons: PolygonMemory;
  onMessage(text: string): void;
  /** The click-segment tool's points and live mask. */
  click: ClickSegment;
}

type Drag =
  | { kind: 'pan'; sx: number; sy: number; view: View }
  | { kind: 'stroke'; points: Pt[] }
  | { kind: 'vertex'; index: number; moved: boolean }
  | null;

const VERTEX_HIT_PX = 7;
const EDGE_HIT_PX = 5;
const MAX_HANDLES = 800;

export const CanvasView = forwardRef<CanvasHandle, Props>(function CanvasView(props, ref) {
  const { image, editor, categories, hidden, locked, masksVisible, selected, onSelect, tool, brushSize, tolerance, currentCategory, polygons, onMessage, click } = props;
  const W = image.width, H = image.height;
  const box = useRef<HTMLDivElement>(null);
  const stageRef = useRef<Konva.Stage>(null);
  const [size, setSize] = useState({ w: 0, h: 0 }); // 0 until measured: fitting needs the real viewport
  const [view, setView] = useState<View>({ scale: 1, x: 0, y: 0 });
  const [pyramid, setPyramid] = useState<Pyramid | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [hover, setHover] = useState<number | null>(null);
  const [cursor, setCursor] = useState<Pt | null>(null);
  const [draft, setDraft] = useState<Pt[]>([]);
  const [stroke, setStroke] = useState<Pt[] | null>(null);
  const [ring, setRing] = useState<number[] | null>(null); // vertex-edit copy of the selected polygon
  const drag = useRef<Drag>(null);
  const drawStats = useRef({ imageMs: 0, frames: 0 });
  const spaceDown = useRef(false);
  const pixels = useRef<{ id: number; data: ImageData } | null>(null);

  const viewRef = useRef(view);
  viewRef.current = view;
  const sizeRef = useRef(size);
  sizeRef.current = size;
  const pyramidRef = useRef(pyramid);
  pyramidRef.current = pyramid;

  // The mask scene lives as long as the image; its bitmaps are rebuilt only for masks that change.
  const scene = useMemo(() => new MaskScene(W, H), [image.id, W, H]);
  const redraw = useCallback(() => void stageRef.current?.batchDraw(), []);
  scene.onNeedsRedraw = redraw;

  const colorOf = useMemo(() => {
    const m = new Map(categories.map((c) => [c.id, c.color]));
    return (a: Annotation) => (a.categoryId !== null ? (m.get(a.categoryId) ?? UNASSIGNED_COLOR) : UNASSIGNED_COLOR);
  }, [categories]);

  useEffect(() => {
    scene.setMasks(editor.annotations.map((a) => ({ id: a.id, counts: a.mask.counts, color: colorOf(a), visible: masksVisible && !hidden.has(a.id) })));
    redraw();
  }, [scene, editor.annotations, colorOf, hidden, masksVisible, redraw]);

  useLayoutEffect(() => {
    const el = box.current!;
    const ro = new ResizeObserver(() => setSize({ w: el.clientWidth, h: el.clientHeight }));
    ro.observe(el);
    setSize({ w: el.clientWidth, h: el.clientHeight });
    return () => ro.disconnect();
  }, []);

  // Load the image and its display levels; fit it once the viewport is known.
  useEffect(() => {
    const ac = new AbortController();
    let built: Pyramid | null = null;
    setPyramid(null);
    setLoadError(null);
    setDraft([]);
    setRing(null);
    pixels.current = null;
    if (image.missing) {
      setLoadError(missingNote(image)); // the kept masks are still drawn, over nothing
      return;
    }
    loadImage(client.imageUrl(image.id), ac.signal)
      .then((img) => buildPyramid(img, ac.signal))
      .then((p) => {
        built = p;
        if (!ac.signal.aborted) setPyramid(p);
      })
      .catch((e: Error) => !ac.signal.aborted && setLoadError(`cannot load the image: ${e.message}`));
    return () => {
      ac.abort();
      if (built) closePyramid(built);
    };
  }, [image.id, image.missing, W, H]);

  const fitted = useRef(false);
  useEffect(() => {
    fitted.current = false;
  }, [image.id]);
  useEffect(() => {
    if (!fitted.current && size.w > 0) {
      fitted.current = true;
      setView(fitView(W, H, size.w, size.h));
    }
  }, [size, W, H, image.id]);

  useEffect(() => setLive({ scale: view.scale }), [view.scale]);

  useImperativeHandle(ref, () => ({
    fit: () => setView(fitView(W, H, sizeRef.current.w, sizeRef.current.h)),
    oneToOne: () => setView((v) => zoomTo(v, 1, sizeRef.current.w / 2, sizeRef.current.h / 2)),
    zoomBy: (f) => setView((v) => zoomTo(v, v.scale * f, sizeRef.current.w / 2, sizeRef.current.h / 2)),
    closePolygon: () => closeDraft(),
    removeLastVertex: () => {
      if (!draft.length) return false;
      setDraft((d) => d.slice(0, -1));
      return true;
    },
    cancel: () => {
      if (draft.length || stroke) {
        setDraft([]);
        setStroke(null);
        drag.current = null;
        return true;
      }
      return false;
    },
  }));

  // A hook for the benchmark and tests: drive the view without synthetic input events.
  useEffect(() => {
    const w = window as unknown as { __difflabelCanvas?: unknown };
    w.__difflabelCanvas = {
      setView: (v: View) => setView(v),
      getView: () => viewRef.current,
      fit: () => setView(fitView(W, H, sizeRef.current.w, sizeRef.current.h)),
      /** Cost of the last canvas draw, split into the image and the masks, and draws so far. */
      drawStats: () => ({ imageMs: drawStats.current.imageMs, masksMs: scene.lastDrawMs, setMasksMs: scene.lastSetMasksMs, draws: drawStats.current.frames }),
    };
    return () => void delete w.__difflabelCanvas;
  }, [scene, W, H]);

  // ---- geometry helpers -------------------------------------------------------------------------------
  const toImage = (e: { clientX: number; clientY: number }): Pt => {
    const r = box.current!.getBoundingClientRect();
    return screenToImage(viewRef.current, e.clientX - r.left, e.clientY - r.top);
  };
  const screenDist = (a: Pt, b: Pt) => Math.hypot(a.x - b.x, a.y - b.y) * viewRef.current.scale;

  const single = selected.length === 1 ? selected[0]! : null;
  const selectedAnn = single !== null ? editor.annotations.find((a) => a.id === single) : undefined;

  // Outlines of the selected masks: exact pixel-edge polygons (crisp at any zoom, unlike the bitmaps).
  const outlines = useMemo(() => {
    const out: { id: number; rings: number[][] }[] = [];
    for (const id of selected) {
      const a = editor.annotations.find((x) => x.id === id);
      if (!a) continue;
      const rle = fromCompressedString(a.mask.counts, H, W);
      out.push({ id, rings: maskToPolygons(rle).flatMap((p) => [p.outer, ...p.holes]) });
    }
    return out;
  }, [selected, editor.annotations, W, H]);

  // The live click-segment mask: a full-resolution tinted bitmap of its bbox and its exact outline.
  const live = useMemo(() => {
    const m = click.mask;
    if (!m || m.w !== W || m.h !== H) return null;
    const box = rleBbox(m);
    if (box[2] <= 0 || box[3] <= 0) return null;
    const sprite = makeSprite(m, box, 1, [0, 229, 255]);
    return { sprite, rings: maskToPolygons(m).flatMap((p) => [p.outer, ...p.holes]) };
  }, [click.mask, W, H]);
  const liveFunc = useCallback(
    (ctx: Konva.Context) => {
      const sp = live?.sprite;
      if (!sp) return;
      const c = (ctx as unknown as { _context: CanvasRenderingContext2D })._context;
      c.imageSmoothingEnabled = false;
      c.drawImage(sp.canvas, sp.x, sp.y, sp.canvas.width * sp.step, sp.canvas.height * sp.step);
    },
    [live],
  );

  // The polygon offered for vertex editing: the one drawn in this session, or the traced outline of a
  // mask that is a single region without holes.
  const editable = useMemo<number[] | null>(() => {
    if (tool !== 'select' || !selectedAnn || locked.has(selectedAnn.id)) return null;
    const kept = polygons.get(selectedAnn.id);
    if (kept && kept.counts === selectedAnn.mask.counts) return kept.points;
    const o = outlines.find((x) => x.id === selectedAnn.id);
    const polys = o ? maskToPolygons(fromCompressedString(selectedAnn.mask.counts, H, W)) : [];
    if (polys.length !== 1 || polys[0]!.holes.length || polys[0]!.outer.length / 2 > MAX_HANDLES) return null;
    return polys[0]!.outer;
  }, [tool, selectedAnn, locked, polygons, outlines, W, H]);
  useEffect(() => setRing(null), [editable]);
  const handles = ring ?? editable;

  // ---- edits ------------------------------------------------------------------------------------------
  const closeDraft = () => {
    if (draft.length < 3) {
      if (draft.length) onMessage('A polygon needs at least 3 vertices');
      return;
    }
    const points = draft.flatMap((p) => [p.x, p.y]);
    setDraft([]);
    const rle = polygonsToRle([points], H, W);
    if (area(rle) === 0) return onMessage('That polygon covers no pixel');
    void editor.add(toCocoRle(rle, true), currentCategory, 'polygon').then((a) => {
      if (!a) return;
      polygons.set(a.id, { points, counts: a.mask.counts });
      onSelect([a.id]);
    });
  };

  const commitRing = (id: number, points: number[]) => {
    const rle = polygonsToRle([points], H, W);
    if (area(rle) === 0) return onMessage('That polygon covers no pixel');
    const mask = toCocoRle(rle, true) as { size: [number, number]; counts: string };
    polygons.set(id, { points, counts: mask.counts });
    void editor.updateMask(id, mask, 'edit polygon');
  };

  const finishStroke = (points: Pt[]) => {
    const paint = tool === 'brush';
    const target = selectedAnn && !locked.has(selectedAnn.id) ? selectedAnn : undefined;
    if (!paint && !target) return onMessage('Select a mask to erase from');
    const before: Rle | null = target ? fromCompressedString(target.mask.counts, H, W) : null;
    const after = applyStroke(before, H, W, points, brushSize, paint);
    if (target) {
      if (area(after) === 0) return void editor.remove(target.id).then(() => onSelect([]));
      void editor.updateMask(target.id, toCocoRle(after, true) as { size: [number, number]; counts: string }, paint ? 'brush' : 'eraser');
    } else if (area(after) > 0) {
      void editor.add(toCocoRle(after, true), currentCategory, 'brush').then((a) => a && onSelect([a.id]));
    }
  };

  const wand = (p: Pt, extend: boolean) => {
    if (!pyramid) return;
    if (pixels.current?.id !== image.id) {
      // Full-resolution pixels, read once per image (the wand must not see a downscaled level).
      const c = document.createElement('canvas');
      c.width = W;
      c.height = H;
      const ctx = c.getContext('2d', { willReadFrequently: true })!;
      ctx.drawImage(pyramid.full, 0, 0);
      pixels.current = { id: image.id, data: ctx.getImageData(0, 0, W, H) };
    }
    const m = floodFill(pixels.current.data.data, W, H, Math.floor(p.x), Math.floor(p.y), tolerance);
    const rle = encode(m, H, W);
    if (extend && selectedAnn) {
      const merged = union(fromCompressedString(selectedAnn.mask.counts, H, W), rle);
      void editor.updateMask(selectedAnn.id, toCocoRle(merged, true) as { size: [number, number]; counts: string }, 'magic wand');
    } else {
      void editor.add(toCocoRle(rle, true), currentCategory, 'magic wand', 'wand').then((a) => a && onSelect([a.id]));
    }
  };

  // ---- pointer input ----------------------------------------------------------------------------------
  useEffect(() => {
    const el = box.current!;
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      const r = el.getBoundingClientRect();
      const dy = e.deltaMode === 1 ? e.deltaY * 33 : e.deltaY;
      setView((v) => wheelZoom(v, dy, e.clientX - r.left, e.clientY - r.top));
    };
    el.addEventListener('wheel', onWheel, { passive: false });
    const down = (e: KeyboardEvent) => e.code === 'Space' && !isTyping(e) && (spaceDown.current = true);
    const up = (e: KeyboardEvent) => e.code === 'Space' && (spaceDown.current = false);
    window.addEventListener('keydown', down);
    window.addEventListener('keyup', up);
    return () => {
      el.removeEventListener('wheel', onWheel);
      window.removeEventListener('keydown', down);
      window.removeEventListener('keyup', up);
    };
  }, []);

  const nearestVertex = (p: Pt, pts: number[]) => {
    let best = -1, bd = VERTEX_HIT_PX;
    for (let i = 0; i < pts.length; i += 2) {
      const d = screenDist(p, { x: pts[i]!, y: pts[i + 1]! });
      if (d <= bd) (bd = d), (best = i / 2);
    }
    return best;
  };
  const nearestEdge = (p: Pt, pts: number[]) => {
    const n = pts.length / 2;
    for (let i = 0; i < n; i++) {
      const a = { x: pts[2 * i]!, y: pts[2 * i + 1]! }, b = { x: pts[(2 * i + 2) % (2 * n)]!, y: pts[(2 * i + 3) % (2 * n)]! };
      const dx = b.x - a.x, dy = b.y - a.y, l2 = dx * dx + dy * dy;
      const t = l2 ? Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / l2)) : 0;
      if (screenDist(p, { x: a.x + t * dx, y: a.y + t * dy }) <= EDGE_HIT_PX) return i;
    }
    return -1;
  };

  const onPointerDown = (e: React.PointerEvent) => {
    if (!pyramid) return;
    box.current!.focus();
    const p = toImage(e);
    const r = box.current!.getBoundingClientRect();
    const startPan = () => {
      drag.current = { kind: 'pan', sx: e.clientX - r.left, sy: e.clientY - r.top, view: viewRef.current };
      box.current!.setPointerCapture(e.pointerId);
    };
    if (e.button === 1 || (e.button === 0 && spaceDown.current)) {
      e.preventDefault();
      return startPan();
    }
    if (tool === 'click' && (e.button === 0 || e.button === 2)) {
      if (p.x < 0 || p.y < 0 || p.x >= W || p.y >= H) return;
      const positive = e.button === 0 && !e.altKey && !e.shiftKey;
      click.add({ x: Math.floor(p.x), y: Math.floor(p.y), positive });
      return;
    }
    if (e.button !== 0) return;
    switch (tool) {
      case 'polygon': {
        const q = snapToCorner(p, W, H);
        if (draft.length >= 3 && screenDist(q, draft[0]!) <= VERTEX_HIT_PX + 2) return closeDraft();
        const last = draft[draft.length - 1];
        if (!last || last.x !== q.x || last.y !== q.y) setDraft([...draft, q]);
        return;
      }
      case 'brush':
      case 'eraser': {
        const q = snapToPixelCentre(p);
        drag.current = { kind: 'stroke', points: [q] };
        setStroke([q]);
        box.current!.setPointerCapture(e.pointerId);
        return;
      }
      case 'wand':
        return wand(p, e.shiftKey);
      case 'select': {
        if (handles && single !== null) {
          const vi = nearestVertex(p, handles);
          if (vi >= 0 && e.altKey) {
            if (handles.length / 2 <= 3) return onMessage('A polygon keeps at least 3 vertices');
            const next = handles.filter((_, i) => i >> 1 !== vi);
            setRing(next);
            return commitRing(single, next);
          }
          if (vi >= 0) {
            setRing(handles.slice());
            drag.current = { kind: 'vertex', index: vi, moved: false };
            box.current!.setPointerCapture(e.pointerId);
            return;
          }
          const ei = nearestEdge(p, handles);
          if (ei >= 0) {
            const q = snapToCorner(p, W, H);
            const next = [...handles.slice(0, 2 * ei + 2), q.x, q.y, ...handles.slice(2 * ei + 2)];
            setRing(next);
            drag.current = { kind: 'vertex', index: ei + 1, moved: true };
            box.current!.setPointerCapture(e.pointerId);
            return;
          }
        }
        const hit = scene.hitTest(p.x, p.y, (id) => locked.has(id));
        if (hit === null) {
          if (!e.shiftKey) onSelect([]);
          return startPan();
        }
        if (e.shiftKey) onSelect(selected.includes(hit) ? selected.filter((x) => x !== hit) : [...selected, hit]);
        else onSelect([hit]);
        return;
      }
    }
  };

  const onPointerMove = (e: React.PointerEvent) => {
    const p = toImage(e);
    const inside = p.x >= 0 && p.y >= 0 && p.x < W && p.y < H;
    setLive({ cursor: inside ? { x: Math.floor(p.x), y: Math.floor(p.y) } : null });
    const d = drag.current;
    if (d?.kind === 'pan') {
      const r = box.current!.getBoundingClientRect();
      setView({ ...d.view, x: d.view.x + e.clientX - r.left - d.sx, y: d.view.y + e.clientY - r.top - d.sy });
      return;
    }
    if (d?.kind === 'stroke') {
      const q = snapToPixelCentre(p);
      const last = d.points[d.points.length - 1]!;
      if (q.x !== last.x || q.y !== last.y) {
        d.points.push(q);
        setStroke(d.points.slice());
      }
    }
    if (d?.kind === 'vertex' && ring) {
      const q = snapToCorner(p, W, H);
      if (ring[2 * d.index] !== q.x || ring[2 * d.index + 1] !== q.y) {
        const next = ring.slice();
        next[2 * d.index] = q.x;
        next[2 * d.index + 1] = q.y;
        d.moved = true;
        setRing(next);
      }
      return;
    }
    if (tool === 'polygon' || tool === 'brush' || tool === 'eraser') setCursor(tool === 'polygon' ? snapToCorner(p, W, H) : snapToPixelCentre(p));
    const h = scene.hitTest(p.x, p.y, (id) => locked.has(id));
    if (h !== hover) setHover(h);
  };

  const onPointerUp = (e: React.PointerEvent) => {
    const d = drag.current;
    drag.current = null;
    if (box.current!.hasPointerCapture(e.pointerId)) box.current!.releasePointerCapture(e.pointerId);
    if (d?.kind === 'stroke') {
      setStroke(null);
      finishStroke(d.points);
    } else if (d?.kind === 'vertex' && d.moved && ring && single !== null) {
      commitRing(single, ring);
    }
  };

  // ---- drawing ----------------------------------------------------------------------------------------
  const highlight = useMemo(() => [...new Set([...(hover !== null ? [hover] : []), ...selected])], [hover, selected]);
  const highlightRef = useRef(highlight);
  highlightRef.current = highlight;
  useEffect(() => void redraw(), [highlight, pyramid, redraw]);

  const sceneFunc = useCallback(
    (ctx: Konva.Context) => {
      const c = (ctx as unknown as { _context: CanvasRenderingContext2D })._context;
      const v = viewRef.current, s = sizeRef.current;
      const p = pyramidRef.current;
      const t0 = performance.now();
      if (p) {
        const lvl = levelFor(p, v.scale);
        const r = visibleRect(v, s.w, s.h, W, H);
        if (!r.empty) {
          // Zoomed in past 2×, show pixels as blocks: a labeler needs to see where edges really are.
          c.imageSmoothingEnabled = v.scale < 2;
          const ls = lvl.scale;
          c.drawImage(lvl.bitmap, r.x0 * ls, r.y0 * ls, (r.x1 - r.x0) * ls, (r.y1 - r.y0) * ls, r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0);
        }
      }
      drawStats.current.imageMs = performance.now() - t0;
      scene.draw(c, v, s.w, s.h, highlightRef.current);
      drawStats.current.frames++;
    },
    [scene, W, H],
  );
  const inv = 1 / view.scale;
  const cursorStyle = spaceDown.current ? 'grab' : tool === 'select' ? 'default' : tool === 'wand' ? 'cell' : tool === 'click' && click.status !== 'idle' ? 'progress' : 'crosshair';
  const strokeColor = tool === 'eraser' ? '#ff5a5a' : (categories.find((c) => c.id === currentCategory)?.color ?? UNASSIGNED_COLOR);

  return (
    <div
      className="canvas-box"
      ref={box}
      tabIndex={0}
      data-testid="canvas"
      data-image={image.id}
      data-ready={pyramid ? 'true' : 'false'}
      data-scale={view.scale}
      data-x={view.x}
      data-y={view.y}
      data-tool={tool}
      data-busy={editor.busy ? 'true' : 'false'}
      data-masks={editor.annotations.length}
      data-click-points={click.points.length}
      data-click-status={click.status}
      data-click-area={click.mask ? click.area : ''}
      style={{ cursor: cursorStyle }}
      onPointerDown={onPointerDown}
      onPointerMove={onPointerMove}
      onPointerUp={onPointerUp}
      onPointerLeave={() => {
        setLive({ cursor: null });
        setCursor(null);
        if (hover !== null) setHover(null);
      }}
      onContextMenu={(e) => e.preventDefault()}
      onAuxClick={(e) => e.preventDefault()}
    >
      <Stage ref={stageRef} width={size.w} height={size.h} x={view.x} y={view.y} scaleX={view.scale} scaleY={view.scale} listening={false}>
        <Layer listening={false}>
          <Shape sceneFunc={sceneFunc} listening={false} perfectDrawEnabled={false} />
        </Layer>
        <Layer listening={false}>
          {outlines.map((o) =>
            o.rings.map((r, i) => (
              <Line key={`${o.id}-${i}`} points={r} closed stroke="#ffffff" strokeWidth={1.5} strokeScaleEnabled={false} dash={[5, 4]} listening={false} perfectDrawEnabled={false} />
            )),
          )}
          {handles && single !== null && (
            <>
              {ring && <Line points={ring} closed stroke="#4f8cff" strokeWidth={2} strokeScaleEnabled={false} listening={false} />}
              {Array.from({ length: handles.length / 2 }, (_, i) => (
                <Circle key={i} x={handles[2 * i]} y={handles[2 * i + 1]} radius={4 * inv} fill="#ffffff" stroke="#4f8cff" strokeWidth={1.5} strokeScaleEnabled={false} listening={false} perfectDrawEnabled={false} />
              ))}
            </>
          )}
          {draft.length > 0 && (
            <>
              <Line points={[...draft.flatMap((p) => [p.x, p.y]), ...(cursor ? [cursor.x, cursor.y] : [])]} stroke="#ffd84f" strokeWidth={1.5} strokeScaleEnabled={false} listening={false} />
              {draft.map((p, i) => (
                <Circle key={i} x={p.x} y={p.y} radius={(i === 0 ? 5 : 3.5) * inv} fill={i === 0 ? '#ffd84f' : '#ffffff'} stroke="#111" strokeWidth={1} strokeScaleEnabled={false} listening={false} />
              ))}
            </>
          )}
          {stroke && (
            <Line points={stroke.length === 1 ? [stroke[0]!.x, stroke[0]!.y, stroke[0]!.x + 0.01, stroke[0]!.y] : stroke.flatMap((p) => [p.x, p.y])} stroke={strokeColor} opacity={0.6} strokeWidth={brushSize} lineCap="round" lineJoin="round" listening={false} />
          )}
          {live && (
            <>
              <Shape sceneFunc={liveFunc} listening={false} perfectDrawEnabled={false} />
              {live.rings.map((r, i) => (
                <Line key={`live-${i}`} points={r} closed stroke={LIVE_MASK_COLOR} strokeWidth={2} strokeScaleEnabled={false} dash={[6, 4]} listening={false} perfectDrawEnabled={false} />
              ))}
            </>
          )}
          {click.points.map((p, i) => (
            <Circle
              key={`pt-${i}`}
              x={p.x + 0.5}
              y={p.y + 0.5}
              radius={6 * inv}
              fill={p.positive ? '#2fd56b' : '#ff4d4d'}
              stroke="#ffffff"
              strokeWidth={2}
              strokeScaleEnabled={false}
              listening={false}
            />
          ))}
          {cursor && (tool === 'brush' || tool === 'eraser') && (
            <Circle x={cursor.x} y={cursor.y} radius={brushSize / 2} stroke={tool === 'eraser' ? '#ff5a5a' : '#ffffff'} strokeWidth={1} strokeScaleEnabled={false} listening={false} />
          )}
        </Layer>
      </Stage>
      {!pyramid && (
        <div className="canvas-note" data-testid="canvas-note">
          {loadError ?? 'Loading image…'}
        </div>
      )}
      {tool === 'click' && click.status !== 'idle' && (
        <div className="click-busy" role="status" data-testid="click-busy">
          <span className="spinner" />
          {click.status === 'attention' ? 'Computing attention… (the first click on an image takes a few seconds)' : 'Segmenting…'}
        </div>
      )}
    </div>
  );
});

function isTyping(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  return !!t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
}
