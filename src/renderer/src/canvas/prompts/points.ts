// The click-segment tool, the prompt tool of pipelines that take points: the + / − points on the open image, the
// live mask the back end answers for them (`pipelines.preview`; not an annotation yet), and whether a request runs.
// Every change of the points asks with all of them; answers to superseded requests are dropped. The first click on
// an image may run the model (seconds); later ones reuse what the back end cached. Once the image has answered, the
// pointer's hover asks what a click there would give (`cachedOnly`: never a model run), one request at a time.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ClickPoint, PipelineInfo } from '../../../../shared/contract';
import { fromCocoRle, type Rle } from '../../../../shared/masks';
import { pipelineCalls, store, useModel, useSettings } from '../pipelines';
import type { PromptTool } from './index';

const HOVER_KEY = 'difflabel.hoverPreview';
/** The labeler's choice to see the hover preview (on unless turned off), kept in localStorage. */
export const hoverPreview = store(localStorage.getItem(HOVER_KEY) !== 'off');
export function setHoverPreview(on: boolean): void {
  localStorage.setItem(HOVER_KEY, on ? 'on' : 'off');
  hoverPreview.set(on);
}

/** 'preparing': the first click on an image, while the model runs on it. */
export type ClickStatus = 'idle' | 'preparing' | 'working';

export interface ClickSegment {
  points: ClickPoint[];
  /** A box [x, y, w, h] the segment lies in (dragged with the tool), or null. */
  box: [number, number, number, number] | null;
  /** The live mask for the current points (null: none yet, or no points). */
  mask: Rle | null;
  area: number;
  status: ClickStatus;
  /** Time of the last answer and whether what the image needs came from the back end's cache. */
  last: { ms: number; cached: boolean } | null;
  /** performance.now() when the shown mask's answer arrived (what the canvas's cost of drawing it is measured from). */
  answeredAt: number;
  error: string | null;
  /** The mask a click at the pointer would give, with its area (null: none, or the preview is off). */
  hover: { mask: Rle; area: number } | null;
  hoverStatus: 'idle' | 'working';
  /** The pointer's pixel and the point a click there makes (null: off the image, or another tool). */
  hoverAt(p: ClickPoint | null): void;
  add(p: ClickPoint): void;
  setBox(box: [number, number, number, number]): void;
  removeLast(): boolean;
  /** Takes the last point back (Ctrl+Z); redo (Ctrl+Shift+Z) puts it back until a new point is placed. */
  undo(): boolean;
  redo(): boolean;
  clear(): boolean;
}

export const POINTS_TOOL = {
  kind: 'points',
  id: 'click',
  label: 'Click segment',
  key: 'C',
  hint: 'Click an object (+), or drag a box around it; right click or Alt/Shift+click excludes (−); Enter accepts, Esc clears, Backspace removes the last point',
} as const satisfies PromptTool;

