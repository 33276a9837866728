import { describe, expect, it } from 'vitest';
import { synonymsOf } from '../../src/shared/vocabulary';

describe('synonymsOf', () => {
  it('splits a category name into its synonyms, first one first, blanks and repeats dropped', () => {
    expect(synonymsOf('car, automobile')).toEqual(['car', 'automobile']);
    expect(synonymsOf(' sky ')).toEqual(['sky']);
    expect(synonymsOf('tree,, Tree, trees ,')).toEqual(['tree', 'trees']);
    expect(synonymsOf(' , ')).toEqual([]);
  });
});
