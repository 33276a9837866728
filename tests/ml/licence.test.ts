// A bundle says under which licence its weights may be used: the user states it at conversion (API option, CLI
// --licence); a bundle made before the field existed, or converted without it, reads as "unknown".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertCheckpoint, readManifest } from '../../src/core/ml/bundle';
import { tempDir } from '../helpers/folder';
import { golden, REPO_ROOT } from './weights.helpers';

let tmp: ReturnType<typeof tempDir>;
let src: string; // a diffusers folder holding only the golden VAE: converts in well under a second

beforeAll(() => {
  tmp = tempDir('difflabel-licence-');
  src = join(tmp.path, 'vae-src');
  mkdirSync(src);
  symlinkSync(golden('vae_C'), join(src, 'vae'));
});
afterAll(() => tmp.cleanup());

describe('the licence of a bundle', () => {
  it('is written as given, trimmed, and read back', async () => {
    const { manifest } = await convertCheckpoint(src, join(tmp.path, 'given'), { licence: '  CreativeML Open RAIL-M ' });
    expect(manifest.licence).toBe('CreativeML Open RAIL-M');
    expect(JSON.parse(readFileSync(join(tmp.path, 'given', 'bundle.json'), 'utf8')).licence).toBe('CreativeML Open RAIL-M');
    expect(readManifest(join(tmp.path, 'given')).licence).toBe('CreativeML Open RAIL-M');
  });

  it('is "unknown" when not given, and for a bundle.json written before the field existed', async () => {
    const { manifest } = await convertCheckpoint(src, join(tmp.path, 'unstated'), { licence: '   ' });
    expect(manifest.licence).toBe('unknown');
    const path = join(tmp.path, 'unstated', 'bundle.json');
    const { licence: _gone, ...old } = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    writeFileSync(path, JSON.stringify(old));
    expect(readManifest(join(tmp.path, 'unstated')).licence).toBe('unknown');
  });

  it('models convert --licence writes it', () => {
    const out = join(tmp.path, 'from-cli');
    const r = spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'node'), [join(REPO_ROOT, 'bin', 'difflabel.mjs'), 'models', 'convert', src, '--out', out, '--licence', 'Apache-2.0'], {
      cwd: REPO_ROOT, encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(readManifest(out).licence).toBe('Apache-2.0');
  });
});
