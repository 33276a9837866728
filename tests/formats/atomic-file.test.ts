// The atomic file writer: the target is replaced only by a complete, synced file; a failure or a cancel
// removes the temporary file and leaves the target as it was.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/core/formats/atomic-file';
import { tempDir } from '../helpers/folder';

let dir: ReturnType<typeof tempDir>;
let target: string;
const MiB = 'x'.repeat(1 << 20);

beforeEach(() => {
  dir = tempDir();
  target = join(dir.path, 'out.json');
  writeFileSync(target, 'previous content');
});
afterEach(() => dir.cleanup());

describe('writeFileAtomic', () => {
  it('replaces the target with everything the chunks hold', async () => {
    await writeFileAtomic(target, ['{"a":', '1', '}']);
    expect(readFileSync(target, 'utf8')).toBe('{"a":1}');
    await writeFileAtomic(join(dir.path, 'new.json'), (function* () {
      for (let i = 0; i < 5; i++) yield MiB;
    })());
    expect(readFileSync(join(dir.path, 'new.json')).length).toBe(5 << 20);
    expect(readdirSync(dir.path).sort()).toEqual(['new.json', 'out.json']);
  });

  it('writes byte chunks as they are, beside text chunks as UTF-8', async () => {
    await writeFileAtomic(target, [Uint8Array.of(0x89, 0x50, 0x00, 0xff), 'é']);
    expect([...readFileSync(target)]).toEqual([0x89, 0x50, 0x00, 0xff, 0xc3, 0xa9]);
  });

  it('a failure while producing the content leaves the target as it was and no temporary file', async () => {
    function* failing() {
      for (let i = 0; i < 3; i++) yield MiB;
      throw new Error('EIO: i/o error, read');
    }
    await expect(writeFileAtomic(target, failing())).rejects.toThrow(/EIO/);
    expect(readFileSync(target, 'utf8')).toBe('previous content');
    expect(readdirSync(dir.path)).toEqual(['out.json']);
  });

  it('a cancel stops the write, leaves the target as it was and no temporary file', async () => {
    const controller = new AbortController();
    let produced = 0;
    async function* slow() {
      for (let i = 0; i < 100; i++) {
        produced++;
        if (i === 3) controller.abort();
        await new Promise((ok) => setTimeout(ok, 1));
        yield MiB;
      }
    }
    await expect(writeFileAtomic(target, slow(), { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(produced).toBeLessThan(10);
    expect(readFileSync(target, 'utf8')).toBe('previous content');
    expect(readdirSync(dir.path)).toEqual(['out.json']);
  });

  it('a folder that does not exist fails with ENOENT and creates nothing', async () => {
    await expect(writeFileAtomic(join(dir.path, 'nope', 'out.json'), ['{}'])).rejects.toMatchObject({ code: 'ENOENT' });
    expect(readdirSync(dir.path)).toEqual(['out.json']);
  });
});
