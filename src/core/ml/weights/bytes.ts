// Byte ranges of a weights file read on demand: checkpoints are gigabytes and are read one tensor at a time.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export interface ByteSource {
  size: number;
  /** Bytes [pos, pos+len) in a fresh, aligned buffer. */
  read(pos: number, len: number): Uint8Array;
  close(): void;
}

const CHUNK = 1 << 30; // readSync refuses lengths over 2 GiB

/** `onShort` makes the error for a file that ends before `pos + len` (it shrank, or a caller skipped a bounds check). */
export function fileBytes(path: string, onShort: () => Error): ByteSource {
  const fd = openSync(path, 'r');
  const size = fstatSync(fd).size;
  return {
    size,
    read(pos, len) {
      const out = new Uint8Array(len);
      let done = 0;
      while (done < len) {
        const n = readSync(fd, out, done, Math.min(len - done, CHUNK), pos + done);
        if (n === 0) throw onShort();
        done += n;
      }
      return out;
    },
    close: () => closeSync(fd),
  };
}

export function bufferBytes(buf: Uint8Array): ByteSource {
  return { size: buf.length, read: (pos, len) => buf.slice(pos, pos + len), close: () => {} };
}
