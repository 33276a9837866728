// Recursive folder walk: hidden entries (and so .difflabel) are skipped, symlinks are followed once
// (directories are tracked by device+inode, so link loops end).
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface FoundFile {
  /** Relative to the root, '/' separators. */
  path: string;
  abs: string;
  bytes: number;
  mtimeMs: number;
}

export interface WalkResult {
  files: FoundFile[];
  /** Relative directories that could not be listed: what was indexed under them must not be taken as deleted. */
  unreadableDirs: string[];
}

export async function walkFolder(root: string, signal?: AbortSignal): Promise<WalkResult> {
  const files: FoundFile[] = [];
  const unreadableDirs: string[] = [];
  const seenDirs = new Set<string>();
  const rootStat = await stat(root);
  seenDirs.add(`${rootStat.dev}:${rootStat.ino}`);

  async function visit(abs: string, rel: string): Promise<void> {
    signal?.throwIfAborted();
    let entries;
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch {
      unreadableDirs.push(rel);
      return;
    }
    const subdirs: Array<[string, string]> = [];
    await Promise.all(
      entries.map(async (e) => {
        if (e.name.startsWith('.')) return;
        if (!e.isFile() && !e.isDirectory() && !e.isSymbolicLink()) return; // sockets, fifos, devices
        const childAbs = join(abs, e.name);
        const childRel = rel ? `${rel}/${e.name}` : e.name;
        let st;
        try {
          st = await stat(childAbs); // follows links
        } catch {
          return; // broken link or vanished meanwhile
        }
        if (st.isDirectory()) {
          const key = `${st.dev}:${st.ino}`;
          if (seenDirs.has(key)) return;
          seenDirs.add(key);
          subdirs.push([childAbs, childRel]);
        } else if (st.isFile()) {
          files.push({ path: childRel, abs: childAbs, bytes: st.size, mtimeMs: st.mtimeMs });
        }
      }),
    );
    for (const [a, r] of subdirs) await visit(a, r);
  }

  await visit(root, '');
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, unreadableDirs };
}
