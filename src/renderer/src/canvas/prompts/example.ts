// The example prompt of pipelines that segment from an example: the project's masks marked "use as example"
// (examples.list, asked again whenever examples, masks or categories change: deleting a mask deletes its examples)
// and the one the labeler picked, shared by the side panel's mask list (U: use as example) and the pipeline panel.
import { useEffect } from 'react';
import type { Example, Prompt } from '../../../../shared/contract';
import { client } from '../../client';
import { store } from '../pipelines';

const list = store<Example[] | null>(null);
const chosen = store<number | null>(null);
let following = false;

function load(): Promise<void> {
  return client.call('examples.list', {}).then(list.set);
}

/** Every example, oldest first (null until the first answer); followed for the life of the page. */
export function useExamples(): Example[] | null {
  useEffect(() => {
    if (following) return;
    following = true;
    // No project open yet: the list comes with the project's 'project' change.
    const reload = () => void load().catch(() => {});
    client.on('project.changed', (e) => e.what !== 'images' && reload());
    reload();
  }, []);
  return list.use();
}

/** The example the pipeline panel finds from: the one picked, else the newest; null when there is none. */
export function useChosenExample(): Example | null {
  const all = useExamples();
  const id = chosen.use();
  return all?.find((e) => e.id === id) ?? all?.at(-1) ?? null;
}

export function chooseExample(id: number): void {
  chosen.set(id);
}

/** Marks a mask as an example (a mask that is one already stays one) and picks it. */
export async function markAsExample(annotationId: number): Promise<Example> {
  const e = await client.call('examples.add', { annotationId });
  await load();
  chosen.set(e.id);
  return e;
}

export async function deleteExample(id: number): Promise<void> {
  await client.call('examples.delete', { id });
  await load();
}

export const examplePrompt = (e: Example): Prompt => ({ kind: 'example', annotationId: e.annotationId });
