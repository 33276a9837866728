// A small RAM disk for tests of full and read-only disks: root can mount tmpfs (Linux); elsewhere `mountTmpfs`
// answers why not, and the test is skipped with that reason.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  dir: string;
  remount(mode: 'ro' | 'rw'): void;
  /** Writes a file until the disk is full; returns its path (remove it to free the space). */
  fill(): string;
  unmount(): void;
}

function mountOrWhy(sizeBytes: number): Tmpfs | string {
  if (process.platform !== 'linux') return 'tmpfs needs Linux';
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const dir = mkdtempSync(join(tmpdir(), 'difflabel-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    return `mount -t tmpfs failed: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`;
  }
  return {
    dir,
    remount: (mode) => execFileSync('mount', ['-o', `remount,${mode}`, dir]),
    fill: () => {
      const path = join(dir, 'filler');
      // dd stops at ENOSPC and exits non-zero: that is the point.
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${path}`, 'bs=4096'], { stdio: 'ignore' });
      } catch {}
      return path;
    },
    unmount: () => {
      execFileSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The mount is probed once per test file. */
export function tmpfsProbe(sizeBytes: number): { available: boolean; reason: string; mount(): Tmpfs } {
  const probe = mountOrWhy(sizeBytes);
  if (typeof probe === 'string') return { available: false, reason: probe, mount: () => { throw new Error(probe); } };
  probe.unmount();
  return {
    available: true,
    reason: '',
    mount: () => {
      const m = mountOrWhy(sizeBytes);
      if (typeof m === 'string') throw new Error(m);
      return m;
    },
  };
}
