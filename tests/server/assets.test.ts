// /images/<id> serves only what is still the indexed image: a regular file with the size and content (sha1) the index
// recorded (also when it was indexed through a link to a dataset elsewhere). Anything swapped in since is refused with a message that
// says to index again. Thumbnails of unreadable images answer with the recorded reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Backend } from '../../src/core/api/backend';
import { ApiError } from '../../src/core/api/errors';
import { loadAsset } from '../../src/core/server/assets';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { makeImageFolder, tempDir, writeImage } from '../helpers/folder';
import { rawRequest } from './http';

let dir: ReturnType<typeof tempDir>;
let folder: string;
let backend: Backend;
let server: RunningServer;
const ids = new Map<string, number>();
const SECRET = 'root:x:0:0:secret outside the project\n';

const get = (path: string) => rawRequest(server.url, { method: 'GET', path, headers: { authorization: `Bearer ${server.token}` } });
const image = (path: string) => get(`/images/${ids.get(path)}`);

beforeAll(async () => {
  dir = tempDir();
  folder = join(dir.path, 'project');
  await makeImageFolder(folder, 6, () => [40, 30]); // a/img000.png, b/img001.png, a/img002.png, …
  await writeImage(join(dir.path, 'outside', 'a', 'img004.png'), 40, 30);
  writeFileSync(join(dir.path, 'secret.txt'), SECRET);
  writeFileSync(join(folder, 'broken.png'), 'not an image at all');
  symlinkSync(join(folder, 'b', 'img005.png'), join(folder, 'linked.png')); // a link that stays inside
  await writeImage(join(dir.path, 'dataset', 'far.png'), 40, 30);
  symlinkSync(join(dir.path, 'dataset', 'far.png'), join(folder, 'far.png')); // a link into a dataset elsewhere
  backend = new Backend({ shell: 'web' });
  backend.openProject(folder);
  await backend.jobs.wait(((await backend.dispatch('project.index', {})) as { jobId: string }).jobId);
  for (const i of ((await backend.dispatch('images.list', {})) as { items: { id: number; path: string }[] }).items) ids.set(i.path, i.id);
  server = await startServer({ backend, port: 0 });
});
afterAll(async () => {
  await server.close();
  await backend.close();
  dir.cleanup();
});

describe('/images/<id>', () => {
  it('serves the indexed file, and a link to a file inside the project', async () => {
    let r = await image('a/img000.png');
    expect({ status: r.status, type: r.headers['content-type'] }).toEqual({ status: 200, type: 'image/png' });
    expect(Buffer.from(r.text, 'latin1').length).toBeGreaterThan(0);
    r = await image('linked.png');
    expect(r.status).toBe(200);
    r = await image('far.png');
    expect({ status: r.status, type: r.headers['content-type'] }).toEqual({ status: 200, type: 'image/png' });
  });

  it('refuses a file of the same size and time that is no longer that image (409)', async () => {
    const file = join(folder, 'b', 'img005.png');
    const original = readFileSync(file);
    const { mtime } = statSync(file);
    writeFileSync(file, Buffer.alloc(original.length, 0x41));
    utimesSync(file, mtime, mtime);
    try {
      const r = await image('b/img005.png');
      expect({ status: r.status, code: r.json().error.code }).toEqual({ status: 409, code: 'conflict' });
      expect(r.text).not.toContain('AAAA');
    } finally {
      writeFileSync(file, original);
      utimesSync(file, mtime, mtime);
    }
  });

  it('refuses a link swapped in for an indexed file (409), and never sends what it points to', async () => {
    const file = join(folder, 'b', 'img001.png');
    rmSync(file);
    symlinkSync(join(dir.path, 'secret.txt'), file);
    const r = await image('b/img001.png');
    expect({ status: r.status, code: r.json().error.code }).toEqual({ status: 409, code: 'conflict' });
    expect(r.json().error.message).toMatch(/b\/img001\.png changed since it was indexed.*index the folder again/);
    expect(r.text).not.toContain('secret');
  });

  it('refuses a folder on the path swapped for a link to elsewhere, even to an image of the same name', async () => {
    renameSync(join(folder, 'a'), join(dir.path, 'a-moved'));
    symlinkSync(join(dir.path, 'outside', 'a'), join(folder, 'a'));
    try {
      const r = await image('a/img004.png');
      expect({ status: r.status, code: r.json().error.code }).toEqual({ status: 409, code: 'conflict' });
      expect(r.json().error.message).toMatch(/a\/img004\.png changed since it was indexed.*index the folder again/);
    } finally {
      rmSync(join(folder, 'a'));
      renameSync(join(dir.path, 'a-moved'), join(folder, 'a'));
    }
  });

  it('refuses a file whose size or content changed since it was indexed (409); a new time alone is no change', async () => {
    const file = join(folder, 'a', 'img002.png');
    const original = readFileSync(file);
    writeFileSync(file, Buffer.concat([original, Buffer.alloc(10)]));
    let r = await image('a/img002.png');
    expect({ status: r.status, code: r.json().error.code }).toEqual({ status: 409, code: 'conflict' });
    expect(r.json().error.message).toMatch(/a\/img002\.png changed since it was indexed.*index the folder again/);
    writeFileSync(file, original); // same bytes, newer time
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    r = await image('a/img002.png');
    expect(r.status).toBe(200);
  });

  it('answers 404 when the file is gone', async () => {
    rmSync(join(folder, 'b', 'img003.png'));
    const r = await image('b/img003.png');
    expect({ status: r.status, code: r.json().error.code }).toEqual({ status: 404, code: 'not_found' });
    expect(r.json().error.message).toMatch(/b\/img003\.png is gone.*index the folder again/);
  });

  it('gives the Electron protocol the same refusal (loadAsset)', async () => {
    const err = await loadAsset(backend.project, undefined, `/images/${ids.get('b/img001.png')}`).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('conflict');
  });
});

describe('/thumbs/<id>', () => {
  it('answers an unreadable image with 409 and the reason recorded when it was indexed', async () => {
    const r = await get(`/thumbs/${ids.get('broken.png')}`);
    expect({ status: r.status, code: r.json().error.code }).toEqual({ status: 409, code: 'conflict' });
    const recorded = ((await backend.dispatch('images.get', { id: ids.get('broken.png') })) as { error: string }).error;
    expect(recorded.length).toBeGreaterThan(3);
    expect(r.json().error.message).toContain(recorded);
  });
});

describe('/images/<id> of a project opened through a link to its folder', () => {
  it('serves its images (the folder is compared by its real path)', async () => {
    const real = join(dir.path, 'real-project');
    await makeImageFolder(real, 1, () => [40, 30]);
    const via = join(dir.path, 'via-link');
    symlinkSync(real, via);
    const b = new Backend({ shell: 'web' });
    try {
      b.openProject(via);
      await b.jobs.wait(((await b.dispatch('project.index', {})) as { jobId: string }).jobId);
      const id = ((await b.dispatch('images.list', {})) as { items: { id: number }[] }).items[0]!.id;
      const asset = await loadAsset(b.project, undefined, `/images/${id}`);
      expect(asset.contentType).toBe('image/png');
    } finally {
      await b.close();
    }
  });
});
