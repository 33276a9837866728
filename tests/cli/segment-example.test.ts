// `segment --pipeline refldmseg` with an example: one of the project's masks (`--example <image>:<id>`), or a mask PNG
// over one of its images (`--example-image` + `--example-mask`, stored as a mask and an example, reused on a rerun);
// an image or mask that is not there is said in words, with exit 1; options that do not fit are usage errors (2).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectStore, indexFolder } from '../../src/core/project';
import { encode, maskFields } from '../../src/shared/masks';
import { tempDir } from '../helpers/folder';
import { annotationPixels } from '../pipelines/diffseg/helpers';
import { iou, query, scene, support, writeScene, RED } from '../pipelines/refldmseg/scenes';

const root = join(__dirname, '..', '..');
const cli = (...args: string[]) =>
  spawnSync(join(root, 'node_modules', '.bin', 'node'), [join(root, 'bin', 'difflabel.mjs'), ...args], { encoding: 'utf8', cwd: root });

const dir = tempDir();
const folder = join(dir.path, 'scenes');
const ex = support();
const q = query();
let disk: number;

beforeAll(async () => {
  mkdirSync(folder);
  await writeScene(join(folder, 'example.png'), ex);
  await writeScene(join(folder, 'q1.png'), q);
  // The example's mask as a PNG (red on black), an all-black one and one of another size.
  const black = { kind: 'rect', x0: 0, y0: 0, x1: 200, y1: 160, colour: [0, 0, 0] } as const;
  await writeScene(join(dir.path, 'mask.png'), scene(200, 160, [black, { kind: 'disk', cx: 100, cy: 80, r: 50, colour: RED }]));
  await writeScene(join(dir.path, 'empty.png'), scene(200, 160, [black]));
  await writeScene(join(dir.path, 'small.png'), scene(20, 16, []));
  const store = ProjectStore.open(folder);
  try {
    await indexFolder(store);
    const img = store.getImageByPath('example.png')!;
    const cat = store.addCategory({ name: 'red thing' });
    disk = store.addAnnotation({ imageId: img.id, categoryId: cat.id, source: 'manual', ...maskFields(encode(ex.masks[0]!, 160, 200)) }).id;
  } finally {
    store.close();
  }
});
afterAll(() => dir.cleanup());

/** The proposals on q1.png and what its last run's prompt recorded. */
function q1() {
  const store = ProjectStore.open(folder);
  try {
    const id = store.getImageByPath('q1.png')!.id;
    const runs = store.listRuns({ imageId: id, pipeline: 'refldmseg' });
    return {
      runs: runs.length,
      proposals: store.listAnnotations({ imageId: id }).filter((a) => a.categoryId === null),
      prompt: store.listPrompts({ runId: runs.at(-1)!.id })[0]?.payload as { annotationId: number; example: { categoryId: number | null } },
      examples: store.listExamples(),
      exampleMasks: store.listAnnotations({ imageId: store.getImageByPath('example.png')!.id }),
    };
  } finally {
    store.close();
  }
}

