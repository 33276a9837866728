// The click-segment tool, the prompt tool of pipelines that take points: the + / − points on the open image, the
// live mask the back end answers for them (`pipelines.preview`; not an annotation yet), and whether a request runs.
// Every change of the points asks with all of them; answers to superseded requests are dropped. The first click on
// an image may run the model (seconds); later ones reuse what the back end cached.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ClickPoint, PipelineInfo } from '../../../../shared/contract';
import { fromCocoRle, type Rle } from '../../../../shared/masks';
import { pipelineCalls, useModel, useSettings } from '../pipelines';
import type { PromptTool } from './index';

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
  error: string | null;
  add(p: ClickPoint): void;
  setBox(box: [number, number, number, number]): void;
  removeLast(): boolean;
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
  const [error, setError] = useState<string | null>(null);
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
    setPoints([]);
    setBoxState(null);
    boxRef.current = null;
    setMask(null);
    setArea(0);
    setStatus('idle');
    setLast(null);
    setError(null);
  }, [imageId, pipeline, model, params]);

  const request = useCallback(
    (pts: ClickPoint[], within: ClickSegment['box']) => {
      const mine = ++seq.current;
      if ((!pts.length && !within) || !pipeline) {
        setMask(null);
        setArea(0);
        setStatus('idle');
        return;
      }
      const key = `${pipeline.id}|${imageId}|${model}`;
      setStatus(warm.current.has(key) ? 'working' : 'preparing');
      setError(null);
      pipelineCalls.preview(pipeline, imageId, { kind: 'points', points: pts, ...(within ? { box: within } : {}) }).then(
        (r) => {
          warm.current.add(key);
          if (mine !== seq.current) return;
          setMask(fromCocoRle(r.mask));
          setArea(r.area);
          setLast({ ms: r.ms, cached: r.cached });
          setStatus('idle');
        },
        (e: Error) => {
          if (mine !== seq.current) return;
          setStatus('idle');
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
  const set = (next: ClickPoint[], within = boxRef.current) => {
    pointsRef.current = next;
    boxRef.current = within;
    setPoints(next);
    setBoxState(within);
    request(next, within);
  };

  return {
    points,
    box,
    mask: points.length || box ? mask : null,
    area,
    status,
    last,
    error,
    add: (p) => set([...pointsRef.current, p]),
    setBox: (b) => set(pointsRef.current, b),
    removeLast: () => {
      // The box goes last, after the points clicked into it.
      if (!pointsRef.current.length && !boxRef.current) return false;
      set(pointsRef.current.slice(0, -1), pointsRef.current.length ? boxRef.current : null);
      return true;
    },
    clear: () => {
      if (!pointsRef.current.length && !boxRef.current && !error) return false;
      setError(null);
      set([], null);
      return true;
    },
  };
}
