// Shared set-up for the DiffSeg fixture tests: a temp project of generated scenes, indexed.
import { join } from 'node:path';
import { decode, fromCompressedString } from '../../../src/shared/masks';
import { ProjectStore, indexFolder, type Annotation } from '../../../src/core/project';
import { tempDir } from '../../helpers/folder';
import { makeScene, writeScene, type Scene } from './fixture-scenes';

export interface SceneProject {
  dir: string;
  store: ProjectStore;
  scenes: Map<number, Scene>;
  cleanup(): void;
}

export async function sceneProject(specs: Array<[w: number, h: number, shapes: number, seed: number]>): Promise<SceneProject> {
  const t = tempDir('difflabel-diffseg-');
  const byPath = new Map<string, Scene>();
  for (const [w, h, n, seed] of specs) {
    const scene = makeScene(w, h, n, seed);
    const rel = `scene_${seed}_${w}x${h}.png`;
    await writeScene(join(t.path, rel), scene);
    byPath.set(rel, scene);
  }
  const store = ProjectStore.open(t.path);
  await indexFolder(store);
  const scenes = new Map<number, Scene>();
  for (const img of store.listImages()) if (byPath.has(img.path)) scenes.set(img.id, byPath.get(img.path)!);
  return { dir: t.path, store, scenes, cleanup: () => (store.close(), t.cleanup()) };
}

/** Row-major 0/1 pixels of a stored annotation. */
export function annotationPixels(a: Pick<Annotation, 'rle' | 'height' | 'width'>): Uint8Array {
  return decode(fromCompressedString(a.rle, a.height, a.width));
}