describe('segment with an example', () => {
  it('--example <image>:<id> finds the red square in the other images, offered in the example\'s category', () => {
    const r = cli('segment', folder, '--pipeline', 'refldmseg', '--model', 'fixture', '--example', `example.png:${disk}`, '--images', 'q1.png', '--json');
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ pipeline: 'refldmseg', segmented: 1, proposals: 1, failed: [] });
    const { proposals, prompt } = q1();
    expect(proposals).toHaveLength(1);
    expect(iou(annotationPixels(proposals[0]!), q.masks[0]!)).toBeGreaterThanOrEqual(0.9);
    expect(prompt).toMatchObject({ annotationId: disk, example: { categoryId: expect.any(Number) } });
  });

  it('says which image or annotation is not there (exit 1), and runs nothing', () => {
    let r = cli('segment', folder, '--pipeline', 'refldmseg', '--model', 'fixture', '--example', `nope.png:${disk}`);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error: no image nope\.png in .*scenes \(the example's image must be one of the project's\)\n$/);
    r = cli('segment', folder, '--pipeline', 'refldmseg', '--model', 'fixture', '--example', 'q1.png:9999');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error: q1\.png has no annotation 9999; its annotations: \d+\n$/);
    r = cli('segment', folder, '--pipeline', 'refldmseg', '--model', 'fixture', '--example', `q1.png:${disk}`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`q1.png has no annotation ${disk} (it is a mask of example.png)`);
    expect(q1().runs).toBe(1);
  });

  it('refuses options that do not fit as usage errors (exit 2)', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--example', 'example.png'], /--example takes <image path>:<annotation id>/],
      [['--example-image', 'example.png'], /--example-image and --example-mask go together/],
      [['--example', `example.png:${disk}`, '--prompt', `{"kind":"example","annotationId":${disk}}`], /give it or --prompt, not both/],
    ];
    for (const [args, message] of cases) {
      const r = cli('segment', folder, '--pipeline', 'refldmseg', '--model', 'fixture', ...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const r = cli('segment', folder, '--pipeline', 'diffseg', '--model', 'fixture', '--example', `example.png:${disk}`);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/takes no example/);
  });

  it('--example-image with --example-mask takes the labeler\'s mask of the same pixels as the example: the same prompt, so the run resumes', () => {
    const r = cli('segment', folder, '--pipeline', 'refldmseg', '--model', 'fixture', '--example-image', 'example.png', '--example-mask', join(dir.path, 'mask.png'), '--images', 'q1.png', '--json');
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    // q1.png was segmented from this example by --example above.
    expect(JSON.parse(r.stdout)).toMatchObject({ segmented: 0, skipped: 1, proposals: 0 });
    const s = q1();
    expect(s.exampleMasks.map((a) => a.id)).toEqual([disk]);
    expect(s.examples).toEqual([expect.objectContaining({ annotationId: disk })]);
    expect(s.runs).toBe(1);
  });

  it('stores a PNG mask that is new as a mask of its image (source "example", unassigned) and marks it as an example', async () => {
    // The left half of q1.png's red square, white on black: no mask of q1.png has these pixels yet.
    const file = join(dir.path, 'half-square.png');
    const white = [255, 255, 255];
    await writeScene(file, scene(512, 384, [{ kind: 'rect', x0: 0, y0: 0, x1: 512, y1: 384, colour: [0, 0, 0] }, { kind: 'rect', x0: 64, y0: 80, x1: 136, y1: 224, colour: white }]));
    const r = cli('segment', folder, '--pipeline', 'refldmseg', '--model', 'fixture', '--example-image', 'q1.png', '--example-mask', file, '--images', 'example.png');
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    const store = ProjectStore.open(folder);
    try {
      const added = store.listAnnotations({ imageId: store.getImageByPath('q1.png')!.id }).filter((a) => a.source === 'example');
      expect(added).toEqual([expect.objectContaining({ categoryId: null, area: 72 * 144, bbox: [64, 80, 72, 144] })]);
      expect(store.listExamples()).toContainEqual(expect.objectContaining({ annotationId: added[0]!.id }));
    } finally {
      store.close();
    }
  });

  it('refuses a mask PNG of another size, or an empty one (exit 1), storing nothing', () => {
    const before = q1();
    for (const [file, message] of [
      ['small.png', /the example mask .*small\.png is 20×16, its image example\.png 200×160: they must be the same size/],
      ['empty.png', /the example mask .*empty\.png is empty \(all zero\)/],
    ] as const) {
      const r = cli('segment', folder, '--pipeline', 'refldmseg', '--model', 'fixture', '--example-image', 'example.png', '--example-mask', join(dir.path, file));
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(message);
    }
    const after = q1();
    expect(after.exampleMasks).toEqual(before.exampleMasks);
    expect(after.examples).toEqual(before.examples);
  });
});