/** The click tool's state for `pipeline` (null while the list loads: nothing is asked). */
export function useClickSegment(pipeline: PipelineInfo | null, imageId: number, onError: (msg: string) => void): ClickSegment {
  const [points, setPoints] = useState<ClickPoint[]>([]);
  const [box, setBoxState] = useState<ClickSegment['box']>(null);
  const [mask, setMask] = useState<Rle | null>(null);
  const [area, setArea] = useState(0);
  const [status, setStatus] = useState<ClickStatus>('idle');
  const [last, setLast] = useState<ClickSegment['last']>(null);
  const [answeredAt, setAnsweredAt] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [hover, setHover] = useState<ClickSegment['hover']>(null);
  const [hoverStatus, setHoverStatus] = useState<ClickSegment['hoverStatus']>('idle');
  const hoverOn = hoverPreview.use();
  const model = useModel(pipeline?.id ?? '');
  const params = useSettings(pipeline);
  const seq = useRef(0);
  // Images (per pipeline and model) the back end has answered for already: later clicks are fast.
  const warm = useRef(new Set<string>());
  const onErrorRef = useRef(onError);
  onErrorRef.current = onError;

  // A new image, pipeline, model or setting starts over.
  useEffect(() => {
    seq.current++;
    undone.current = [];
    setHover(null);
    setPoints([]);
    setBoxState(null);
    boxRef.current = null;
    setMask(null);
    setArea(0);
    setStatus('idle');
    setLast(null);
    setError(null);
  }, [imageId, pipeline, model, params]);

  // What the mask on screen answers (points and counts), for telling whether a − point changed it.
  const shown = useRef<{ points: ClickPoint[]; counts: string } | null>(null);
  // A request for the points runs: hovers wait (its answer comes first, and it may be running the model).
  const pending = useRef(false);
  const undone = useRef<ClickPoint[]>([]);
  const askHoverRef = useRef(() => {});

  /** Asks for the mask of `pts`; `unless`: the points before a − point, kept instead when the answer is the mask already shown. */
  const request = useCallback(
    (pts: ClickPoint[], within: ClickSegment['box'], unless?: { points: ClickPoint[]; counts: string }) => {
      const mine = ++seq.current;
      setHover(null);
      if ((!pts.length && !within) || !pipeline) {
        shown.current = null;
        pending.current = false;
        setMask(null);
        setArea(0);
        setStatus('idle');
        askHoverRef.current();
        return;
      }
      pending.current = true;
      const done = () => {
        pending.current = false;
        setStatus('idle');
        askHoverRef.current();
      };
      const key = `${pipeline.id}|${imageId}|${model}`;
      setStatus(warm.current.has(key) ? 'working' : 'preparing');
      setError(null);
      pipelineCalls.preview(pipeline, imageId, { kind: 'points', points: pts, ...(within ? { box: within } : {}) }).then(
        (r) => {
          warm.current.add(key);
          if (mine !== seq.current) return;
          if (unless && r.mask.counts === unless.counts) {
            pointsRef.current = unless.points;
            setPoints(unless.points);
            done();
            onErrorRef.current('That − point removes nothing from the mask: not placed');
            return;
          }
          shown.current = { points: pts, counts: r.mask.counts };
          setAnsweredAt(performance.now());
          setMask(fromCocoRle(r.mask));
          setArea(r.area);
          setLast({ ms: r.ms, cached: r.cached });
          done();
        },
        (e: Error) => {
          if (mine !== seq.current) return;
          done();
          setError(e.message);
          onErrorRef.current(e.message);
        },
      );
    },
    [imageId, pipeline, model, params],
  );

  const pointsRef = useRef(points);
  pointsRef.current = points;
  const boxRef = useRef(box);
  boxRef.current = box;
  const set = (next: ClickPoint[], within = boxRef.current, unless?: { points: ClickPoint[]; counts: string }) => {
    pointsRef.current = next;
    boxRef.current = within;
    setPoints(next);
    setBoxState(within);
    request(next, within, unless);
  };
  /** The last point, else the box (it goes after the points clicked into it); only points can be put back. */
  const takeBack = () => {
    const pts = pointsRef.current;
    if (pts.length) {
      undone.current.push(pts[pts.length - 1]!);
      set(pts.slice(0, -1));
      return true;
    }
    if (!boxRef.current) return false;
    set([], null);
    return true;
  };

  // Hover: one request in flight; the pointer's latest point is asked next, and an answer for a point the pointer has
  // left, or for points since changed, is not shown.
  const hoverWanted = useRef<ClickPoint | null>(null);
  const hoverBusy = useRef(false);
  const askHover = useCallback(() => {
    const at = hoverWanted.current;
    const key = pipeline && `${pipeline.id}|${imageId}|${model}`;
    if (hoverBusy.current || pending.current || !at || !pipeline || !key || !warm.current.has(key)) return;
    hoverBusy.current = true;
    setHoverStatus('working');
    const mine = seq.current;
    const within = boxRef.current;
    pipelineCalls.preview(pipeline, imageId, { kind: 'points', points: [...pointsRef.current, at], ...(within ? { box: within } : {}) }, true).then(
      (r) => {
        if (mine === seq.current && hoverWanted.current === at) setHover({ mask: fromCocoRle(r.mask), area: r.area });
      },
      // Refused (nothing cached any more, e.g. evicted) or failed: hovers wait until a click has answered again.
      () => warm.current.delete(key),
    ).finally(() => {
      hoverBusy.current = false;
      setHoverStatus('idle');
      if (hoverWanted.current !== at) askHover();
    });
  }, [imageId, pipeline, model]);
  askHoverRef.current = askHover;

  return {
    points,
    box,
    mask: points.length || box ? mask : null,
    area,
    status,
    last,
    answeredAt,
    error,
    hover: hoverOn ? hover : null,
    hoverStatus,
    hoverAt: (p) => {
      const w = hoverWanted.current;
      if (p && w && p.x === w.x && p.y === w.y && p.positive === w.positive) return;
      hoverWanted.current = hoverOn ? p : null;
      // The last answer stays until the next one replaces it (no flicker while the pointer moves).
      if (!p) setHover(null);
      askHover();
    },
    add: (p) => {
      undone.current = [];
      const s = shown.current;
      set([...pointsRef.current, p], boxRef.current, !p.positive && s && s.points === pointsRef.current ? s : undefined);
    },
    setBox: (b) => set(pointsRef.current, b),
    removeLast: takeBack,
    undo: takeBack,
    redo: () => {
      const p = undone.current.pop();
      if (!p) return false;
      set([...pointsRef.current, p]);
      return true;
    },
    clear: () => {
      if (!pointsRef.current.length && !boxRef.current && !error) return false;
      undone.current = [];
      setError(null);
      set([], null);
      return true;
    },
  };
}
