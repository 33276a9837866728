// Hostile request bodies against web mode, sent with the session token: too large (declared or streamed), too
// deep, too many objects, RLE masks with absurd run counts, huge lists of the wrong type, prototype keys, unknown
// methods. Each is answered with a 4xx and a short JSON error, the process's peak memory barely moves, and the
// server answers the next call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Backend } from '../../src/core/api/backend';
import { encode, toCocoRle } from '../../src/shared/masks';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';
import { rawRequest, type RawRequest, type RawResponse } from '../server/http';

const H = 30, W = 40;
const MiB = 2 ** 20;
let dir: ReturnType<typeof tempDir>;
let backend: Backend;
let server: RunningServer;
let imageId: number;

const send = (path: string, body: RawRequest['body']) =>
  rawRequest(server.url, { path, body, headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' } });
const call = (method: string, input: unknown) => send(`/api/${method}`, JSON.stringify(input));

/** Peak resident memory of this process (the server runs in it), in MiB. */
const peakMiB = () => process.resourceUsage().maxRSS / 1024;

/** Sends a hostile request; returns its answer and how far it raised this process's peak memory. */
async function hostile(r: () => Promise<RawResponse>): Promise<{ res: RawResponse; grewMiB: number }> {
  const before = peakMiB();
  const res = await r();
  return { res, grewMiB: peakMiB() - before };
}

function expectRefused(res: RawResponse, status: number, code: string, message: RegExp): void {
  expect({ status: res.status, code: res.json().error.code }).toEqual({ status, code });
  expect(res.json().error.message).toMatch(message);
  expect(res.text.length).toBeLessThan(4096); // a short answer, whatever was sent
}

beforeAll(async () => {
  dir = tempDir();
  await makeImageFolder(join(dir.path, 'images'), 1, () => [W, H]);
  backend = new Backend({ shell: 'web' });
  backend.openProject(join(dir.path, 'images'));
  await backend.jobs.wait(((await backend.dispatch('project.index', {})) as { jobId: string }).jobId);
  imageId = ((await backend.dispatch('images.list', {})) as { items: { id: number }[] }).items[0]!.id;
  server = await startServer({ backend, port: 0 });
});
afterAll(async () => {
  await server.close();
  await backend.close();
  dir.cleanup();
});

describe('hostile payloads', () => {
  it('refuses a body over the limit from its declared length, without reading it', async () => {
    const body = Buffer.from(`[${'0,'.repeat(20 * MiB)}0]`); // 40 MiB of numbers: about 400 MiB once parsed
    const { res, grewMiB } = await hostile(() => send('/api/annotations.delete', body));
    expectRefused(res, 413, 'too_large', /over 8388608 bytes/);
    expect(res.headers.connection).toBe('close');
    expect(grewMiB).toBeLessThan(64);
    expect((await call('app.info', {})).status).toBe(200);
  });

  it('stops reading a streamed body (no declared length) at the limit', async () => {
    let sent = 0;
    const chunk = Buffer.alloc(MiB, 0x20);
    const { res, grewMiB } = await hostile(() =>
      send('/api/app.info', function* () {
        for (; sent < 200; sent++) yield chunk;
      }),
    );
    expectRefused(res, 413, 'too_large', /over 8388608 bytes/);
    expect(sent).toBeLessThan(40); // the server stopped taking it, the client stopped sending
    expect(grewMiB).toBeLessThan(64);
    expect((await call('app.info', {})).status).toBe(200);
  });

  it('takes an inline COCO document larger than an ordinary call may be, and refuses one over 64 MiB', async () => {
    const doc = (description: string) => JSON.stringify({ document: { info: { description }, images: [], annotations: [], categories: [] } });
    const r = await send('/api/coco.import', doc('x'.repeat(12 * MiB)));
    expect({ status: r.status, result: r.json().result }).toEqual({ status: 200, result: { images: 0, annotations: 0, categoriesCreated: 0, skipped: [] } });
    const big = Buffer.from(doc('x'.repeat(65 * MiB)));
    const { res, grewMiB } = await hostile(() => send('/api/coco.import', big));
    expectRefused(res, 413, 'too_large', /over 67108864 bytes, the limit for coco\.import/);
    expect(grewMiB).toBeLessThan(64);
  });

  it('refuses JSON nested deeper than 32 levels before parsing it', async () => {
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    let r = await send('/api/images.get', `{"id":${deep(100_000)}}`);
    expectRefused(r, 400, 'bad_request', /deeper than 32 levels/);
    // Deep values that would reach the answer (a COCO entry's id is echoed in the report) never get that far.
    r = await send('/api/coco.import', `{"document":{"images":[],"categories":[],"annotations":[{"id":${deep(1_000_000)}}]}}`);
    expectRefused(r, 400, 'bad_request', /deeper than 32 levels/);
    expect((await call('app.info', {})).status).toBe(200);
  });

  it('refuses documents of too many objects and arrays (each costs tens of bytes of heap for 2 to 3 of text)', async () => {
    const images = Buffer.from(JSON.stringify({ document: { images: Array(2_000_000).fill({}), annotations: [], categories: [] } }));
    const { res, grewMiB } = await hostile(() => send('/api/coco.import', images));
    expectRefused(res, 413, 'too_large', /more than 1000000 objects and arrays, the limit for coco\.import/);
    expect(grewMiB).toBeLessThan(64);
    const r = await call('annotations.merge', { ids: Array(20_000).fill([]) });
    expectRefused(r, 413, 'too_large', /more than 10000 objects and arrays/);
  });

  it('refuses RLE masks with more runs than pixels + 1, as a list or as a compressed string', async () => {
    const add = (counts: unknown) => call('annotations.add', { imageId, categoryId: null, mask: { size: [H, W], counts } });
    let { res, grewMiB } = await hostile(() => add(Array(3_000_000).fill(0)));
    expectRefused(res, 400, 'bad_request', /3000000 runs.*at most 1201/);
    expect(grewMiB).toBeLessThan(64);
    ({ res, grewMiB } = await hostile(() => add('0'.repeat(6_000_000)))); // '0' is a whole run of length 0
    expectRefused(res, 400, 'bad_request', /6000000 runs.*at most 1201/);
    expect(grewMiB).toBeLessThan(64);
    // The longest legal list: every pixel its own run, starting with an empty run of zeros.
    const alternating = new Uint8Array(H * W);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) alternating[y * W + x] = (x * H + y + 1) % 2;
    const longest = toCocoRle(encode(alternating, H, W), false).counts as number[];
    expect(longest).toHaveLength(H * W + 1);
    const ok = await add(longest);
    expect(ok.status).toBe(200);
    expect(ok.json().result.area).toBe((H * W) / 2);
  });

  it('answers a long list of the wrong type with one short message, not an issue per entry', async () => {
    let r = await call('annotations.add', { imageId, categoryId: null, mask: { size: [H, W], counts: Array(1_000_000).fill('a') } });
    expectRefused(r, 400, 'bad_request', /counts/);
    r = await call('pipelines.run', { pipeline: 'diffseg', imageIds: Array(100_000).fill('x') });
    expectRefused(r, 400, 'bad_request', /imageIds\.0: .*and 99980 more/);
    expect(r.json().error.issues).toHaveLength(20);
  });

  it('refuses the wrong types at the top level', async () => {
    for (const body of ['[]', '1', '"id"', 'true', '[{"id":1}]']) {
      const r = await send('/api/images.get', body);
      expect({ body, status: r.status, code: r.json().error.code }).toEqual({ body, status: 400, code: 'bad_request' });
    }
  });

  it('treats prototype keys as plain keys: refused where unknown, stored as names, never on Object.prototype', async () => {
    const r = await send('/api/categories.add', '{"name":"x","__proto__":{"polluted":true}}');
    expectRefused(r, 400, 'bad_request', /__proto__/);
    for (const m of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'app.info.constructor']) {
      const u = await call(m, {});
      expect({ m, status: u.status, code: u.json().error.code }).toEqual({ m, status: 404, code: 'not_found' });
    }
    const mask = toCocoRle(encode(rectMask(H, W, 0, 0, 5, 5), H, W), true);
    const categories = [{ id: 1, name: '__proto__' }, { id: 2, name: 'constructor' }];
    const annotations = [1, 2].map((c) => ({ id: c, image_id: 1, category_id: c, segmentation: mask, iscrowd: 1, bbox: [0, 0, 5, 5], area: 25 }));
    // Written by hand: an object literal's __proto__ sets the prototype and would not be in the JSON.
    const image = `{"__proto__":{"evil":1},"id":1,"file_name":"a/img000.png","width":${W},"height":${H}}`;
    const doc = `{"images":[${image}],"categories":${JSON.stringify(categories)},"annotations":${JSON.stringify(annotations)}}`;
    const imported = await send('/api/coco.import', `{"document":${doc}}`);
    expect(imported.json().result).toMatchObject({ annotations: 2, categoriesCreated: 2, skipped: [] });
    const names = ((await backend.dispatch('categories.list', {})) as { name: string }[]).map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['__proto__', 'constructor']));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).evil).toBeUndefined();
  });
});
