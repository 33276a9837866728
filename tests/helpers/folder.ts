// Generated image folders for tests: real files written with sharp, known sizes and colours.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';

export function tempDir(prefix = 'difflabel-test-'): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export async function writeImage(
  file: string,
  width: number,
  height: number,
  format: 'png' | 'jpeg' | 'webp' | 'tiff' | 'gif' = 'png',
  color = { r: 200, g: 80, b: 40 },
): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  const img = sharp({ create: { width, height, channels: 3, background: color } });
  const buf = await (format === 'jpeg' ? img.jpeg() : format === 'webp' ? img.webp() : format === 'tiff' ? img.tiff() : format === 'gif' ? img.gif() : img.png()).toBuffer();
  writeFileSync(file, buf);
}

/** A folder with `n` small PNGs named img000.png… (in two subfolders), sizes varying with the index. */
export async function makeImageFolder(root: string, n: number, size = (i: number) => [40 + (i % 7), 30 + (i % 5)]): Promise<string[]> {
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    const rel = `${i % 2 ? 'b' : 'a'}/img${String(i).padStart(3, '0')}.png`;
    const [w, h] = size(i);
    await writeImage(join(root, rel), w!, h!, 'png', { r: (i * 37) % 256, g: (i * 91) % 256, b: 120 });
    paths.push(rel);
  }
  return paths;
}
