// The canvas: the image (from a pyramid of display levels) and the masks (cached bitmaps) on one
// non-listening Konva layer, the editing overlays (selection outlines, polygon draft, vertex handles,
// brush preview) on another. Pointer input is handled here on the container, per tool.
import { forwardRef, useCallback, useEffect, useImperativeHandle, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { Circle, Group, Layer, Line, Rect, Shape, Stage } from 'react-konva';
import type Konva from 'konva';
import type { Annotation, Category, Image } from '../../../shared/contract';
import {
  MagicWand, area, bbox as rleBbox, fromCompressedString, intersect, maskToPolygons, polygonsToRle, polygonsWithHolesToRle, toCocoRle, union, type Polygon, type Rle,
} from '../../../shared/masks';
import type { ClickSegment } from '../canvas/prompts/points';
import { loadDraft, saveDraft } from '../canvas/drafts';
import { cellSprite, DEFAULT_MASK_STYLE, drawSprite, makeSprite, maskCells, type MaskCells, type MaskStyle, type Rgb, type Sprite } from '../canvas/sprites';
import { encodeCrop } from '../../../shared/masks/crop';
import { MaskScene } from '../canvas/maskScene';
import { buildPyramid, closePyramid, levelFor, loadImage, type Pyramid } from '../canvas/pyramid';
import { applyStroke, snapToCorner, snapToPixelCentre, type Pt } from '../canvas/raster';
import { setLive } from '../canvas/liveStatus';
import type { Tool } from '../canvas/tools';
import type { Editor } from '../canvas/useImageAnnotations';
import { fitView, screenToImage, visibleRect, wheelZoom, zoomTo, type View } from '../canvas/view';
import { client } from '../client';
import { useLiveMask } from '../canvas/prompts/text';
import { missingNote } from './ImageStrip';

export const UNASSIGNED_COLOR = '#9aa1ad';
/** The live click-segment mask: a colour no category palette uses, so it never looks like a stored mask. */
export const LIVE_MASK_COLOR = '#00e5ff';
const LIVE_MASK_RGB: Rgb = [0, 229, 255];
/** The hover preview is the live mask's look, faint: a suggestion, not the answer. */
const HOVER_ALPHA = 0.7;

/**
 * Editable polygons of masks drawn or vertex-edited in this session (their own vertices, not the traced
 * pixel outline); valid while the mask is unchanged.
 */
export type PolygonMemory = Map<number, { polygons: Polygon[]; counts: string }>;

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
  /** The masks' fill opacity and outline-only display: a redraw, the bitmaps stay. */
  maskStyle: MaskStyle;
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

/** A ring of a mask's polygons: the outer ring of polygon `part` (hole -1) or one of its holes. */
interface RingRef {
  part: number;
  hole: number;
}

type Drag =
  | { kind: 'pan'; sx: number; sy: number; view: View }
  | { kind: 'stroke'; points: Pt[]; extend: boolean }
  | { kind: 'vertex'; ring: RingRef; index: number; moved: boolean }
  // The wand's tolerance grows with the distance from the press (`sx`, `sy`: client coordinates) from `base`;
  // `at`: the pointer in the canvas box, for the readout; `shown`: the tolerance the preview shows.
  | { kind: 'wand'; wand: MagicWand; sx: number; sy: number; base: number; tolerance: number; shown: number; extend: boolean; at: Pt }
  // A box drawn (id null), moved or resized by a corner (0 top left, 1 top right, 2 bottom right, 3 bottom left), or a
  // point moved; `from`: the geometry at the press; `start`: the press in image pixels.
  | { kind: 'shape'; id: number | null; mode: 'draw' | 'move' | 'resize'; corner: number; from: BBox; start: Pt; moved: boolean }
  // The click tool's press: a click (a + point) unless it is dragged into a box.
  | { kind: 'clickBox'; start: Pt; sx: number; sy: number; box: BBox | null }
  | null;
type WandDrag = Extract<Drag, { kind: 'wand' }>;
type BBox = [number, number, number, number];
/** A box or a point being drawn or dragged, shown before the back end has it. */
type ShapeDraft = { id: number | null; bbox: BBox };
/** Screen pixels within which a box's edge, corner or a point is grabbed. */
const SHAPE_HIT_PX = 7;
/** A click-tool press dragged further than this (screen pixels) is a box. */
const CLICK_BOX_PX = 5;

const VERTEX_HIT_PX = 7;
const EDGE_HIT_PX = 5;
/** Vertex editing is offered up to this many vertices over all rings of a mask (a traced photo region has thousands). */
const MAX_HANDLES = 800;
/** Screen pixels of drag per step of wand tolerance: 0 → 255 within ~500 px, fine enough to stop where the region is right. */
const WAND_PX_PER_STEP = 2;
/** A wand region covering fewer screen pixels than this at the current zoom is all but invisible: say so. */
const WAND_TINY_SCREEN_PX = 100;
/** A brush stroke that comes this close to the selected mask (a gap of up to 2 pixels) paints into it. */
const BRUSH_NEAR_PX = 3;

export const CanvasView = forwardRef<CanvasHandle, Props>(function CanvasView(props, ref) {
  const { image, editor, categories, hidden, locked, masksVisible, maskStyle, selected, onSelect, tool, brushSize, tolerance, currentCategory, polygons, onMessage, click } = props;
  const W = image.width, H = image.height;
  const box = useRef<HTMLDivElement>(null);
  const stageRef = useRef<Konva.Stage>(null);
  const [size, setSize] = useState({ w: 0, h: 0 }); // 0 until measured: fitting needs the real viewport
  const [view, setView] = useState<View>({ scale: 1, x: 0, y: 0 });
  const [pyramid, setPyramid] = useState<Pyramid | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [hover, setHover] = useState<number | null>(null);
  const [cursor, setCursor] = useState<Pt | null>(null);
  const [draft, setDraftState] = useState<Pt[]>([]);
  const [stroke, setStroke] = useState<Pt[] | null>(null);
  const [rings, setRings] = useState<Polygon[] | null>(null); // vertex-edit copy of the selected mask's polygons
  const [shapeDraft, setShapeDraft] = useState<ShapeDraft | null>(null);
  const [clickBox, setClickBox] = useState<BBox | null>(null);
  const [wandPreview, setWandPreview] = useState<{ tolerance: number; area: number; sprite: Sprite; at: Pt } | null>(null);
  const wandFrame = useRef<number | null>(null);
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
    scene.setMasks(editor.annotations.filter((a) => a.shape === 'mask').map((a) => ({ id: a.id, counts: a.mask.counts, color: colorOf(a), visible: masksVisible && !hidden.has(a.id) })));
    redraw();
  }, [scene, editor.annotations, colorOf, hidden, masksVisible, redraw]);
  useEffect(() => {
    scene.style = maskStyle;
    redraw();
  }, [scene, maskStyle, redraw]);

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
    setRings(null);
    pixels.current = null;
    // An unfinished polygon left on this image (another image was opened, or the page reloaded) goes on.
    const kept = loadDraft(image);
    setDraftState(kept);
    if (kept.length) onMessage(`Unfinished polygon restored (${kept.length} vertices): click on to add vertices, Enter closes it, Esc drops it`);
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

  /** Every change of the unfinished polygon is kept for this image at once (see canvas/drafts.ts). */
  const setDraft = (next: Pt[]) => {
    setDraftState(next);
    saveDraft(image, next);
  };

  useImperativeHandle(ref, () => ({
    fit: () => setView(fitView(W, H, sizeRef.current.w, sizeRef.current.h)),
    oneToOne: () => setView((v) => zoomTo(v, 1, sizeRef.current.w / 2, sizeRef.current.h / 2)),
    zoomBy: (f) => setView((v) => zoomTo(v, v.scale * f, sizeRef.current.w / 2, sizeRef.current.h / 2)),
    closePolygon: () => closeDraft(),
    removeLastVertex: () => {
      if (!draft.length) return false;
      setDraft(draft.slice(0, -1));
      return true;
    },
    cancel: () => {
      if (drag.current?.kind === 'wand') {
        drag.current = null;
        setWandPreview(null);
        return true;
      }
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
      /** When the live mask's answer arrived (performance.now()) and what building its overlay cost. */
      liveStats: () => liveStats.current,
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
  // Mask editing (vertices, brush, eraser) is for masks; boxes and points have their own tools.
  const selectedAnn = single !== null ? editor.annotations.find((a) => a.id === single && a.shape === 'mask') : undefined;
  const shapeAnns = editor.annotations.filter((a) => a.shape !== 'mask' && masksVisible && !hidden.has(a.id));

  // Outlines of the selected masks: exact pixel-edge polygons (crisp at any zoom, unlike the bitmaps).
  const outlines = useMemo(() => {
    const out: { id: number; polys: Polygon[] }[] = [];
    for (const id of selected) {
      const a = editor.annotations.find((x) => x.id === id);
      if (a?.shape === 'mask') out.push({ id, polys: maskToPolygons(fromCompressedString(a.mask.counts, H, W)) });
    }
    return out;
  }, [selected, editor.annotations, W, H]);

  // Live masks, not annotations yet: the click-segment answer with its exact outline, and the wand's region
  // while its tolerance is dragged (bitmap only: tracing a photo region's thousands of rings at every step
  // would cost more than the region; the bitmap has its own 1-cell edge).
  // A text prompt's run sends its mask as it optimises (canvas/prompts/text.ts).
  const running = useLiveMask(image.id);
  const liveStats = useRef({ answeredAt: 0, buildMs: 0 });
  const live = useMemo(() => {
    const t0 = performance.now();
    const o = liveOverlay(click.mask ?? running, W, H, scene.step);
    liveStats.current = { answeredAt: click.answeredAt, buildMs: performance.now() - t0 };
    return o;
  }, [click.mask, click.answeredAt, running, W, H, scene]);
  // The hover preview: the same bitmap drawn faintly, no outline (it changes as the pointer moves).
  const hoverSprite = useMemo(() => click.hover && makeSprite(click.hover.mask, rleBbox(click.hover.mask), scene.step, LIVE_MASK_RGB), [click.hover, scene]);
  const hoverLive = useMemo(() => hoverSprite && { draw: spriteDraw(hoverSprite, HOVER_ALPHA), rings: [] }, [hoverSprite]);
  const hoverAt = click.hoverAt;
  useEffect(() => {
    if (tool !== 'click') hoverAt(null);
  }, [tool]); // eslint-disable-line react-hooks/exhaustive-deps
  const wandSprite = wandPreview?.sprite;
  const wandLive = useMemo(() => wandSprite && { draw: spriteDraw(wandSprite), rings: [] }, [wandSprite]);

  // The polygons offered for vertex editing: those drawn or edited in this session, or the traced outline
  // (every part's outer ring and every hole ring) while it has at most MAX_HANDLES vertices.
  const editable = useMemo<Polygon[] | null>(() => {
    if (tool !== 'select' || !selectedAnn || locked.has(selectedAnn.id)) return null;
    const kept = polygons.get(selectedAnn.id);
    if (kept && kept.counts === selectedAnn.mask.counts) return kept.polygons;
    const polys = outlines.find((x) => x.id === selectedAnn.id)?.polys;
    if (!polys?.length || ringsOf(polys).reduce((n, r) => n + r.pts.length / 2, 0) > MAX_HANDLES) return null;
    return polys;
  }, [tool, selectedAnn, locked, polygons, outlines]);
  useEffect(() => setRings(null), [editable]);
  const handles = rings ?? editable;

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
      polygons.set(a.id, { polygons: [{ outer: points, holes: [] }], counts: a.mask.counts });
      onSelect([a.id]);
    });
  };

  const commitRings = (id: number, polys: Polygon[]) => {
    const rle = polygonsWithHolesToRle(polys, H, W);
    if (area(rle) === 0) return onMessage('That polygon covers no pixel');
    const mask = toCocoRle(rle, true) as { size: [number, number]; counts: string };
    polygons.set(id, { polygons: polys, counts: mask.counts });
    void editor.updateMask(id, mask, 'edit polygon');
  };

  const finishStroke = (points: Pt[], extend: boolean) => {
    const paint = tool === 'brush';
    const selectedMask = selectedAnn && !locked.has(selectedAnn.id) ? selectedAnn : undefined;
    if (!paint && !selectedMask) return onMessage('Select a mask to erase from');
    const before: Rle | null = selectedMask ? fromCompressedString(selectedMask.mask.counts, H, W) : null;
    // Painting away from the selected mask starts a new one: a second, disconnected part of the selection is
    // rarely meant and would go unnoticed. Shift paints a separate part on purpose.
    const apart = paint && before !== null && !extend && area(intersect(applyStroke(null, H, W, points, brushSize + 2 * BRUSH_NEAR_PX, true), before)) === 0;
    const target = apart ? undefined : selectedMask;
    const after = applyStroke(target ? before : null, H, W, points, brushSize, paint);
    if (target) {
      if (area(after) === 0) return void editor.remove(target.id).then(() => onSelect([]));
      void editor.updateMask(target.id, toCocoRle(after, true) as { size: [number, number]; counts: string }, paint ? 'brush' : 'eraser');
    } else if (area(after) > 0) {
      void editor.add(toCocoRle(after, true), currentCategory, 'brush').then((a) => a && onSelect([a.id]));
      if (apart) onMessage('New mask: the stroke does not touch the selected one (Shift+stroke adds a separate part; M merges selected masks)');
    }
  };

  /** The wand from this pixel, on the full-resolution pixels (read once per image). */
  const wandAt = (x: number, y: number): MagicWand => {
    if (pixels.current?.id !== image.id) {
      // The wand must not see a downscaled display level.
      const c = document.createElement('canvas');
      c.width = W;
      c.height = H;
      const ctx = c.getContext('2d', { willReadFrequently: true })!;
      ctx.drawImage(pyramid!.full, 0, 0);
      pixels.current = { id: image.id, data: ctx.getImageData(0, 0, W, H) };
    }
    return new MagicWand(pixels.current.data.data, W, H, x, y);
  };

  /** Shows the dragged wand's region at its current tolerance, in cells of at most one screen pixel. */
  const showWand = (d: WandDrag) => {
    if (d.shown === d.tolerance) return setWandPreview((p) => p && { ...p, at: d.at });
    let step = 1;
    while (step * 2 * viewRef.current.scale <= 1) step *= 2;
    const c = d.wand.crop(d.tolerance, 1, step);
    d.shown = d.tolerance;
    setWandPreview({ tolerance: d.tolerance, area: d.wand.area(d.tolerance), sprite: cellSprite(c.grid, c.W - 2, c.H - 2, c.x0, c.y0, step, LIVE_MASK_RGB), at: d.at });
  };

  const commitWand = (d: WandDrag) => {
    const n = d.wand.area(d.tolerance);
    if (n * viewRef.current.scale ** 2 < WAND_TINY_SCREEN_PX) {
      onMessage(`The wand took only ${n} pixel${n === 1 ? '' : 's'} (tolerance ${d.tolerance}): press and drag away from the spot to raise the tolerance, or press }`);
    }
    const rle = d.wand.rle(d.tolerance);
    if (d.extend && selectedAnn && !locked.has(selectedAnn.id)) {
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

  /** The vertex nearest to p within VERTEX_HIT_PX on screen, over every ring. */
  const nearestVertex = (p: Pt, polys: Polygon[]) => {
    let best: { ring: RingRef; index: number } | null = null, bd = VERTEX_HIT_PX;
    for (const r of ringsOf(polys)) {
      for (let i = 0; i < r.pts.length; i += 2) {
        const d = screenDist(p, { x: r.pts[i]!, y: r.pts[i + 1]! });
        if (d <= bd) (bd = d), (best = { ring: { part: r.part, hole: r.hole }, index: i / 2 });
      }
    }
    return best;
  };
  /** An edge within EDGE_HIT_PX of p: its ring and the index of its first vertex. */
  const nearestEdge = (p: Pt, polys: Polygon[]) => {
    for (const r of ringsOf(polys)) {
      const pts = r.pts, n = pts.length / 2;
      for (let i = 0; i < n; i++) {
        const a = { x: pts[2 * i]!, y: pts[2 * i + 1]! }, b = { x: pts[(2 * i + 2) % (2 * n)]!, y: pts[(2 * i + 3) % (2 * n)]! };
        const dx = b.x - a.x, dy = b.y - a.y, l2 = dx * dx + dy * dy;
        const t = l2 ? Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / l2)) : 0;
        if (screenDist(p, { x: a.x + t * dx, y: a.y + t * dy }) <= EDGE_HIT_PX) return { ring: { part: r.part, hole: r.hole }, index: i };
      }
    }
    return null;
  };

  /** The topmost box or point at p (a point or a box's edge within SHAPE_HIT_PX; `inside`: anywhere in a box too). */
  const shapeAt = (p: Pt, inside: boolean, kind?: 'box' | 'point') => {
    for (let i = shapeAnns.length - 1; i >= 0; i--) {
      const a = shapeAnns[i]!;
      if (locked.has(a.id) || (kind && a.shape !== kind)) continue;
      const [x, y, w, h] = a.bbox;
      if (a.shape === 'point') {
        if (screenDist(p, { x, y }) <= SHAPE_HIT_PX) return a;
        continue;
      }
      const inBox = p.x >= x && p.x <= x + w && p.y >= y && p.y <= y + h;
      const dx = Math.max(x - p.x, 0, p.x - x - w), dy = Math.max(y - p.y, 0, p.y - y - h);
      const edge = Math.min(Math.abs(p.x - x), Math.abs(p.x - x - w), Math.abs(p.y - y), Math.abs(p.y - y - h));
      const near = (inBox ? edge : Math.hypot(dx, dy)) * viewRef.current.scale <= SHAPE_HIT_PX;
      if (near || (inside && inBox)) return a;
    }
    return undefined;
  };
  /** The corner of the box within SHAPE_HIT_PX of p (0 top left, clockwise), or -1. */
  const cornerAt = (p: Pt, [x, y, w, h]: BBox) =>
    [{ x, y }, { x: x + w, y }, { x: x + w, y: y + h }, { x, y: y + h }].findIndex((c) => screenDist(p, c) <= SHAPE_HIT_PX);
  /** p on the nearest pixel corner within the image. */
  const corner = (p: Pt): Pt => ({ x: Math.min(W, Math.max(0, Math.round(p.x))), y: Math.min(H, Math.max(0, Math.round(p.y))) });
  const boxOf = (a: Pt, b: Pt): BBox => [Math.min(a.x, b.x), Math.min(a.y, b.y), Math.abs(a.x - b.x), Math.abs(a.y - b.y)];

  /** Where the shape drag puts its box or point for the pointer at p. */
  const draggedShape = (d: Extract<Drag, { kind: 'shape' }>, p: Pt): BBox => {
    const [x, y, w, h] = d.from;
    if (d.mode === 'draw') return boxOf(d.start, corner(p));
    if (d.mode === 'resize') {
      const fixed = [{ x: x + w, y: y + h }, { x, y: y + h }, { x, y }, { x: x + w, y }][d.corner]!;
      return boxOf(fixed, corner(p));
    }
    // Moved by whole pixels, kept on the image.
    const dx = Math.min(W - x - w, Math.max(-x, Math.round(p.x - d.start.x)));
    const dy = Math.min(H - y - h, Math.max(-y, Math.round(p.y - d.start.y)));
    return [x + dx, y + dy, w, h];
  };

  const pressShape = (e: React.PointerEvent, p: Pt) => {
    const kind = tool === 'point' ? 'point' : 'box';
    const sel = single !== null ? editor.annotations.find((a) => a.id === single && a.shape === 'box' && !locked.has(a.id)) : undefined;
    const c = kind === 'box' && sel ? cornerAt(p, sel.bbox) : -1;
    const hit = c >= 0 ? sel : shapeAt(p, kind === 'box', kind);
    if (hit) {
      onSelect([hit.id]);
      drag.current = { kind: 'shape', id: hit.id, mode: c >= 0 ? 'resize' : 'move', corner: c, from: hit.bbox, start: p, moved: false };
    } else if (kind === 'point') {
      if (p.x < 0 || p.y < 0 || p.x >= W || p.y >= H) return;
      // A point sits at its pixel's centre, as the click tool's markers.
      const shape = { kind: 'point' as const, x: Math.floor(p.x) + 0.5, y: Math.floor(p.y) + 0.5 };
      void editor.addShape(shape, currentCategory).then((a) => a && onSelect([a.id]));
      return;
    } else {
      const q = corner(p);
      drag.current = { kind: 'shape', id: null, mode: 'draw', corner: -1, from: [q.x, q.y, 0, 0], start: q, moved: false };
    }
    box.current!.setPointerCapture(e.pointerId);
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
      // A + press is a click when released where it began, a box when dragged (see onPointerUp).
      if (positive) {
        drag.current = { kind: 'clickBox', start: p, sx: e.clientX, sy: e.clientY, box: null };
        box.current!.setPointerCapture(e.pointerId);
        return;
      }
      click.add({ x: Math.floor(p.x), y: Math.floor(p.y), positive });
      return;
    }
    if (e.button !== 0) return;
    switch (tool) {
      case 'box':
      case 'point':
        return pressShape(e, p);
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
        drag.current = { kind: 'stroke', points: [q], extend: e.shiftKey };
        setStroke([q]);
        box.current!.setPointerCapture(e.pointerId);
        return;
      }
      case 'wand': {
        if (p.x < 0 || p.y < 0 || p.x >= W || p.y >= H) return;
        const d: WandDrag = {
          kind: 'wand',
          wand: wandAt(Math.floor(p.x), Math.floor(p.y)),
          sx: e.clientX,
          sy: e.clientY,
          base: tolerance,
          tolerance,
          shown: -1,
          extend: e.shiftKey,
          at: { x: e.clientX - r.left, y: e.clientY - r.top },
        };
        drag.current = d;
        showWand(d);
        box.current!.setPointerCapture(e.pointerId);
        return;
      }
      case 'select': {
        if (handles && single !== null) {
          const v = nearestVertex(p, handles);
          if (v && e.altKey) {
            const pts = ringOf(handles, v.ring);
            if (pts.length / 2 <= 3) return onMessage('A ring keeps at least 3 vertices');
            const next = withRing(handles, v.ring, pts.filter((_, i) => i >> 1 !== v.index));
            setRings(next);
            return commitRings(single, next);
          }
          if (v) {
            setRings(handles);
            drag.current = { kind: 'vertex', ring: v.ring, index: v.index, moved: false };
            box.current!.setPointerCapture(e.pointerId);
            return;
          }
          const edge = nearestEdge(p, handles);
          if (edge) {
            const q = snapToCorner(p, W, H), pts = ringOf(handles, edge.ring), at = 2 * edge.index + 2;
            setRings(withRing(handles, edge.ring, [...pts.slice(0, at), q.x, q.y, ...pts.slice(at)]));
            drag.current = { kind: 'vertex', ring: edge.ring, index: edge.index + 1, moved: true };
            box.current!.setPointerCapture(e.pointerId);
            return;
          }
        }
        // A box's edge or a point is picked before the masks under it.
        const hit = shapeAt(p, false)?.id ?? scene.hitTest(p.x, p.y, (id) => locked.has(id));
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
    if (d?.kind === 'wand') {
      const r = box.current!.getBoundingClientRect();
      d.at = { x: e.clientX - r.left, y: e.clientY - r.top };
      d.tolerance = Math.min(255, d.base + Math.round(Math.hypot(e.clientX - d.sx, e.clientY - d.sy) / WAND_PX_PER_STEP));
      // One fill per frame at most, however fast the pointer moves.
      wandFrame.current ??= requestAnimationFrame(() => {
        wandFrame.current = null;
        if (drag.current === d) showWand(d);
      });
      return;
    }
    if (d?.kind === 'shape') {
      const next = draggedShape(d, p);
      d.moved ||= next.some((v, i) => v !== d.from[i]);
      setShapeDraft({ id: d.id, bbox: next });
      return;
    }
    if (d?.kind === 'clickBox') {
      if (d.box || Math.hypot(e.clientX - d.sx, e.clientY - d.sy) > CLICK_BOX_PX) {
        d.box = boxOf(corner(d.start), corner(p));
        setClickBox(d.box);
      }
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
    if (d?.kind === 'vertex' && rings) {
      const q = snapToCorner(p, W, H);
      const pts = ringOf(rings, d.ring);
      if (pts[2 * d.index] !== q.x || pts[2 * d.index + 1] !== q.y) {
        const next = pts.slice();
        next[2 * d.index] = q.x;
        next[2 * d.index + 1] = q.y;
        d.moved = true;
        setRings(withRing(rings, d.ring, next));
      }
      return;
    }
    if (tool === 'polygon' || tool === 'brush' || tool === 'eraser') setCursor(tool === 'polygon' ? snapToCorner(p, W, H) : snapToPixelCentre(p));
    if (tool === 'click' && !d) click.hoverAt(inside ? { x: Math.floor(p.x), y: Math.floor(p.y), positive: !e.altKey && !e.shiftKey } : null);
    const h = scene.hitTest(p.x, p.y, (id) => locked.has(id));
    if (h !== hover) setHover(h);
  };

  const onPointerUp = (e: React.PointerEvent) => {
    const d = drag.current;
    drag.current = null;
    if (box.current!.hasPointerCapture(e.pointerId)) box.current!.releasePointerCapture(e.pointerId);
    if (d?.kind === 'stroke') {
      setStroke(null);
      finishStroke(d.points, d.extend);
    } else if (d?.kind === 'vertex' && d.moved && rings && single !== null) {
      commitRings(single, rings);
    } else if (d?.kind === 'wand') {
      setWandPreview(null);
      commitWand(d);
    } else if (d?.kind === 'shape') {
      setShapeDraft(null);
      finishShape(d, toImage(e));
    } else if (d?.kind === 'clickBox') {
      setClickBox(null);
      if (!d.box) click.add({ x: Math.floor(d.start.x), y: Math.floor(d.start.y), positive: true });
      else if (d.box[2] > 0 && d.box[3] > 0) click.setBox(d.box);
    }
  };

  const finishShape = (d: Extract<Drag, { kind: 'shape' }>, p: Pt) => {
    if (!d.moved) return;
    const [x, y, w, h] = draggedShape(d, p);
    if (d.id === null) {
      if (w < 1 || h < 1) return onMessage('A box needs at least one pixel each way: drag further');
      void editor.addShape({ kind: 'box', bbox: [x, y, w, h] }, currentCategory).then((a) => a && onSelect([a.id]));
      return;
    }
    const a = editor.annotations.find((q) => q.id === d.id);
    if (a?.shape === 'point') void editor.setShape(d.id, { kind: 'point', x: Math.min(W, Math.max(0, x)), y: Math.min(H, Math.max(0, y)) }, 'move point');
    else if (w < 1 || h < 1) onMessage('A box needs at least one pixel each way');
    else void editor.setShape(d.id, { kind: 'box', bbox: [x, y, w, h] }, d.mode === 'resize' ? 'resize box' : 'move box');
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
  const handleCount = handles ? ringsOf(handles).reduce((n, r) => n + r.pts.length / 2, 0) : 0;

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
      data-click-box={click.box ? click.box.join(',') : ''}
      data-click-points={click.points.length}
      data-click-status={click.status}
      data-click-area={click.mask ? click.area : ''}
      data-hover-area={click.hover ? click.hover.area : ''}
      data-hover-status={click.hoverStatus}
      data-live-area={running ? area(running) : ''}
      data-draft={draft.length}
      data-handles={handles && single !== null ? handleCount : ''}
      data-wand-tolerance={wandPreview?.tolerance ?? ''}
      data-wand-area={wandPreview?.area ?? ''}
      style={{ cursor: cursorStyle }}
      onPointerDown={onPointerDown}
      onPointerMove={onPointerMove}
      onPointerUp={onPointerUp}
      onPointerLeave={() => {
        setLive({ cursor: null });
        click.hoverAt(null);
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
            ringsOf(o.polys).map((r, i) => (
              <Line key={`${o.id}-${i}`} points={r.pts} closed stroke="#ffffff" strokeWidth={1.5} strokeScaleEnabled={false} dash={[5, 4]} listening={false} perfectDrawEnabled={false} />
            )),
          )}
          {handles &&
            single !== null &&
            ringsOf(handles).map((r) => (
              <Group key={`${r.part}:${r.hole}`} listening={false}>
                {rings && <Line points={r.pts} closed stroke="#4f8cff" strokeWidth={2} strokeScaleEnabled={false} listening={false} />}
                {Array.from({ length: r.pts.length / 2 }, (_, i) => (
                  <Circle key={i} x={r.pts[2 * i]} y={r.pts[2 * i + 1]} radius={4 * inv} fill="#ffffff" stroke="#4f8cff" strokeWidth={1.5} strokeScaleEnabled={false} listening={false} perfectDrawEnabled={false} />
                ))}
              </Group>
            ))}
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
          {[hoverLive, live, wandLive].map(
            (l, k) =>
              l && (
                <Group key={k} listening={false}>
                  <Shape sceneFunc={l.draw} listening={false} perfectDrawEnabled={false} />
                  {l.rings.map((r, i) => (
                    <Line key={i} points={r} closed stroke={LIVE_MASK_COLOR} strokeWidth={2} strokeScaleEnabled={false} dash={[6, 4]} listening={false} perfectDrawEnabled={false} />
                  ))}
                </Group>
              ),
          )}
          {shapeAnns.map((a) => {
            const g = shapeDraft && shapeDraft.id === a.id ? shapeDraft.bbox : a.bbox;
            const color = colorOf(a), on = selected.includes(a.id) || hover === a.id;
            return a.shape === 'point' ? (
              <Circle key={`shape-${a.id}`} x={g[0]} y={g[1]} radius={(on ? 6 : 5) * inv} fill={color} stroke={on ? '#ffffff' : '#111'} strokeWidth={on ? 2 : 1} strokeScaleEnabled={false} listening={false} />
            ) : (
              <Group key={`shape-${a.id}`} listening={false}>
                <Rect x={g[0]} y={g[1]} width={g[2]} height={g[3]} stroke={color} strokeWidth={on ? 3 : 2} strokeScaleEnabled={false} listening={false} />
                {selected.includes(a.id) && (
                  <>
                    <Rect x={g[0]} y={g[1]} width={g[2]} height={g[3]} stroke="#ffffff" strokeWidth={1} dash={[5, 4]} strokeScaleEnabled={false} listening={false} />
                    {[[g[0], g[1]], [g[0] + g[2], g[1]], [g[0] + g[2], g[1] + g[3]], [g[0], g[1] + g[3]]].map(([cx, cy], i) => (
                      <Rect key={i} x={cx! - 4 * inv} y={cy! - 4 * inv} width={8 * inv} height={8 * inv} fill="#ffffff" stroke={color} strokeWidth={1.5} strokeScaleEnabled={false} listening={false} />
                    ))}
                  </>
                )}
              </Group>
            );
          })}
          {shapeDraft && shapeDraft.id === null && (
            <Rect x={shapeDraft.bbox[0]} y={shapeDraft.bbox[1]} width={shapeDraft.bbox[2]} height={shapeDraft.bbox[3]} stroke={strokeColor} strokeWidth={2} dash={[6, 4]} strokeScaleEnabled={false} listening={false} />
          )}
          {(clickBox ?? click.box) && (
            <Rect x={(clickBox ?? click.box)![0]} y={(clickBox ?? click.box)![1]} width={(clickBox ?? click.box)![2]} height={(clickBox ?? click.box)![3]} stroke={LIVE_MASK_COLOR} strokeWidth={2} dash={[6, 4]} strokeScaleEnabled={false} listening={false} />
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
      {wandPreview && (
        <div className="wand-readout" style={{ left: Math.min(wandPreview.at.x + 16, size.w - 220), top: Math.min(wandPreview.at.y + 16, size.h - 32) }} data-testid="wand-readout">
          {`Tol. ${wandPreview.tolerance} · ${wandPreview.area.toLocaleString()} px (${((100 * wandPreview.area) / (W * H)).toFixed(1)} %)`}
        </div>
      )}
      {tool === 'click' && click.status !== 'idle' && (
        <div className="click-busy" role="status" data-testid="click-busy">
          <span className="spinner" />
          {click.status === 'preparing' ? 'Running the model on the image… (the first click on an image takes a few seconds)' : 'Segmenting…'}
        </div>
      )}
    </div>
  );
});

/** Every ring of the polygons, outer rings first within each polygon. */
function ringsOf(polys: readonly Polygon[]): (RingRef & { pts: number[] })[] {
  return polys.flatMap((p, part) => [{ part, hole: -1, pts: p.outer }, ...p.holes.map((pts, hole) => ({ part, hole, pts }))]);
}

function ringOf(polys: readonly Polygon[], r: RingRef): number[] {
  const p = polys[r.part]!;
  return r.hole < 0 ? p.outer : p.holes[r.hole]!;
}

/** The polygons with one ring replaced. */
function withRing(polys: readonly Polygon[], r: RingRef, pts: number[]): Polygon[] {
  return polys.map((p, i) => (i !== r.part ? p : r.hole < 0 ? { outer: pts, holes: p.holes } : { outer: p.outer, holes: p.holes.map((h, j) => (j === r.hole ? pts : h)) }));
}

/**
 * A live mask's overlay: a tinted bitmap of its bbox at 1/step (the scene's overview step: exact up to 2048 px, a
 * cell per step×step block beyond) and its outline, exact too up to 2048 px and traced at 1/(2·step) beyond. On a
 * 24 MP image the exact bitmap and outline cost the renderer over a second per answer; the mask accepted is the back
 * end's exact one whatever is drawn.
 */
function liveOverlay(m: Rle | null, W: number, H: number, step: number): { draw: (ctx: Konva.Context) => void; rings: number[][] } | null {
  if (!m || m.w !== W || m.h !== H) return null;
  const box = rleBbox(m);
  const c = maskCells(m, box, step);
  if (!c) return null;
  const sp = cellSprite(c.cells, c.cw, c.ch, c.x0, c.y0, step, LIVE_MASK_RGB);
  return { draw: spriteDraw(sp), rings: cellOutline(step === 1 ? c : maskCells(m, box, 2 * step)!, step === 1 ? 1 : 2 * step, W, H) };
}

/** The outline of mask cells (traced as a mask of (cw + 2)×(ch + 2) cells, border included), in image pixels. */
function cellOutline(c: MaskCells, step: number, W: number, H: number): number[][] {
  const cells = encodeCrop({ grid: c.cells, W: c.cw + 2, H: c.ch + 2, x0: 0, y0: 0, pad: 0 }, c.ch + 2, c.cw + 2);
  const toImage = (v: number, i: number) => (i & 1 ? Math.min(H, c.y0 + (v - 1) * step) : Math.min(W, c.x0 + (v - 1) * step));
  return maskToPolygons(cells).flatMap((p) => [p.outer, ...p.holes]).map((r) => r.map(toImage));
}

/** A Konva scene function drawing the sprite in image coordinates (at `alpha`), its cells as blocks. */
function spriteDraw(sp: Sprite, alpha = 1): (ctx: Konva.Context) => void {
  return (ctx) => {
    const c = (ctx as unknown as { _context: CanvasRenderingContext2D })._context;
    c.imageSmoothingEnabled = false;
    c.globalAlpha = alpha;
    drawSprite(c, sp, DEFAULT_MASK_STYLE); // live previews keep their look whatever the masks' display
  };
}

function isTyping(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  return !!t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
}
