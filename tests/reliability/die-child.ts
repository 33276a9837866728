// Child of storage.test.ts: creates a project with one image and three masks, prints their ids, and dies by SIGKILL
// before anything is checkpointed, so the edits exist only in the WAL.
import { ProjectStore } from '../../src/core/project';
import { seedImages } from '../project/helpers';

const store = ProjectStore.open(process.argv[2]!);
const [imageId] = seedImages(store, [[64, 48]]);
const ids = [1, 2, 3].map((i) =>
  store.addAnnotation({ imageId: imageId!, categoryId: null, rle: '0'.repeat(40) + String(i), width: 64, height: 48, area: 1, bbox: [0, 0, 1, 1], source: 'x' }).id,
);
process.stdout.write(JSON.stringify(ids) + '\n', () => process.kill(process.pid, 'SIGKILL'));
