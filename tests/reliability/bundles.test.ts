// Hostile and broken model bundles: `models verify`, `listBundles` and opening a bundle for DiffSeg each refuse
// them with a message that names the problem, never quote the bytes of a file the bundle points at, never follow
// a link out of the bundle, and write nothing (the bundle folder is byte-identical afterwards).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BundleError, listBundles, readManifest, verifyBundle, type BundleManifest } from '../../src/core/ml/bundle';
import { SessionManager } from '../../src/core/ml/runtime';
import { writeFixtureBundle } from '../../src/core/pipelines/diffseg/fixture';
import { openBundleModels } from '../../src/core/pipelines/diffseg/models';
import { tempDir } from '../helpers/folder';
import { matmulModelExternal } from '../ml/fixtures/onnxModels';

const SECRET = 'TOPSECRET';
let tmp: ReturnType<typeof tempDir>;
let fixture: string;
let outside: string;
const host = new SessionManager({ providers: ['cpu'] });

beforeAll(async () => {
  tmp = tempDir('difflabel-reliability-bundles-');
  fixture = await writeFixtureBundle(join(tmp.path, 'fixture'));
  await verifyBundle(fixture);
  outside = join(tmp.path, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), `${SECRET} {"api_key": "${SECRET}"}\n`);
});
afterAll(async () => {
  await host.dispose();
  tmp.cleanup();
});

let n = 0;
/** A copy of the fixture bundle in its own models folder (so listBundles sees only it). */
function bundle(): string {
  const d = join(tmp.path, `models-${n++}`, 'b');
  cpSync(fixture, d, { recursive: true });
  return d;
}
const manifestOf = (d: string) => JSON.parse(readFileSync(join(d, 'bundle.json'), 'utf8')) as BundleManifest;
const writeManifest = (d: string, m: unknown) => writeFileSync(join(d, 'bundle.json'), typeof m === 'string' ? m : JSON.stringify(m));
const entry = (d: string, path: string) => {
  const bytes = readFileSync(join(d, path));
  return { path, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
};
function replaceByLink(d: string, rel: string, target: string) {
  rmSync(join(d, rel), { recursive: true });
  symlinkSync(target, join(d, rel));
}

/** Every entry under `dir`, links as links (path -> content, or '-> target'). */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isSymbolicLink()) files[relative(dir, p)] = '-> link';
      else if (e.isDirectory()) walk(p);
      else if (e.isFile()) files[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
      else files[relative(dir, p)] = 'special';
    }
  };
  walk(dir);
  return files;
}

/**
 * verifyBundle, listBundles and openBundleModels all refuse `d`; verify's message matches `pattern`; no message
 * holds the secret; the folder is unchanged. `opened` is false where opening does not reach the damage (contents
 * that only verify's checksums and loads can see).
 */
async function refused(d: string, pattern: RegExp, o: { opened?: boolean; listed?: boolean } = {}): Promise<BundleError> {
  const before = snapshot(d);
  const err = await verifyBundle(d).then(() => null, (e: unknown) => e);
  expect(err, `${d} verified`).toBeInstanceOf(BundleError);
  expect((err as Error).message).toMatch(pattern);
  const listing = listBundles(join(d, '..'));
  expect(listing.map((b) => b.ok)).toEqual([o.listed ?? false]);
  const open = await Promise.resolve().then(() => openBundleModels(d, { host })).then(() => null, (e: unknown) => e);
  if (o.opened !== true) expect(open, 'opened for inference').toBeInstanceOf(BundleError);
  for (const text of [(err as Error).message, listing[0]!.error ?? '', (open as Error | null)?.message ?? ''])
    expect(text).not.toContain(SECRET);
  expect(snapshot(d)).toEqual(before);
  return err as BundleError;
}

