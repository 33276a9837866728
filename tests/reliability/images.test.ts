// Bad image files in a folder: each is recorded with its reason (status 'error') while the rest of the folder
// indexes normally; a file that vanishes while the folder is being indexed is reported and leaves no row.
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectStore, indexFolder, type IndexReport } from '../../src/core/project';
import { tempDir } from '../helpers/folder';
import { forgedPng, noise, solid } from '../project/fixtures';

let t: ReturnType<typeof tempDir>;
let store: ProjectStore;
let report: IndexReport;
const put = (rel: string, data: Buffer | string) => {
  mkdirSync(dirname(join(t.path, rel)), { recursive: true });
  writeFileSync(join(t.path, rel), data);
};
const cut = (b: Buffer, fraction: number) => b.subarray(0, Math.floor(b.length * fraction));
const asRoot = process.getuid?.() === 0;

beforeAll(async () => {
  t = tempDir();
  put('good/a.png', await solid(20, 10, '#ff0000').png().toBuffer());
  put('good/b.jpg', await noise(30, 20, 1).jpeg().toBuffer());
  put('good/c.webp', await noise(16, 16, 2).webp().toBuffer());
  put('good/d.gif', await noise(12, 8, 3).gif().toBuffer());
  put('bad/empty.png', '');
  put('bad/trunc.jpg', cut(await noise(200, 150, 4).jpeg().toBuffer(), 0.5));
  put('bad/trunc.png', cut(await noise(200, 150, 5).png().toBuffer(), 0.5));
  put('bad/trunc.webp', cut(await noise(200, 150, 6).webp().toBuffer(), 0.5));
  put('bad/trunc.gif', cut(await noise(200, 150, 7).gif().toBuffer(), 0.5));
  put('bad/garbage.jpg', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 17) % 256)));
  put('bad/text.webp', 'RIFF but then just words');
  put('bad/bomb.png', forgedPng(30000, 30000));
  put('bad/lying-header.png', forgedPng(100, 80)); // IHDR says 100×80; the data holds far fewer pixels
  put('bad/locked.png', await solid(5, 5, '#00ff00').png().toBuffer());
  chmodSync(join(t.path, 'bad/locked.png'), 0o000);
  put('zz/vanishes.png', await solid(8, 8, '#0000ff').png().toBuffer());
  store = ProjectStore.open(t.path);
  let vanished = false;
  report = await indexFolder(store, {
    // After the first file is read, well before the workers reach the last one in path order.
    onProgress: () => {
      if (!vanished) rmSync(join(t.path, 'zz/vanishes.png'));
      vanished = true;
    },
  });
});
afterAll(() => {
  store?.close();
  t?.cleanup();
});

describe('indexing a folder of bad images', () => {
  it('indexes the good images', () => {
    expect(store.listImages({ status: 'unlabeled' }).map((i) => [i.path, i.format, i.width, i.height])).toEqual([
      ['good/a.png', 'png', 20, 10],
      ['good/b.jpg', 'jpeg', 30, 20],
      ['good/c.webp', 'webp', 16, 16],
      ['good/d.gif', 'gif', 12, 8],
      ...(asRoot ? [['bad/locked.png', 'png', 5, 5]] : []),
    ].sort((x, y) => (x[0]! < y[0]! ? -1 : 1)));
    expect(report.added).toBe(asRoot ? 5 : 4);
  });

  it('records each bad file with its reason', () => {
    const failed = Object.fromEntries(report.failed.map((f) => [f.path, f.reason]));
    expect(failed['bad/empty.png']).toBe('empty file');
    expect(failed['bad/trunc.jpg']).toMatch(/^corrupt image: .*premature end/i);
    expect(failed['bad/trunc.png']).toMatch(/^corrupt image: .+/);
    expect(failed['bad/trunc.webp']).toMatch(/^corrupt image: .+/);
    expect(failed['bad/trunc.gif']).toMatch(/^corrupt image: .+/);
    expect(failed['bad/garbage.jpg']).toBe('not an image');
    expect(failed['bad/text.webp']).toBe('not an image');
    expect(failed['bad/bomb.png']).toBe('too large: 30000×30000 pixels exceeds the limit of 250000000');
    expect(failed['bad/lying-header.png']).toMatch(/^corrupt image: .+/);
    if (!asRoot) expect(failed['bad/locked.png']).toBe('unreadable: EACCES');
    expect(failed['zz/vanishes.png']).toBe('vanished while indexing');
    expect(Object.keys(failed)).toHaveLength(asRoot ? 10 : 11);

    // Each has a row with status 'error' and the same reason — except the vanished file, which is not there.
    const rows = Object.fromEntries(store.listImages({ status: 'error' }).map((i) => [i.path, i.error]));
    const { 'zz/vanishes.png': _, ...expected } = failed;
    expect(rows).toEqual(expected);
    expect(store.getImageByPath('zz/vanishes.png')).toBeUndefined();
    expect(store.getImageByPath('bad/bomb.png')).toMatchObject({ width: 30000, height: 30000, format: 'png', status: 'error' });
  });

  it('counts every file once', () => {
    expect(report.added + report.updated + report.unchanged + report.failed.length).toBe(15);
    expect(report.removed).toBe(0);
  });
});
