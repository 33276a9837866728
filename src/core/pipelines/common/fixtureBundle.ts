// Test fixture bundles (each pipeline's stand-in model) are written like converted ones: built in a folder beside their
// place, bundle.json last, then renamed in, so a run killed half way leaves nothing that looks whole, and two
// processes writing the same fixture at once both end with one whole folder.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_FILE, type BundleManifest } from '../../ml/bundle/schema';

/** Writes the bundle at `dir`: `fill` writes its files into the (empty) folder it is given and returns bundle.json. */
export async function writeBundleFolder(dir: string, fill: (folder: string) => Promise<BundleManifest>): Promise<string> {
  const tmp = `${dir}.partial-${process.pid}-${Date.now().toString(36)}`;
  mkdirSync(tmp, { recursive: true });
  try {
    const manifest = await fill(tmp);
    writeFileSync(join(tmp, BUNDLE_FILE), JSON.stringify(manifest, null, 2) + '\n');
    rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // Another process finished the same folder first: theirs is identical.
      if (!existsSync(join(dir, BUNDLE_FILE))) throw e;
      rmSync(tmp, { recursive: true, force: true });
    }
    return dir;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** The fixture bundle at `dir`, written by `write` on first use. */
export async function fixtureBundleAt(dir: string, write: (dir: string) => Promise<string>): Promise<string> {
  return existsSync(join(dir, BUNDLE_FILE)) ? dir : write(dir);
}
