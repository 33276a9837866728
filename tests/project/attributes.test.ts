// Attributes defined per category, their values per mask: validated against the category's definitions, kept
// across a change of category where the new one defines them, undone and redone with the mask.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProjectStore, StoreError, type AnnotationInput } from '../../src/core/project';
import { seedImages, tempFolder } from './helpers';

let t: ReturnType<typeof tempFolder>;
let s: ProjectStore;
let img: number;
let car: number;
let person: number;
beforeEach(() => {
  t = tempFolder();
  s = ProjectStore.open(t.dir);
  img = seedImages(s, [[40, 30]])[0]!;
  car = s.addCategory({ name: 'car' }).id;
  person = s.addCategory({ name: 'person' }).id;
});
afterEach(() => {
  s.close();
  t.cleanup();
});

function ann(over: Partial<AnnotationInput> = {}): AnnotationInput {
  return { imageId: img, categoryId: car, rle: '0d1', height: 30, width: 40, area: 12, bbox: [1, 2, 4, 3], source: 'manual', ...over };
}

function storeError(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StoreError);
    return e as StoreError;
  }
  throw new Error('expected a StoreError');
}

describe('attribute definitions', () => {
  it('stores definitions per category with defaults by type, and refuses bad ones', () => {
    const occluded = s.addAttributeDef({ categoryId: car, name: 'occluded', type: 'boolean' });
    const note = s.addAttributeDef({ categoryId: car, name: 'note', type: 'text' });
    const colour = s.addAttributeDef({ categoryId: car, name: 'colour', type: 'select', options: ['red', 'blue'] });
    s.addAttributeDef({ categoryId: person, name: 'occluded', type: 'boolean', default: true });
    expect([occluded.default, note.default, colour.default]).toEqual([false, '', 'red']);
    expect(s.listAttributeDefs(car).map((d) => [d.name, d.type, d.options, d.default])).toEqual([
      ['occluded', 'boolean', [], false], ['note', 'text', [], ''], ['colour', 'select', ['red', 'blue'], 'red'],
    ]);
    expect(s.listAttributeDefs().map((d) => [d.categoryId, d.name])).toEqual([[car, 'occluded'], [car, 'note'], [car, 'colour'], [person, 'occluded']]);

    expect(storeError(() => s.addAttributeDef({ categoryId: car, name: 'occluded', type: 'text' })).code).toBe('conflict');
    expect(storeError(() => s.addAttributeDef({ categoryId: 99, name: 'x', type: 'text' })).code).toBe('not-found');
    expect(storeError(() => s.addAttributeDef({ categoryId: car, name: ' ', type: 'text' })).message).toMatch(/name must not be empty/);
    expect(storeError(() => s.addAttributeDef({ categoryId: car, name: 'x', type: 'number' as 'text' })).message).toMatch(/type must be one of boolean, text, select/);
    expect(storeError(() => s.addAttributeDef({ categoryId: car, name: 'x', type: 'select' })).message).toMatch(/needs options/);
    expect(storeError(() => s.addAttributeDef({ categoryId: car, name: 'x', type: 'select', options: ['a', 'a'] })).message).toMatch(/differ/);
    expect(storeError(() => s.addAttributeDef({ categoryId: car, name: 'x', type: 'select', options: ['a'], default: 'b' })).message)
      .toMatch(/default of 'x': must be one of 'a', got 'b'/);
    expect(storeError(() => s.addAttributeDef({ categoryId: car, name: 'x', type: 'boolean', default: 'yes' })).message).toMatch(/true or false/);
    expect(s.listAttributeDefs(car)).toHaveLength(3);
  });

  it('deleting a definition removes its values from the masks; deleting the category removes its definitions', () => {
    const occluded = s.addAttributeDef({ categoryId: car, name: 'occluded', type: 'boolean' });
    s.addAttributeDef({ categoryId: car, name: 'note', type: 'text' });
    const a = s.addAnnotation(ann({ attributes: { occluded: true, note: 'dented' } }));
    const b = s.addAnnotation(ann({ attributes: { note: 'x' } }));
    expect(s.deleteAttributeDef(occluded.id)).toBe(1);
    expect(s.getAnnotation(a.id)!.attributes).toEqual({ note: 'dented' });
    expect(s.getAnnotation(b.id)!.attributes).toEqual({ note: 'x' });
    expect(storeError(() => s.deleteAttributeDef(occluded.id)).code).toBe('not-found');

    // Any name a labeler may type, quotes and dots included.
    const quoted = s.addAttributeDef({ categoryId: car, name: 'say "hi".x', type: 'text' });
    s.updateAnnotation(a.id, { attributes: { note: 'dented', 'say "hi".x': 'yes' } });
    expect(s.deleteAttributeDef(quoted.id)).toBe(1);
    expect(s.getAnnotation(a.id)!.attributes).toEqual({ note: 'dented' });

    s.deleteCategory(car);
    expect(s.listAttributeDefs()).toEqual([]);
    expect(s.getAnnotation(a.id)).toMatchObject({ categoryId: null, attributes: {} });
  });
});

