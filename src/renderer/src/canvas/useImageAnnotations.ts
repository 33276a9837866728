// The annotations of the open image and every edit on them. Each edit is one API call that makes it
// durable (autosave: there is no save button), run in order through one queue, so a fast sequence of
// strokes, an undo right after a stroke, or a reload never reorders or loses work.
import { useCallback, useEffect, useRef, useState } from 'react';
import { isProposal, type Annotation, type AttributeValue, type CocoRle, type EditResult, type HistoryState, type ShapeGeometry } from '../../../shared/contract';
import { area, fromCocoRle, fromCompressedString, subtract, toCocoRle, unionAll } from '../../../shared/masks';
import { client } from '../client';

export interface Editor {
  annotations: Annotation[];
  history: HistoryState | null;
  busy: boolean;
  error: string | null;
  clearError(): void;
  add(mask: CocoRle, categoryId: number | null, label: string, source?: string): Promise<Annotation | null>;
  /** An edit made by another method that answers the new annotation (e.g. accepting a pipeline's preview), in order. */
  /** Adds what `make` stores (a segmenter's accept), passing it the no-overlap flag and locked masks to send. */
  addFrom(make: (imageId: number, overlap: { exclusive?: true; locked?: number[] }) => Promise<Annotation>): Promise<Annotation | null>;
  /** Fetches the list again (after a job stored annotations on this image). */
  reload(): void;
  updateMask(id: number, mask: CocoRle & { counts: string }, label: string): Promise<void>;
  /** Resolves to the names of the attribute values the new category does not take (they are gone). */
  setCategory(id: number, categoryId: number | null): Promise<string[]>;
  setAttributes(id: number, values: Record<string, AttributeValue | null>): Promise<void>;
  /** Adds a box or a point. */
  addShape(shape: ShapeGeometry, categoryId: number | null): Promise<Annotation | null>;
  /** Moves or resizes a box, moves a point: shown at once, stored in order. */
  setShape(id: number, shape: ShapeGeometry, label: string): Promise<void>;
  remove(id: number): Promise<void>;
  /** Deletes several masks as one undo step. */
  removeMany(ids: number[], label: string): Promise<void>;
  merge(ids: number[]): Promise<EditResult | null>;
  split(id: number): Promise<EditResult | null>;
  undo(): Promise<void>;
  redo(): Promise<void>;
}

/** Values after setting `values` (null: back to the default, i.e. no value). */
function withValues(cur: Record<string, AttributeValue>, values: Record<string, AttributeValue | null>): Record<string, AttributeValue> {
  const next = { ...cur };
  for (const [k, v] of Object.entries(values)) {
    if (v === null) delete next[k];
    else next[k] = v;
  }
  return next;
}

/**
 * `noOverlap`: new and edited masks take their pixels from the image's other masks, in the same undo step; the
 * `locked` masks keep theirs (the new mask leaves them out).
 */
