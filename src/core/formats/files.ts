// Files the user names for export and import: resolved to real paths (links followed), kept out of places
// they must not reach, and refused with a reason that never quotes what the file holds.
import { open, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { PROJECT_DIR, sniffImageFormat, type ProjectStore } from '../project';

/** The path or file cannot be used for this (wrong place, wrong kind, no such folder): the caller's mistake. */
export class FileRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FileRefusedError';
  }
}

/** Writing failed (disk full, I/O error, cancelled); what was at the path before is untouched. */
export class FileWriteError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FileWriteError';
  }
}

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** The real path `path` names, links resolved; for a file that does not exist yet, its folder's real path and its name. */
export async function realPath(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    return await realpath(abs);
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw new FileRefusedError(`cannot use ${abs}: ${(e as Error).message}`);
  }
  try {
    return join(await realpath(dirname(abs)), basename(abs));
  } catch (e) {
    if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') throw new FileRefusedError(`folder not found: ${dirname(abs)}`);
    throw new FileRefusedError(`cannot use ${abs}: ${(e as Error).message}`);
  }
}

export function isInside(path: string, folder: string): boolean {
  const r = relative(folder, path);
  return r === '' || (r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r));
}

/**
 * Refuses `path` unless it lies in `folder`, links resolved (web mode). A path whose folder does not exist is
 * judged as written, so the answer does not tell whether something exists outside `folder`.
 */
export async function requireInside(path: string, folder: string): Promise<void> {
  let inside: boolean;
  try {
    inside = isInside(await realPath(path), await realpath(folder));
  } catch (e) {
    if (!(e instanceof FileRefusedError)) throw e;
    inside = isInside(resolve(path), resolve(folder));
  }
  if (!inside) throw new FileRefusedError(`web mode reads and writes files only inside the project folder ${folder}`);
}

/** Which existing files an export may replace, from their first bytes. */
export interface Replaceable {
  accepts(head: Uint8Array): boolean;
  /** What it accepts, for the refusal: "a COCO export". */
  what: string;
  /** Its files are images (label PNGs): an image is then judged by `accepts` too, not refused outright. */
  images?: boolean;
}

/** Bytes read from an existing target to tell what it is. */
const HEAD_BYTES = 4096;

/**
 * The real path an export to `path` writes. Refused: anything in the project's .difflabel folder (its database
 * lives there), the project's images, any file whose content is an image, folders and special files, and an
 * existing file that `replaceable` does not take for a previous export. An empty file holds nothing to lose.
 */
export async function exportTarget(store: ProjectStore, path: string, replaceable: Replaceable): Promise<string> {
  const target = await realPath(path);
  const projectDir = await realpath(join(store.folder, PROJECT_DIR));
  if (isInside(target, projectDir)) throw new FileRefusedError(`${path} is inside the project's ${PROJECT_DIR} folder, which holds its database`);
  // An image may be reached through a link, or be indexed but missing: both spellings are checked.
  const folder = await realpath(store.folder);
  for (const [p, root] of [[resolve(path), store.folder], [target, folder]] as const) {
    if (isInside(p, root) && store.getImageByPath(relative(root, p).split(sep).join('/')))
      throw new FileRefusedError(`${path} is an image of the project`);
  }
  let st;
  try {
    st = await stat(target);
  } catch (e) {
    if (errno(e) === 'ENOENT') return target;
    throw new FileRefusedError(`cannot use ${path}: ${(e as Error).message}`);
  }
  if (st.isDirectory()) throw new FileRefusedError(`${path} is a folder`);
  if (!st.isFile()) throw new FileRefusedError(`${path} is not a regular file`);
  if (st.size === 0) return target;
  const head = await readHead(target, path);
  const format = sniffImageFormat(head);
  if (format && !replaceable.images) throw new FileRefusedError(`${path} is an image (${format})`);
  if (!replaceable.accepts(head))
    throw new FileRefusedError(`${path} exists and is not ${replaceable.what}: only a previous export is replaced (choose another name, or move the file away)`);
  return target;
}

async function readHead(file: string, path: string): Promise<Uint8Array> {
  try {
    const f = await open(file, 'r');
    try {
      const { buffer, bytesRead } = await f.read(Buffer.alloc(HEAD_BYTES), 0, HEAD_BYTES, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await f.close();
    }
  } catch (e) {
    throw new FileRefusedError(`cannot read ${path}: ${(e as Error).message}`);
  }
}
