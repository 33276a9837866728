// Child process of crash.test.ts: performs random edits on a project and, around each store call, writes
// `I <intent>` before and `A <result>` after the call returned. The parent SIGKILLs it at a random point.
import { writeSync } from 'node:fs';
import { ProjectStore, type AnnotationInput, type BBox } from '../../src/core/project';
import { seedImages } from './helpers';

const [folder, seedArg, countArg] = process.argv.slice(2);
if (!folder) throw new Error('usage: crash-child.ts FOLDER SEED [EDITS]');
let seed = Number(seedArg ?? 1) >>> 0;
const edits = Number(countArg ?? 1000);

// mulberry32: a small seeded generator so a failing run can be replayed.
function rand(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let x = seed;
  x = Math.imul(x ^ (x >>> 15), x | 1);
  x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
}
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
/**
 * Writes the whole line to stdout before returning: stdout is a non-blocking pipe, so when the parent reads slowly (a
 * loaded machine) a write can fail with EAGAIN or take only part of the line; wait a moment and go on.
 */
function say(tag: 'I' | 'A', v: unknown): void {
  const line = Buffer.from(`${tag} ${JSON.stringify(v)}\n`);
  for (let off = 0; off < line.length; ) {
    try {
      off += writeSync(1, line, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

const store = ProjectStore.open(folder);
// A fresh folder: the project is created here and never closed before the kill (its data is still in the WAL).
if (store.listImages().length === 0) seedImages(store, [[640, 480], [33, 17], [1, 1], [4000, 3000]]);
const images = store.listImages();

function randomMask(w: number, h: number): Pick<AnnotationInput, 'rle' | 'area' | 'bbox'> {
  const rle = Array.from({ length: 1 + int(30) }, () => String.fromCharCode(48 + int(64))).join('');
  const bw = rand() * w;
  const bh = rand() * h;
  const bbox: BBox = [rand() * (w - bw), rand() * (h - bh), bw, bh];
  return { rle, area: int(w * h + 1), bbox };
}

for (let i = 0; i < edits; i++) {
  const anns = store.listAnnotations().map((a) => a.id);
  const cats = store.listCategories().map((c) => c.id);
  const r = rand();
  if (r < 0.35 || (r < 0.7 && anns.length === 0)) {
    const img = pick(images);
    const input: AnnotationInput = {
      imageId: img.id, categoryId: cats.length && rand() < 0.8 ? pick(cats) : null, width: img.width, height: img.height,
      ...randomMask(img.width, img.height), iscrowd: rand() < 0.1 ? 1 : 0, source: pick(['manual', 'diffseg', 'import']),
      score: rand() < 0.5 ? rand() : null,
    };
    say('I', { op: 'addAnnotation', input });
    say('A', store.addAnnotation(input));
  } else if (r < 0.6) {
    const id = pick(anns);
    const img = store.getImage(store.getAnnotation(id)!.imageId)!;
    const patch = rand() < 0.5 ? randomMask(img.width, img.height) : { categoryId: cats.length ? pick(cats) : null, score: rand() };
    say('I', { op: 'updateAnnotation', id, patch });
    say('A', store.updateAnnotation(id, patch));
  } else if (r < 0.7) {
    const id = pick(anns);
    say('I', { op: 'deleteAnnotation', id });
    store.deleteAnnotation(id);
    say('A', { id });
  } else if (r < 0.82 || cats.length === 0) {
    const input = { name: `cat_${i}`, supercategory: pick(['', 'animal', 'thing']), isthing: rand() < 0.7 };
    say('I', { op: 'addCategory', input });
    say('A', store.addCategory(input));
  } else if (r < 0.92) {
    const id = pick(cats);
    const patch = { name: `cat_${i}_renamed`, color: `#${int(0x1000000).toString(16).padStart(6, '0')}` };
    say('I', { op: 'updateCategory', id, patch });
    say('A', store.updateCategory(id, patch));
  } else {
    const id = pick(cats);
    const affected = store.listAnnotations({ categoryId: id }).map((a) => a.id);
    say('I', { op: 'deleteCategory', id });
    store.deleteCategory(id);
    // The call is acknowledged with the rows it changed, read back after the commit.
    say('A', { id, annotations: affected.map((a) => store.getAnnotation(a)) });
  }
}
store.close();
say('A', { done: true });
