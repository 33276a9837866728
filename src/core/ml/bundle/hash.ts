// Streaming sha256 of files (multi-GB weights never sit in memory) and the file entries bundle.json records.
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { relative, sep } from 'node:path';
import type { FileEntry } from './schema';

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** `path` relative to `root`, always with forward slashes (bundles move between platforms). */
export function relPath(root: string, path: string): string {
  return relative(root, path).split(sep).join('/');
}

export async function fileEntry(root: string, path: string): Promise<FileEntry> {
  return { path: relPath(root, path), bytes: statSync(path).size, sha256: await sha256File(path) };
}
