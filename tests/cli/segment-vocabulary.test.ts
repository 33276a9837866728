// `segment --vocab` (the attention mode on its fixture): the red disk and the blue square are stored as proposals
// that suggest the categories red and blue, created by name (a project category of the same name is reused, and its
// isthing decides stuff); `--mode` picks the pipeline and says clearly when ODISE is not there; options that do not fit
// are usage errors (exit 2).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectStore, indexFolder } from '../../src/core/project';
import { fromCompressedString, decode } from '../../src/shared/masks';
import { tempDir } from '../helpers/folder';
import { iou, writeScene } from '../pipelines/refldmseg/scenes';
import { colourScene } from '../pipelines/vocabulary/scene';

const root = join(__dirname, '..', '..');
const cli = (...args: string[]) =>
  spawnSync(join(root, 'node_modules', '.bin', 'node'), [join(root, 'bin', 'difflabel.mjs'), ...args], { encoding: 'utf8', cwd: root });

const dir = tempDir();
const folder = join(dir.path, 'scenes');
const s = colourScene();

beforeAll(async () => {
  mkdirSync(folder);
  await writeScene(join(folder, 'shapes.png'), s);
  const store = ProjectStore.open(folder);
  try {
    await indexFolder(store);
    store.addCategory({ name: 'Blue', isthing: false, color: '#0000ff' }); // matched whatever its case
  } finally {
    store.close();
  }
});
afterAll(() => dir.cleanup());

function project() {
  const store = ProjectStore.open(folder);
  try {
    const id = store.getImageByPath('shapes.png')!.id;
    return {
      categories: store.listCategories().map((c) => ({ name: c.name, isthing: c.isthing })),
      proposals: store.listAnnotations({ imageId: id }).map((a) => ({
        category: store.getCategory(store.suggestedCategory(a.id) ?? 0)?.name ?? null, score: a.score, mask: decode(fromCompressedString(a.rle, a.height, a.width)), source: a.source,
      })),
      prompts: store.listPrompts({ imageId: id }).map((p) => p.payload),
    };
  } finally {
    store.close();
  }
}

describe('segment --vocab', () => {
  it('--mode attention names the disk red (created, a thing) and the square Blue (the project\'s stuff category)', () => {
    const r = cli('segment', folder, '--mode', 'attention', '--model', 'fixture', '--vocab', 'red,blue|navy', '--json');
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ pipeline: 'vocabulary', segmented: 1, proposals: 2 });
    const p = project();
    expect(p.categories).toEqual([{ name: 'Blue', isthing: false }, { name: 'red', isthing: true }]);
    const red = p.proposals.find((x) => x.category === 'red')!, blue = p.proposals.find((x) => x.category === 'Blue')!;
    expect(iou(red.mask, s.masks[1]!)).toBeGreaterThanOrEqual(0.9);
    expect(iou(blue.mask, s.masks[2]!)).toBeGreaterThanOrEqual(0.9);
    expect(red.source).toBe('vocabulary');
    expect(red.score).toBeGreaterThan(0.5);
    // Synonyms joined by | are one entry; stuff came from the project's category.
    expect(p.prompts).toEqual([{ names: ['red', 'blue, navy'], stuff: ['blue'], pipeline: 'vocabulary' }]);
  });

  it('a rerun of the same vocabulary resumes (nothing new); another vocabulary runs again', () => {
    expect(JSON.parse(cli('segment', folder, '--pipeline', 'vocabulary', '--model', 'fixture', '--vocab', 'red', '--vocab', 'blue|navy', '--json').stdout)).toMatchObject({ skipped: 1, segmented: 0 });
    const r = cli('segment', folder, '--pipeline', 'vocabulary', '--model', 'fixture', '--vocab', 'red', '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({ segmented: 1, proposals: 1 });
    expect(project().proposals.filter((x) => x.category === 'red')).toHaveLength(2);
  });

  it('--mode odise says the pipeline is not in this build (exit 2), unless it is', () => {
    const r = cli('segment', folder, '--mode', 'odise', '--vocab', 'red');
    if (r.status === 2) expect(r.stderr).toMatch(/--mode odise runs the odise pipeline, which this build of DiffLabel does not have .*--mode attention runs without ODISE weights/);
    else expect(r.stderr).not.toMatch(/does not have/);
  });

  it('options that do not fit are usage errors, said in words', () => {
    const usage = (args: string[], message: RegExp) => {
      const r = cli('segment', folder, '--model', 'fixture', ...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    };
    usage(['--vocab', 'red'], /DiffSeg takes no vocabulary \(a points prompt\): --pipeline vocabulary or --mode attention does/);
    usage(['--mode', 'attention', '--pipeline', 'diffseg', '--vocab', 'red'], /--mode attention runs the vocabulary pipeline, not diffseg/);
    usage(['--mode', 'sam', '--vocab', 'red'], /--mode takes odise or attention, not "sam"/);
    usage(['--mode', 'attention', '--stuff', 'red'], /--stuff names categories of --vocab: give --vocab too/);
    usage(['--mode', 'attention', '--vocab', ' , '], /--vocab names no category/);
    usage(['--mode', 'attention', '--vocab', 'red', '--prompt', '{"kind":"vocabulary","names":["red"]}'], /--vocab is a prompt/);
    usage(['--mode', 'attention', '--vocab', 'red', '--stuff', 'sky'], /stuff names no vocabulary entry: sky/);
    usage(['--mode', 'attention', '--vocab', 'red,blue|red'], /"red" is in vocabulary entries 1 and 2/);
  });
});
