// The text prompt of pipelines that segment what a text names (Peekaboo): the prompts a pipeline's runs were given
// (prompts.list, asked again when a run ends), and the live mask an iterative run sends with its progress, shown on
// the canvas of the image it works on until its job ends.
import { useEffect } from 'react';
import type { Prompt } from '../../../../shared/contract';
import { fromCompressedString, type Rle } from '../../../../shared/masks';
import { client } from '../../client';
import { store } from '../pipelines';

export type TextPrompt = Extract<Prompt, { kind: 'text' }>;
export interface RecentPrompt {
  prompt: TextPrompt;
  usedAt: number;
  runs: number;
}

const live = store<{ jobId: string; imageId: number; mask: Rle } | null>(null);
const recent = store<{ pipeline: string; items: RecentPrompt[] } | null>(null);
let following = false;

function follow(): void {
  if (following) return;
  following = true;
  client.on('job.progress', (e) => {
    if (!e.preview) return;
    const [h, w] = e.preview.mask.size;
    live.set({ jobId: e.jobId, imageId: e.preview.imageId, mask: fromCompressedString(e.preview.mask.counts, h, w) });
  });
  // The proposal replaces the live mask once the job ends (or nothing does: cancelled).
  client.on('job.finished', (j) => live.get()?.jobId === j.id && live.set(null));
}

/** The live mask of a run on this image, while its job runs (null: none). */
export function useLiveMask(imageId: number): Rle | null {
  useEffect(follow, []);
  const l = live.use();
  return l && l.imageId === imageId ? l.mask : null;
}

export function loadRecentPrompts(pipeline: string): Promise<void> {
  return client.call('prompts.list', { pipeline }).then((items) =>
    recent.set({ pipeline, items: items.filter((x): x is RecentPrompt => x.prompt.kind === 'text') }),
  );
}

/** The text prompts `pipeline`'s runs were given, the last used first (null until the first answer). */
export function useRecentPrompts(pipeline: string): RecentPrompt[] | null {
  useEffect(() => {
    void loadRecentPrompts(pipeline).catch(() => {}); // no project yet: asked again after the next run
  }, [pipeline]);
  const r = recent.use();
  return r?.pipeline === pipeline ? r.items : null;
}