describe('bundle.json', () => {
  it('not JSON: refused without quoting it', async () => {
    const d = bundle();
    writeManifest(d, readFileSync(join(outside, 'secret.txt'), 'utf8'));
    const e = await refused(d, /bundle\.json: not valid JSON \(at character \d+\)$/);
    expect(e.message).not.toMatch(/Unexpected token/);
  });

  it('not an object: an array, a number, null, a string', async () => {
    for (const text of [`["${SECRET}"]`, '42', 'null', `"${SECRET}"`]) {
      const d = bundle();
      writeManifest(d, text);
      await refused(d, /bundle\.json is not a valid bundle manifest:\n {2}- \(root\): Invalid input: expected object/);
    }
  });

  it('far too large: refused by its size, not read', async () => {
    const d = bundle();
    truncateSync(join(d, 'bundle.json'), 64 << 20); // sparse: the test writes no 64 MB
    await refused(d, /bundle\.json is 67108864 bytes, too large for a bundle manifest/);
  });

  it('from a newer DiffLabel', async () => {
    const d = bundle();
    writeManifest(d, { ...manifestOf(d), formatVersion: 2 });
    await refused(d, /has format version 2, newer than this DiffLabel reads \(1\): update DiffLabel/);
  });

  it('paths that point outside the bundle: .., absolute, backslashes, in models and tokenizer', async () => {
    const cases: [string, (m: BundleManifest) => void][] = [
      ['components.vae_encoder.model', (m) => void (m.components.vae_encoder!.model = '../outside/secret.txt')],
      ['components.text_encoder.files.0.path', (m) => void (m.components.text_encoder!.files[0]!.path = join(outside, 'secret.txt'))],
      ['components.unet_diffseg.model', (m) => void (m.components.unet_diffseg!.model = '..\\..\\outside\\secret.txt')],
      ['tokenizer.bpe', (m) => void (m.tokenizer!.bpe = 'tokenizer/../../../outside/secret.txt')],
    ];
    for (const [where, edit] of cases) {
      const d = bundle();
      const m = manifestOf(d);
      edit(m);
      writeManifest(d, m);
      await refused(d, new RegExp(`${where.replace(/\./g, '\\.')}: must be a relative path inside the bundle`));
    }
  });

  it('a symbolic link (to a file outside, or to a valid manifest)', async () => {
    const d = bundle();
    replaceByLink(d, 'bundle.json', join(outside, 'secret.txt'));
    await refused(d, /bundle\.json is a symbolic link \(a bundle must hold its files itself\)/);
    const e = bundle();
    cpSync(join(e, 'bundle.json'), join(outside, 'valid-bundle.json'));
    replaceByLink(e, 'bundle.json', join(outside, 'valid-bundle.json'));
    await refused(e, /bundle\.json is a symbolic link/);
  });
});