export function useImageAnnotations(imageId: number | null, noOverlap: { locked: ReadonlySet<number> } | null = null): Editor {
  const [annotations, setAnnotations] = useState<Annotation[]>([]);
  const [history, setHistory] = useState<HistoryState | null>(null);
  const [pending, setPending] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const queue = useRef<Promise<unknown>>(Promise.resolve());
  // Bumped by every local edit: a list fetched before an edit must not overwrite its result.
  const generation = useRef(0);
  const current = useRef(imageId);
  current.current = imageId;
  const pendingCount = useRef(0);
  /**
   * What an add or mask update of `self` sends: with no overlap, the mask less the locked masks and the flag that
   * takes its pixels from the others (which change too, so the list is fetched after).
   */
  const exclusiveArgs = (mask: CocoRle, self?: number): { mask: CocoRle; exclusive?: true } => {
    if (!noOverlap) return { mask };
    const locked = annotations.filter((a) => a.id !== self && a.shape === 'mask' && noOverlap.locked.has(a.id));
    if (!locked.length) return { mask, exclusive: true };
    const m = fromCocoRle(mask);
    const rest = subtract(m, unionAll(locked.map((a) => fromCompressedString(a.mask.counts, m.h, m.w))));
    if (area(rest) === 0) throw new Error('That mask lies under locked masks only: unlock one to draw over it');
    return { mask: toCocoRle(rest, true), exclusive: true };
  };
  /** What a merge or split sends with no overlap: the flag, and the image's locked masks, which keep their pixels. */
  const mergeArgs = (): { exclusive?: true; locked?: number[] } =>
    noOverlap ? { exclusive: true, locked: annotations.filter((a) => noOverlap.locked.has(a.id)).map((a) => a.id) } : {};
  /** `exclusiveArgs`, or null with the reason shown. */
  const sendable = (mask: CocoRle, self?: number) => {
    try {
      return exclusiveArgs(mask, self);
    } catch (e) {
      setError((e as Error).message);
      return null;
    }
  };
  const refetch = async (id: number) => {
    const list = await client.call('annotations.list', { imageId: id });
    if (current.current === id) setAnnotations(list);
  };

  const refreshHistory = useCallback((id: number) => {
    client.call('history.state', { imageId: id }).then(
      (h) => current.current === id && setHistory(h),
      () => current.current === id && setHistory(null),
    );
  }, []);

  const reload = useCallback(
    (id: number) => {
      const gen = generation.current;
      client.call('annotations.list', { imageId: id }).then(
        (list) => current.current === id && gen === generation.current && setAnnotations(list),
        (e: Error) => setError(e.message),
      );
      refreshHistory(id);
    },
    [refreshHistory],
  );

  useEffect(() => {
    setAnnotations([]);
    setHistory(null);
    if (imageId === null) return;
    reload(imageId);
    // Edits from elsewhere (another window, an import, a batch job) show up here too.
    return client.on('project.changed', (e) => {
      if ((e.what === 'annotations' && (e.imageId === undefined || e.imageId === imageId)) || e.what === 'project') {
        if (pendingCount.current === 0) reload(imageId);
      }
    });
  }, [imageId, reload]);

  /** Runs `fn` after every earlier edit; failures surface as a message and leave the list reloaded. */
  const enqueue = useCallback(
    <T,>(fn: (id: number) => Promise<T>): Promise<T | null> => {
      const id = current.current;
      if (id === null) return Promise.resolve(null);
      generation.current++;
      pendingCount.current++;
      setPending((n) => n + 1);
      const p = queue.current.then(() => fn(id));
      const settled = p.then(
        (v) => v,
        (e: Error) => {
          setError(e.message);
          reload(id);
          return null;
        },
      );
      queue.current = settled.finally(() => {
        pendingCount.current--;
        setPending((n) => n - 1);
        if (current.current === id) refreshHistory(id);
      });
      return settled;
    },
    [reload, refreshHistory],
  );

  const applyResult = useCallback((id: number, r: EditResult) => {
    if (current.current !== id) return;
    generation.current++;
    setAnnotations(r.annotations);
    setHistory(r.history);
  }, []);

  const replace = (a: Annotation) => setAnnotations((list) => list.map((x) => (x.id === a.id ? a : x)));

  return {
    annotations,
    history,
    busy: pending > 0,
    error,
    clearError: () => setError(null),
    add: (drawn, categoryId, label, source = 'manual') => {
      // Worked out now, not when the queue reaches it: the masks and locks as the labeler saw them.
      const extra = sendable(drawn);
      if (!extra) return Promise.resolve(null);
      return enqueue(async (imageId) => {
        const a = await client.call('annotations.add', { imageId, categoryId, source, label, ...extra });
        if (extra.exclusive) await refetch(imageId);
        else if (current.current === imageId) setAnnotations((list) => [...list.filter((x) => x.id !== a.id), a]);
        return a;
      });
    },
    addFrom: (make) => {
      const overlap = mergeArgs();
      return enqueue(async (imageId) => {
        const a = await make(imageId, overlap);
        if (overlap.exclusive) await refetch(imageId);
        else if (current.current === imageId) setAnnotations((list) => [...list.filter((x) => x.id !== a.id), a]);
        return a;
      });
    },
    reload: () => {
      if (current.current !== null && pendingCount.current === 0) reload(current.current);
    },
    updateMask: (id, mask, label) => {
      // Shown at once; the call that stores it follows in order.
      const extra = sendable(mask, id);
      if (!extra) return Promise.resolve();
      setAnnotations((list) => list.map((x) => (x.id === id ? { ...x, mask: { size: mask.size, counts: mask.counts } } : x)));
      return enqueue(async (imageId) => {
        const a = await client.call('annotations.update', { id, label, ...extra });
        if (extra.exclusive) await refetch(imageId);
        else replace(a);
      }).then(() => {});
    },
    setCategory: (id, categoryId) => {
      // Accepting a proposal with no overlap: it takes its pixels from the other masks, as a new mask would.
      const proposal = annotations.find((x) => x.id === id && isProposal(x));
      const extra: { mask?: CocoRle; exclusive?: true } | null = noOverlap && proposal && categoryId !== null ? sendable(proposal.mask, id) : {};
      if (!extra) return Promise.resolve([]);
      setAnnotations((list) => list.map((x) => (x.id === id ? { ...x, categoryId } : x)));
      return enqueue(async (imageId) => {
        const { droppedAttributes, ...a } = await client.call('annotations.update', { id, categoryId, label: 'category', ...extra });
        if (extra.exclusive) await refetch(imageId);
        else replace(a);
        return droppedAttributes;
      }).then((dropped) => dropped ?? []);
    },
    addShape: (shape, categoryId) =>
      enqueue(async (imageId) => {
        const a = await client.call('annotations.addShape', { imageId, categoryId, shape, label: `add ${shape.kind}` });
        if (current.current === imageId) setAnnotations((list) => [...list.filter((x) => x.id !== a.id), a]);
        return a;
      }),
    setShape: (id, shape, label) => {
      const bbox: Annotation['bbox'] = shape.kind === 'box' ? shape.bbox : [shape.x, shape.y, 0, 0];
      setAnnotations((list) => list.map((x) => (x.id === id ? { ...x, bbox } : x)));
      return enqueue(async () => replace(await client.call('annotations.setShape', { id, shape, label }))).then(() => {});
    },
    setAttributes: (id, values) => {
      setAnnotations((list) => list.map((x) => (x.id === id ? { ...x, attributes: withValues(x.attributes, values) } : x)));
      return enqueue(async () => replace(await client.call('annotations.setAttributes', { id, values, label: 'attributes' }))).then(() => {});
    },
    remove: (id) => {
      setAnnotations((list) => list.filter((x) => x.id !== id));
      return enqueue(() => client.call('annotations.delete', { id, label: 'delete' })).then(() => {});
    },
    removeMany: (ids, label) => {
      const gone = new Set(ids);
      setAnnotations((list) => list.filter((x) => !gone.has(x.id)));
      return enqueue(async (imageId) => applyResult(imageId, await client.call('annotations.deleteMany', { imageId, ids, label }))).then(() => {});
    },
    merge: (ids) => {
      const overlap = mergeArgs();
      return enqueue(async (imageId) => {
        const r = await client.call('annotations.merge', { ids, ...overlap });
        applyResult(imageId, r);
        return r;
      });
    },
    split: (id) => {
      const overlap = mergeArgs();
      return enqueue(async (imageId) => {
        const r = await client.call('annotations.split', { id, ...overlap });
        applyResult(imageId, r);
        return r;
      });
    },
    undo: () => enqueue(async (imageId) => applyResult(imageId, await client.call('history.undo', { imageId }))).then(() => {}),
    redo: () => enqueue(async (imageId) => applyResult(imageId, await client.call('history.redo', { imageId }))).then(() => {}),
  };
}
