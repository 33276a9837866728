// An ODISE bundle from three small released-style files (tiny SD parts unet_A / vae_C / clip_D, the tiny CLIP tower
// clip_vision_V in openai's names, a label checkpoint at toy widths): it builds, verifies, lists each component's
// licence, and a mismatched checkpoint leaves nothing behind.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertOdise, ODISE_LICENCES } from '../../src/core/ml/bundle/odise';
import { listBundles, readManifest, verifyBundle } from '../../src/core/ml/bundle';
import { encodeSafetensors, SafetensorsFile } from '../../src/core/ml/weights';
import { checkpointTensors, TINY_CONFIGS, TINY_HEADS, tinyOdiseFiles } from './odise.helpers';
import { REPO_ROOT } from './weights.helpers';

const dir = mkdtempSync(join(tmpdir(), 'odise-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, bytes: Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};

describe('ODISE bundle', () => {
  const files = tinyOdiseFiles(dir);

  it('writes the window graphs, the heads, MaskCLIP, the text tower, the tokenizer and the constants; verifies; lists every licence', async () => {
    const out = join(dir, 'models', 'odise');
    const steps: string[] = [];
    const { manifest } = await convertOdise(files, out, { configs: TINY_CONFIGS, shortSide: 128, onProgress: (_d, _t, s) => steps.push(s) });
    expect(Object.keys(manifest.components)).toEqual(['odise_captioner', 'odise_vae', 'unet_odise', 'odise_projection', 'pixel_decoder', 'transformer_decoder', 'mask_clip', 'text_encoder']);
    expect(steps.at(-1)).toBe('done');
    expect(manifest.source.kind).toBe('odise');
    expect(manifest.tokenizer).toMatchObject({ format: 'bpe-gz', bpe: 'tokenizer/bpe_fixture.txt.gz', pad: 'zero', contextLength: 77 });
    expect(manifest.odise).toMatchObject({ shortSide: 128, maxSize: 2560, sizeDivisibility: 64, window: 64, clipLogitScale: 100, constants: { path: 'odise_constants.safetensors' } });
    expect(manifest.components['text_encoder']!.outputs.map((o) => o.name)).toContain('text_embeds');
    expect(manifest.components['transformer_decoder']!.outputs.map((o) => o.name)).toEqual(expect.arrayContaining(['pred_masks', 'mask_embed', 'logit_scale']));

    const constants = SafetensorsFile.open(join(out, 'odise_constants.safetensors'));
    expect(Object.fromEntries(constants.keys().map((k) => [k, constants.info(k).shape]))).toEqual({
      empty_context: [1, 77, 32], null_embed: [1, 24], 'text_proj.bias': [32], 'text_proj.weight': [32, 24],
    });
    expect(Array.from(constants.readFloat32('null_embed'))).toEqual(Array.from(checkpointTensors(TINY_HEADS)['category_head.null_embed']!.data as Float32Array));
    constants.close();

    const report = await verifyBundle(out);
    expect(report.components.map((c) => c.key)).toEqual(Object.keys(manifest.components));
    expect(report.files).toBe(Object.values(manifest.components).flatMap((c) => c.files.map((f) => f.path)).filter((p, i, a) => a.indexOf(p) === i).length + 2); // + bpe + constants

    const [listed] = listBundles(join(dir, 'models'));
    expect(listed!.licence).toBe(ODISE_LICENCES.odise);
    expect(listed!.componentLicences).toEqual({
      odise_vae: ODISE_LICENCES.sd, unet_odise: ODISE_LICENCES.sd, mask_clip: ODISE_LICENCES.clip, text_encoder: ODISE_LICENCES.clip,
    });
  });

  it("reads ODISE's training labels into the bundle (invalid_class_id skipped), warns without them, refuses a file in another format by line", async () => {
    const labels = join(dir, 'coco_panoptic_with_prompt_eng.txt');
    writeFileSync(labels, '0:invalid_class_id\n1:person,child,girl\n2:bicycle,bike\r\n\n3:car\n');
    const out = join(dir, 'models', 'odise-trained');
    const { manifest } = await convertOdise({ ...files, trainingLabels: labels }, out, { configs: TINY_CONFIGS });
    expect(manifest.odise!.trainingVocabulary).toEqual([['person', 'child', 'girl'], ['bicycle', 'bike'], ['car']]);
    expect(manifest.source.files.map((f) => f.path)).toContain(labels);
    expect(manifest.warnings.join('\n')).not.toMatch(/training labels/);
    expect(readManifest(out).odise!.trainingVocabulary).toHaveLength(3);

    const plain = readManifest(join(dir, 'models', 'odise'));
    expect(plain.odise!.trainingVocabulary).toBeUndefined();
    expect(plain.warnings).toContain("no training labels (ODISE's openseg_labels/coco_panoptic_with_prompt_eng.txt): every class is weighed as new to the model (β 0.7, never α 0.3)");

    const bad = join(dir, 'labels.json');
    writeFileSync(bad, '1:person\n["person"]\n');
    await expect(convertOdise({ ...files, trainingLabels: bad }, join(dir, 'models', 'bad'), { configs: TINY_CONFIGS })).rejects.toThrow(
      `${bad}:2: expected "id:name,synonym,…" (ODISE's openseg_labels format), found "[\\"person\\"]"`,
    );
    await expect(convertOdise({ ...files, trainingLabels: join(dir, 'nope.txt') }, join(dir, 'models', 'bad'), { configs: TINY_CONFIGS })).rejects.toThrow(/nope\.txt: cannot read the training labels \(ENOENT\)/);
    expect(existsSync(join(dir, 'models', 'bad'))).toBe(false);
  });

  it('verification finds a changed constants file', async () => {
    const out = join(dir, 'models2', 'odise');
    await convertOdise(files, out, { configs: TINY_CONFIGS });
    writeFileSync(join(out, 'odise_constants.safetensors'), Buffer.alloc(10));
    await expect(verifyBundle(out)).rejects.toMatchObject({ problems: [expect.stringMatching(/^odise_constants\.safetensors: 10 bytes, bundle\.json says \d+ \(truncated or replaced\)$/)] });
  });

  it('verification finds an ODISE bundle without a graph its pipeline reads', async () => {
    const out = join(dir, 'models4', 'odise');
    const { manifest } = await convertOdise(files, out, { configs: TINY_CONFIGS });
    const { mask_clip: _, ...components } = manifest.components;
    writeFileSync(join(out, 'bundle.json'), JSON.stringify({ ...manifest, components }));
    await expect(verifyBundle(out)).rejects.toMatchObject({ problems: ['odise: the bundle lacks mask_clip'] });
  });

  it('refuses an SD checkpoint whose taps the projections do not take, leaving no folder behind', async () => {
    const out = join(dir, 'models3', 'odise');
    const wrong = { ...TINY_CONFIGS, heads: { ...TINY_HEADS, featureDims: [32, 32, 64, 48, 32, 32, 32, 16] } };
    const ck = write('wrong.safetensors', encodeSafetensors(checkpointTensors(wrong.heads)));
    await expect(convertOdise({ ...files, checkpoint: ck }, out, { configs: wrong })).rejects.toThrow(
      "the SD checkpoint's taps are 32, 32, 64, 48, 32, 32, 32, 32 channels wide, the ODISE checkpoint's projections take 32, 32, 64, 48, 32, 32, 32, 16",
    );
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(join(dir, 'models3'))).toEqual([]);
  });

  it('models convert --odise: names a missing file flag, refuses flags of other sources, and a checkpoint of another architecture by file and key', () => {
    const cli = (...args: string[]) => spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'node'), [join(REPO_ROOT, 'bin', 'difflabel.mjs'), 'models', 'convert', ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
    const out = join(dir, 'cli', 'odise');
    const noBpe = cli('--odise', files.checkpoint, '--sd', files.sd, '--clip', files.clip, '--out', out);
    expect(noBpe.status).toBe(1);
    expect(noBpe.stderr).toBe("error: --odise needs --bpe (open_clip's bpe_simple_vocab_16e6.txt.gz: none of ODISE's files holds a tokenizer)\n");
    const mixed = cli('--odise', files.checkpoint, '--sd', files.sd, '--clip', files.clip, '--bpe', files.bpe, '--vae', files.sd, '--out', out);
    expect(mixed.stderr).toBe("error: --odise converts ODISE's released files: leave out --vae\n");
    const stray = cli(files.sd, '--clip', files.clip, '--out', out);
    expect(stray.stderr).toBe('error: --sd, --clip, --bpe and --training-labels go with --odise\n');
    // the CLI reads ODISE's own architecture: the toy checkpoint is refused before anything is written
    const toy = cli('--odise', files.checkpoint, '--sd', files.sd, '--clip', files.clip, '--bpe', files.bpe, '--out', out);
    expect(toy.status).toBe(1);
    expect(toy.stderr).toMatch(new RegExp(`^error: ${files.checkpoint.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: sem_seg_head\\.pixel_decoder\\. \\(sem_seg_head\\.pixel_decoder\\.\\) does not match its config`));
    expect(toy.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(dir, 'cli'))).toBe(false);
  });
});
