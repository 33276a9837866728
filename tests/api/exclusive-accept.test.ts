// "No overlap" for a segmenter's accept: with `exclusive`, the accepted click mask takes its pixels from the image's
// other masks in the same undo step, and masks named `locked` keep theirs (the accepted mask leaves them out).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { disposeSharedInferenceHost } from '../../src/core/pipelines/common/inference';
import { area, encode, fromCompressedString, intersect, toCocoRle, type Rle } from '../../src/shared/masks';
import { shapeCentre } from '../pipelines/diffseg/fixture-scenes';
import { sceneProject, type SceneProject } from '../pipelines/diffseg/helpers';
import { rectMask } from '../helpers/masks';

let p: SceneProject;
let backend: Backend;
let imageId: number;
const W = 160, H = 120;
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
const masks = async () =>
  new Map<number, Rle>((await call('annotations.list', { imageId })).map((a: { id: number; mask: { counts: string } }) => [a.id, fromCompressedString(a.mask.counts, H, W)]));
const rect = (x0: number, y0: number, x1: number, y1: number) => toCocoRle(encode(rectMask(H, W, x0, y0, x1, y1), H, W), true);

beforeAll(async () => {
  p = await sceneProject([[W, H, 3, 31]]);
  p.store.close();
  backend = new Backend({ shell: 'web' });
  backend.openProject(p.dir);
  imageId = (await call('images.list', {})).items[0].id;
});
afterAll(async () => {
  await backend.close();
  await disposeSharedInferenceHost();
  p.cleanup();
});

describe('exclusive accept', () => {
  it('the accepted mask takes its pixels from the others, leaves the locked ones theirs, in one undo step', async () => {
    const shape = p.scenes.get(imageId)!.shapes[0]!;
    const click = { ...shapeCentre(shape), positive: true };
    const accept = (extra: object) => call('pipelines.accept', { pipeline: 'diffseg', imageId, prompt: { kind: 'points', points: [click] }, categoryId: null, model: 'fixture', ...extra });

    // What the click gives on its own, then undone.
    const plain = fromCompressedString((await accept({})).mask.counts, H, W);
    await call('history.undo', { imageId });
    expect(area(plain)).toBeGreaterThan(200);

    // Two hand-drawn masks over the whole image, split a little right of the click: the left free, the right locked.
    const cut = Math.round(click.x) + 3;
    const free = await call('annotations.add', { imageId, categoryId: null, mask: rect(0, 0, cut, H) });
    const locked = await call('annotations.add', { imageId, categoryId: null, mask: rect(cut, 0, W, H) });
    const before = await masks();

    const a = await accept({ exclusive: true, locked: [locked.id] });
    const after = await masks();
    const got = after.get(a.id)!;
    // The accepted mask: the click's, less the locked half.
    expect(area(intersect(got, before.get(locked.id)!))).toBe(0);
    expect(area(intersect(plain, before.get(locked.id)!))).toBeGreaterThan(0);
    expect(area(got)).toBe(area(plain) - area(intersect(plain, before.get(locked.id)!)));
    // The free mask lost exactly those pixels; the locked one is untouched; nothing overlaps.
    expect(area(after.get(free.id)!)).toBe(area(before.get(free.id)!) - area(intersect(got, before.get(free.id)!)) );
    expect(area(intersect(after.get(free.id)!, got))).toBe(0);
    expect(after.get(locked.id)).toEqual(before.get(locked.id));

    // One undo brings both back as they were.
    await call('history.undo', { imageId });
    expect(await masks()).toEqual(before);

    // Without the flag, overlaps stay.
    const b = await accept({});
    const kept = await masks();
    expect(kept.get(free.id)).toEqual(before.get(free.id));
    expect(area(intersect(kept.get(b.id)!, kept.get(free.id)!))).toBeGreaterThan(0);
  });
});
