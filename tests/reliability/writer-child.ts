// Child process of two-writers.test.ts: one of several processes editing the same project at once. Each edit is
// an undoable step that reads before it writes (as the app's edits do); prints a JSON summary of what failed.
import { ProjectStore, StoreError } from '../../src/core/project';

const [folder, countArg, tag] = process.argv.slice(2);
const edits = Number(countArg);
const store = ProjectStore.open(folder!);
const images = store.listImages();
const errors: string[] = [];
let added = 0;
for (let i = 0; i < edits; i++) {
  const img = images[i % images.length]!;
  try {
    const mine = store.listAnnotations({ imageId: img.id }).filter((a) => a.source === tag);
    if (mine.length > 0 && i % 3 === 0) {
      store.edit(img.id, 'move', [{ kind: 'update', id: mine[0]!.id, patch: { score: i } }]);
    } else {
      store.edit(img.id, 'add', [{ kind: 'add', input: { categoryId: null, rle: '0' + String.fromCharCode(48 + (i % 60)), width: img.width, height: img.height, area: 1, bbox: [0, 0, 1, 1], source: tag! } }]);
      added++;
    }
  } catch (e) {
    errors.push(e instanceof StoreError ? `${e.code}: ${e.message}` : String(e));
  }
}
store.close();
process.stdout.write(JSON.stringify({ added, errors }) + '\n');
