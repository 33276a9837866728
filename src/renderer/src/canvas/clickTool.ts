// The click-segment tool's state: the + / − points on the open image, the live mask the back end answers for
// them (not an annotation yet), and whether a request is running. Every change of the points asks
// `diffseg.click` with all of them; answers to superseded requests are dropped. The first click on an image
// computes the diffusion model's attention (seconds); later ones reuse the back end's cache.
import { useCallback, useEffect, useRef, useState } from 'react';
import { fromCocoRle, type Rle } from '../../../shared/masks';
import { diffseg, useDiffSegParams, type ClickPoint } from './diffseg';

export type ClickStatus = 'idle' | 'attention' | 'working';

export interface ClickSegment {
  points: ClickPoint[];
  /** The live mask for the current points (null: none yet, or no points). */
  mask: Rle | null;
  area: number;
  status: ClickStatus;
  /** Time of the last answer and whether it came from the attention cache. */
  last: { ms: number; cached: boolean } | null;
  error: string | null;
  add(p: ClickPoint): void;
  removeLast(): boolean;
  clear(): boolean;
}

export function useClickSegment(imageId: number, model: string, onError: (msg: string) => void): ClickSegment {
  const [points, setPoints] = useState<ClickPoint[]>([]);
  const [mask, setMask] = useState<Rle | null>(null);
  const [area, setArea] = useState(0);
  const [status, setStatus] = useState<ClickStatus>('idle');
  const [last, setLast] = useState<ClickSegment['last']>(null);
  const [error, setError] = useState<string | null>(null);
  const params = useDiffSegParams();
  const seq = useRef(0);
  // Images (per model) whose attention the back end has already answered from: later clicks are fast.
  const warm = useRef(new Set<string>());
  const onErrorRef = useRef(onError);
  onErrorRef.current = onError;

  // A new image, model or setting starts over.
  useEffect(() => {
    seq.current++;
    setPoints([]);
    setMask(null);
    setArea(0);
    setStatus('idle');
    setLast(null);
    setError(null);
  }, [imageId, model, params]);

  const request = useCallback(
    (pts: ClickPoint[]) => {
      const mine = ++seq.current;
      if (!pts.length) {
        setMask(null);
        setArea(0);
        setStatus('idle');
        return;
      }
      const key = `${imageId}|${model}`;
      setStatus(warm.current.has(key) ? 'working' : 'attention');
      setError(null);
      diffseg.click(imageId, pts, model).then(
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
    [imageId, model, params],
  );

  const pointsRef = useRef(points);
  pointsRef.current = points;
  const set = (next: ClickPoint[]) => {
    pointsRef.current = next;
    setPoints(next);
    request(next);
  };

  return {
    points,
    mask: points.length ? mask : null,
    area,
    status,
    last,
    error,
    add: (p) => set([...pointsRef.current, p]),
    removeLast: () => {
      if (!pointsRef.current.length) return false;
      set(pointsRef.current.slice(0, -1));
      return true;
    },
    clear: () => {
      if (!pointsRef.current.length && !error) return false;
      setError(null);
      set([]);
      return true;
    },
  };
}
