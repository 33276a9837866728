// Attributes through the contract: definitions per category, values set on a mask as one undo step, what a change
// of category drops, and the errors bad input gets.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { ProjectStore } from '../../src/core/project';
import { encode, toCocoRle } from '../../src/shared/masks';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';

const H = 30;
const W = 40;
let dir: ReturnType<typeof tempDir>;
let backend: Backend;
let imageId: number;
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
const mask = () => toCocoRle(encode(rectMask(H, W, 0, 0, 10, 10), H, W), false);

beforeEach(async () => {
  dir = tempDir();
  await makeImageFolder(dir.path, 1, () => [W, H]);
  backend = new Backend({ shell: 'web' });
  backend.openProject(dir.path);
  await backend.jobs.wait((await call('project.index', {})).jobId);
  imageId = (await call('images.list', {})).items[0].id;
});
afterEach(async () => {
  await backend.close();
  dir.cleanup();
});

describe('attributes', () => {
  it('defines, lists and deletes attributes per category; the rows are in the database', async () => {
    const car = await call('categories.add', { name: 'car' });
    const person = await call('categories.add', { name: 'person' });
    const occluded = await call('attributes.define', { categoryId: car.id, name: 'occluded', type: 'boolean' });
    expect(occluded).toEqual({ id: occluded.id, categoryId: car.id, name: 'occluded', type: 'boolean', options: [], default: false });
    await call('attributes.define', { categoryId: car.id, name: 'view', type: 'select', options: ['front', 'side'], default: 'side' });
    await call('attributes.define', { categoryId: person.id, name: 'note', type: 'text' });
    expect((await call('attributes.list', { categoryId: car.id })).map((d: any) => [d.name, d.default])).toEqual([['occluded', false], ['view', 'side']]);
    expect((await call('attributes.list', {})).map((d: any) => d.name)).toEqual(['occluded', 'view', 'note']);

    await expect(call('attributes.define', { categoryId: car.id, name: 'occluded', type: 'text' }))
      .rejects.toMatchObject({ code: 'conflict', message: "category 'car' already has an attribute 'occluded'" });
    await expect(call('attributes.define', { categoryId: 999, name: 'x', type: 'text' })).rejects.toMatchObject({ code: 'not_found' });
    await expect(call('attributes.define', { categoryId: car.id, name: 'x', type: 'number' })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(call('attributes.list', { categoryId: 999 })).rejects.toMatchObject({ code: 'not_found', message: 'no category with id 999' });

    const a = await call('annotations.add', { imageId, categoryId: car.id, mask: mask() });
    await call('annotations.setAttributes', { id: a.id, values: { occluded: true } });
    expect(await call('attributes.delete', { id: occluded.id })).toEqual({ deleted: true, cleared: 1 });
    await expect(call('attributes.delete', { id: occluded.id })).rejects.toMatchObject({ code: 'not_found' });
    const store = ProjectStore.open(dir.path, { readonly: true });
    try {
      expect(store.listAttributeDefs().map((d) => d.name)).toEqual(['view', 'note']);
      expect(store.getAnnotation(a.id)!.attributes).toEqual({});
    } finally {
      store.close();
    }
  });

  it('sets values as one undo step, null back to the default; a change of category says what it drops', async () => {
    const car = await call('categories.add', { name: 'car' });
    const person = await call('categories.add', { name: 'person' });
    await call('attributes.define', { categoryId: car.id, name: 'occluded', type: 'boolean' });
    await call('attributes.define', { categoryId: car.id, name: 'note', type: 'text' });
    await call('attributes.define', { categoryId: person.id, name: 'occluded', type: 'boolean' });
    const a = await call('annotations.add', { imageId, categoryId: car.id, mask: mask() });
    expect(a.attributes).toEqual({});

    let r = await call('annotations.setAttributes', { id: a.id, values: { occluded: true, note: 'dented' } });
    expect(r.attributes).toEqual({ occluded: true, note: 'dented' });
    expect(await call('history.state', { imageId })).toMatchObject({ undoLabel: 'set attributes' });
    r = await call('annotations.setAttributes', { id: a.id, values: { note: null } });
    expect(r.attributes).toEqual({ occluded: true });
    expect((await call('history.undo', { imageId })).annotations[0].attributes).toEqual({ occluded: true, note: 'dented' });

    await expect(call('annotations.setAttributes', { id: a.id, values: { occluded: 'yes' } }))
      .rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/attribute 'occluded': must be true or false/) });
    await expect(call('annotations.setAttributes', { id: a.id, values: { wheels: '4' } }))
      .rejects.toMatchObject({ code: 'bad_request', message: "category 'car' has no attribute 'wheels'" });
    await expect(call('annotations.setAttributes', { id: 999, values: {} })).rejects.toMatchObject({ code: 'not_found' });

    const moved = await call('annotations.update', { id: a.id, categoryId: person.id });
    expect(moved).toMatchObject({ categoryId: person.id, attributes: { occluded: true }, droppedAttributes: ['note'] });
    expect((await call('history.undo', { imageId })).annotations[0]).toMatchObject({ categoryId: car.id, attributes: { occluded: true, note: 'dented' } });
    expect((await call('annotations.update', { id: a.id, categoryId: car.id })).droppedAttributes).toEqual([]);
  });
});
