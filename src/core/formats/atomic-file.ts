// Replacing a file atomically: the content goes to a temporary file beside the target, is synced to disk and
// renamed over the target, then the folder is synced. Readers see the old file or the whole new one, never a
// part, even after a crash; a failure (disk full, I/O error, cancel) removes the temporary file and leaves the
// target as it was.
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Chunks are gathered into writes of about this many characters (or bytes): few system calls, little memory. */
const BATCH_CHARS = 1 << 20;

/**
 * Writes `chunks` (strings as UTF-8, bytes as they are) to `target` atomically. The folder must exist; `target`, if it exists, is replaced
 * (a link at `target` is replaced by the file: resolve links first to write through them).
 */
export async function writeFileAtomic(
  target: string,
  chunks: Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>,
  opts: { signal?: AbortSignal } = {},
): Promise<void> {
  const folder = dirname(target);
  const temp = join(folder, `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const file = await open(temp, 'wx');
  let fileOpen = true;
  try {
    let batch: Array<string | Uint8Array> = [];
    let chars = 0;
    const flush = async () => {
      // Checked before each write: a cancel arrives while a write is in flight.
      opts.signal?.throwIfAborted();
      const data = Buffer.concat(batch.map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c)));
      batch = [];
      chars = 0;
      for (let at = 0; at < data.length; ) at += (await file.write(data, at)).bytesWritten;
    };
    for await (const chunk of chunks) {
      batch.push(chunk);
      chars += chunk.length;
      if (chars >= BATCH_CHARS) await flush();
    }
    await flush();
    await file.sync();
    fileOpen = false;
    await file.close();
    await rename(temp, target);
  } catch (e) {
    if (fileOpen) await file.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw e;
  }
  await syncFolder(folder);
}

/** Makes the rename itself durable. Windows cannot open a folder to sync it (NTFS journals the rename). */
export async function syncFolder(folder: string): Promise<void> {
  if (process.platform === 'win32') return;
  const dir = await open(folder, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