describe('attribute values', () => {
  beforeEach(() => {
    s.addAttributeDef({ categoryId: car, name: 'occluded', type: 'boolean' });
    s.addAttributeDef({ categoryId: car, name: 'note', type: 'text' });
    s.addAttributeDef({ categoryId: car, name: 'colour', type: 'select', options: ['red', 'blue'] });
    s.addAttributeDef({ categoryId: person, name: 'occluded', type: 'boolean' });
    s.addAttributeDef({ categoryId: person, name: 'note', type: 'select', options: ['a'] });
  });

  it('checks values against the category and stores them as JSON', () => {
    const a = s.addAnnotation(ann({ attributes: { occluded: true, colour: 'blue' } }));
    expect(s.getAnnotation(a.id)!.attributes).toEqual({ occluded: true, colour: 'blue' });
    expect(s.listAnnotations({ imageId: img })[0]!.attributes).toEqual({ occluded: true, colour: 'blue' });
    expect(s.addAnnotation(ann()).attributes).toEqual({});

    expect(storeError(() => s.addAnnotation(ann({ attributes: { truncated: true } }))).message).toMatch(/category 'car' has no attribute 'truncated'/);
    expect(storeError(() => s.addAnnotation(ann({ attributes: { occluded: 'yes' } }))).message).toMatch(/attribute 'occluded': must be true or false/);
    expect(storeError(() => s.addAnnotation(ann({ attributes: { colour: 'green' } }))).message).toMatch(/must be one of 'red', 'blue', got 'green'/);
    expect(storeError(() => s.addAnnotation(ann({ attributes: { note: 3 as unknown as string } }))).message).toMatch(/must be a string/);
    expect(storeError(() => s.addAnnotation(ann({ categoryId: null, attributes: { occluded: true } }))).message).toMatch(/unassigned mask has no attributes/);
    expect(s.countAnnotations()).toBe(2);
  });

  it('a change of category keeps the values the new category accepts and drops the others', () => {
    const a = s.addAnnotation(ann({ attributes: { occluded: true, note: 'dented', colour: 'red' } }));
    // person defines occluded (kept) and note as a select without 'dented' (dropped); colour not at all (dropped).
    expect(s.updateAnnotation(a.id, { categoryId: person }).attributes).toEqual({ occluded: true });
    expect(s.updateAnnotation(a.id, { categoryId: null }).attributes).toEqual({});
  });

  it('setting values is one undoable step, undone and redone with the mask', () => {
    const [a] = s.edit(img, 'add', [{ kind: 'add', input: ann() }]);
    s.edit(img, 'set attributes', [{ kind: 'update', id: a!.id, patch: { attributes: { occluded: true, note: 'dented' } } }]);
    expect(s.historyState(img).undoLabel).toBe('set attributes');
    expect(s.undo(img)).toBe(true);
    expect(s.getAnnotation(a!.id)!.attributes).toEqual({});
    expect(s.redo(img)).toBe(true);
    expect(s.getAnnotation(a!.id)!.attributes).toEqual({ occluded: true, note: 'dented' });

    s.edit(img, 'change category', [{ kind: 'update', id: a!.id, patch: { categoryId: person } }]);
    expect(s.getAnnotation(a!.id)!.attributes).toEqual({ occluded: true });
    s.undo(img);
    expect(s.getAnnotation(a!.id)).toMatchObject({ categoryId: car, attributes: { occluded: true, note: 'dented' } });
  });

  it('undo leaves out values of attributes deleted since', () => {
    const [a] = s.edit(img, 'add', [{ kind: 'add', input: ann({ attributes: { occluded: true, note: 'n' } }) }]);
    s.edit(img, 'delete', [{ kind: 'delete', id: a!.id }]);
    s.deleteAttributeDef(s.listAttributeDefs(car).find((d) => d.name === 'occluded')!.id);
    s.undo(img);
    expect(s.getAnnotation(a!.id)!.attributes).toEqual({ note: 'n' });
  });

  it('merging categories keeps the values the target defines', () => {
    const a = s.addAnnotation(ann({ attributes: { occluded: true, colour: 'blue' } }));
    s.mergeCategory(car, person);
    expect(s.getAnnotation(a.id)).toMatchObject({ categoryId: person, attributes: { occluded: true } });
  });
});