describe('files the bundle names', () => {
  it('a link to a file outside, and a folder linked outside', async () => {
    const d = bundle();
    replaceByLink(d, 'text_encoder.onnx', join(outside, 'secret.txt'));
    expect((await refused(d, /failed verification/)).problems).toEqual(['text_encoder.onnx: a symbolic link (a bundle must hold its files itself)']);
    const e = bundle();
    cpSync(join(e, 'tokenizer'), join(outside, 'tokenizer'), { recursive: true });
    replaceByLink(e, 'tokenizer', join(outside, 'tokenizer'));
    expect((await refused(e, /failed verification/)).problems).toEqual(['tokenizer/bpe_fixture.txt.gz: resolves outside the bundle folder (through a symbolic link)']);
  });

  it('a named pipe where a model should be: refused, not read (which would hang)', async () => {
    const d = bundle();
    rmSync(join(d, 'vae_encoder.onnx'));
    execFileSync('mkfifo', [join(d, 'vae_encoder.onnx')]);
    expect((await refused(d, /failed verification/)).problems).toEqual(['vae_encoder.onnx: not a regular file']);
  });

  it('tampered: a changed byte, a truncated file, a missing file', async () => {
    const d = bundle();
    const p = join(d, 'unet_diffseg.onnx');
    const bytes = readFileSync(p);
    bytes[bytes.length - 3] ^= 0x55;
    writeFileSync(p, bytes);
    truncateSync(join(d, 'tokenizer', 'bpe_fixture.txt.gz'), 5);
    rmSync(join(d, 'text_encoder.onnx'));
    // Opening checks where files are, not what they hold: the checksums are verify's.
    const e = await refused(d, /failed verification/, { opened: true, listed: false });
    expect(e.problems).toEqual([
      'text_encoder.onnx: missing',
      'unet_diffseg.onnx: sha256 checksum mismatch (the file was modified or corrupted)',
      expect.stringMatching(/^tokenizer\/bpe_fixture\.txt\.gz: 5 bytes, bundle\.json says \d+ \(truncated or replaced\)$/),
    ]);
  });

  it('external data that is not listed, or leaves the bundle', async () => {
    for (const loc of ['weights.bin', '../../outside/secret.txt']) {
      const d = bundle();
      const ext = matmulModelExternal(loc, 16);
      writeFileSync(join(d, 'text_encoder.onnx'), ext.model);
      if (!loc.startsWith('..')) for (const [f, b] of Object.entries(ext.files)) writeFileSync(join(d, f), b);
      const m = manifestOf(d);
      m.components.text_encoder!.files = [entry(d, 'text_encoder.onnx')];
      writeManifest(d, m);
      const e = await refused(d, /failed verification/, { listed: true });
      expect(e.problems[0]).toBe(`text_encoder: text_encoder.onnx reads weights from ${JSON.stringify(loc)}, which is not one of its listed files`);
    }
  });

  it("contents a hostile author checksummed: a garbage model, a vocabulary that is someone's secrets", async () => {
    const d = bundle();
    writeFileSync(join(d, 'unet_diffseg.onnx'), `${SECRET}\n`);
    const m = manifestOf(d);
    m.components.unet_diffseg!.files = [entry(d, 'unet_diffseg.onnx')];
    writeFileSync(join(d, 'tokenizer', 'vocab.json'), `{"${SECRET}": "${SECRET}"}`);
    writeFileSync(join(d, 'tokenizer', 'merges.txt'), `#version\n${SECRET} ${SECRET} ${SECRET}\n`);
    m.tokenizer = { format: 'vocab-merges', vocab: 'tokenizer/vocab.json', merges: 'tokenizer/merges.txt', files: [entry(d, 'tokenizer/vocab.json'), entry(d, 'tokenizer/merges.txt')], pad: 'eot', contextLength: 77 };
    writeManifest(d, m);
    const e = await refused(d, /failed verification/, { listed: true });
    expect(e.problems).toEqual([
      'unet_diffseg: unet_diffseg.onnx is not a readable ONNX model',
      expect.stringMatching(/^tokenizer: cannot load the tokenizer \(vocab\.json, merges\.txt\): tokenizer vocabulary .*vocab\.json: entry 1 is not token -> integer id$/),
    ]);
    writeFileSync(join(d, 'tokenizer', 'vocab.json'), `{"a": 1, "${SECRET}": ${SECRET}}`);
    m.tokenizer.files = [entry(d, 'tokenizer/vocab.json'), entry(d, 'tokenizer/merges.txt')];
    writeManifest(d, m);
    expect((await refused(d, /failed verification/, { listed: true })).problems[1]).toMatch(/cannot read tokenizer vocabulary .*vocab\.json: not valid JSON \(at character \d+\)$/);
    const gz = bundle();
    writeFileSync(join(gz, 'tokenizer', 'bpe_fixture.txt.gz'), gzipSync(`#version\n${SECRET} ${SECRET} ${SECRET}\n`));
    const g = manifestOf(gz);
    g.tokenizer!.files = [entry(gz, 'tokenizer/bpe_fixture.txt.gz')];
    writeManifest(gz, g);
    expect((await refused(gz, /failed verification/, { opened: true, listed: true })).problems).toEqual([
      'tokenizer: cannot load the tokenizer (bpe_fixture.txt.gz): merges line 2 is not two tokens "a b"',
    ]);
  });
});

describe('a bundle folder that is a link, under a models folder', () => {
  it('is listed as unreadable, not followed', () => {
    const root = join(tmp.path, 'linked-models');
    mkdirSync(root);
    symlinkSync(fixture, join(root, 'fixture'));
    const [b] = listBundles(root);
    expect(b).toMatchObject({ name: 'fixture', ok: false });
    expect(b!.error).toMatch(/is a symbolic link: bundles must be folders inside the models folder \(point DIFFLABEL_MODELS_DIR at the folder that holds it instead\)/);
    expect(readManifest(fixture).name).toBe('fixture-affinity'); // the bundle itself is fine where it is
  });
});
