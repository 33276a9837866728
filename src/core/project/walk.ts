// Recursive folder walk: hidden entries (and so .difflabel) are skipped, and so is a folder DiffLabel exported a
// dataset into (it holds EXPORT_MARKER: its label PNGs and copied images are not the project's images); symlinks are followed once
// (directories are tracked by device+inode, so link loops end). What cannot be seen — a folder that cannot be
// listed, a link whose target is gone (an unmounted disk) — is reported, so its files are not taken as deleted.
import { readdir, readlink, stat } from 'node:fs/promises';
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
  /** Relative directories that could not be listed ('' = the root), with the error code. */
  unreadableDirs: Array<{ path: string; reason: string }>;
  /** Relative symlinks whose target cannot be reached, with the target as written in the link. */
  danglingLinks: Array<{ path: string; target: string }>;
}

/** Written into every dataset folder DiffLabel exports; the walk skips a folder that holds it (not the root itself). */
export const EXPORT_MARKER = '.difflabel-export';

export async function walkFolder(root: string, signal?: AbortSignal): Promise<WalkResult> {
  const files: FoundFile[] = [];
  const unreadableDirs: WalkResult['unreadableDirs'] = [];
  const danglingLinks: WalkResult['danglingLinks'] = [];
  const seenDirs = new Set<string>();
  const rootStat = await stat(root);
  seenDirs.add(`${rootStat.dev}:${rootStat.ino}`);

  async function visit(abs: string, rel: string): Promise<void> {
    signal?.throwIfAborted();
    let entries;
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch (e) {
      unreadableDirs.push({ path: rel, reason: errorCode(e) });
      return;
    }
    if (rel && entries.some((e) => e.name === EXPORT_MARKER)) return;
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
          // A file that vanished meanwhile is simply not there; a link that leads nowhere may lead somewhere again.
          const target = e.isSymbolicLink() ? await readlink(childAbs).catch(() => null) : null;
          if (target !== null) danglingLinks.push({ path: childRel, target });
          return;
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
  const byPath = <T extends { path: string }>(a: T, b: T) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  return { files: files.sort(byPath), unreadableDirs: unreadableDirs.sort(byPath), danglingLinks: danglingLinks.sort(byPath) };
}

function errorCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}
