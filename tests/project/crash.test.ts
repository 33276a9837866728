// Crash safety: a child process edits the project and acknowledges each call after it returned; we SIGKILL
// it mid-way and check that every acknowledged edit is in the database with its exact values.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProjectStore, type Annotation, type Category } from '../../src/core/project';
import { seedImages, tempFolder } from './helpers';

const ROOT = join(import.meta.dirname, '..', '..');

interface Model {
  annotations: Map<number, Annotation>;
  categories: Map<number, Category>;
}

type Intent =
  | { op: 'addAnnotation' | 'addCategory'; input: Record<string, unknown> }
  | { op: 'updateAnnotation' | 'updateCategory'; id: number; patch: Record<string, unknown> }
  | { op: 'deleteAnnotation' | 'deleteCategory'; id: number };

/** Applies one acknowledged call to the model, from the values the call returned. */
function applyAck(m: Model, intent: Intent, ack: any): void {
  switch (intent.op) {
    case 'addAnnotation':
    case 'updateAnnotation':
      m.annotations.set(ack.id, ack);
      break;
    case 'deleteAnnotation':
      m.annotations.delete(intent.id);
      break;
    case 'addCategory':
    case 'updateCategory':
      m.categories.set(ack.id, ack);
      break;
    case 'deleteCategory':
      m.categories.delete(intent.id);
      for (const a of ack.annotations as Annotation[]) m.annotations.set(a.id, a);
  }
}

/**
 * The state if the unacknowledged last call did commit. Values only the call knew (new id, timestamps) are
 * taken from the database; everything the caller asked for must match.
 */
function applyPending(m: Model, intent: Intent, db: Model): Model {
  const next: Model = { annotations: new Map(m.annotations), categories: new Map(m.categories) };
  switch (intent.op) {
    case 'addAnnotation': {
      const id = Math.max(0, ...db.annotations.keys());
      const got = db.annotations.get(id);
      if (!m.annotations.has(id) && got) {
        // Fields the call did not give (id, timestamps, the store's defaults) come from the database.
        next.annotations.set(id, { ...got, ...(intent.input as object) } as Annotation);
      }
      break;
    }
    case 'updateAnnotation': {
      const cur = m.annotations.get(intent.id)!;
      next.annotations.set(intent.id, { ...cur, ...intent.patch, updatedAt: db.annotations.get(intent.id)?.updatedAt ?? -1 } as Annotation);
      break;
    }
    case 'deleteAnnotation':
      next.annotations.delete(intent.id);
      break;
    case 'addCategory': {
      const id = Math.max(0, ...db.categories.keys());
      const got = db.categories.get(id);
      if (!m.categories.has(id) && got) next.categories.set(id, { ...(intent.input as object), id, color: got.color } as Category);
      break;
    }
    case 'updateCategory':
      next.categories.set(intent.id, { ...m.categories.get(intent.id)!, ...intent.patch } as Category);
      break;
    case 'deleteCategory':
      next.categories.delete(intent.id);
      for (const [id, a] of m.annotations) {
        if (a.categoryId === intent.id) next.annotations.set(id, { ...a, categoryId: null, updatedAt: db.annotations.get(id)?.updatedAt ?? -1 });
      }
  }
  return next;
}

const sorted = (m: Model) => ({
  annotations: [...m.annotations.values()].sort((a, b) => a.id - b.id),
  categories: [...m.categories.values()].sort((a, b) => a.id - b.id),
});

async function runAndKill(folder: string, seed: number, killAfter: number): Promise<{ acks: Array<[Intent, unknown]>; pending: Intent | null; finished: boolean }> {
  const child = spawn(join(ROOT, 'node_modules/.bin/node'), ['--import', 'tsx', 'tests/project/crash-child.ts', folder, String(seed), '1000'], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buf = '';
  let stderr = '';
  let pending: Intent | null = null;
  let finished = false;
  const acks: Array<[Intent, unknown]> = [];
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const v = JSON.parse(line.slice(2));
      if (line.startsWith('I ')) pending = v;
      else if (v.done) finished = true;
      else {
        acks.push([pending!, v]);
        pending = null;
        if (acks.length === killAfter) child.kill('SIGKILL');
      }
    }
  });
  const [code, signal] = await new Promise<[number | null, string | null]>((res) => child.on('close', (c, s) => res([c, s])));
  if (signal !== 'SIGKILL') throw new Error(`child ended with ${code}/${signal} before the kill: ${stderr}`);
  return { acks, pending, finished };
}

let t: ReturnType<typeof tempFolder>;
beforeEach(() => (t = tempFolder('difflabel-crash-')));
afterEach(() => t.cleanup());

describe('crash safety', () => {
  // 'busy': a project that was closed before; 'fresh': created by the killed process itself and never closed, so
  // the schema and every edit are still in the WAL when it dies.
  it.each([['busy', 1], ['busy', 2], ['fresh', 3]] as const)('keeps every acknowledged edit when the process is killed (%s project, round %i)', async (kind, round) => {
    if (kind === 'busy') {
      const setup = ProjectStore.open(t.dir);
      seedImages(setup, [[640, 480], [33, 17], [1, 1], [4000, 3000]]);
      setup.close();
    }

    const seed = (Date.now() ^ (round * 7919)) >>> 0;
    // A fresh project dies early, before SQLite's automatic checkpoint could copy the WAL into the main file.
    const killAfter = kind === 'fresh' ? 20 + Math.floor(Math.random() * 30) : 100 + Math.floor(Math.random() * 700);
    const { acks, pending, finished } = await runAndKill(t.dir, seed, killAfter);
    const context = `seed ${seed}, killed after ${killAfter} acks`;
    expect(finished, context).toBe(false);
    expect(acks.length, context).toBeGreaterThanOrEqual(killAfter);

    const model: Model = { annotations: new Map(), categories: new Map() };
    for (const [intent, ack] of acks) applyAck(model, intent, ack);

    // The project opens first: a raw connection's close would checkpoint the WAL and hide an open that misreads it.
    const store = ProjectStore.open(t.dir);
    expect(store.integrityCheck(), context).toEqual(['ok']);
    const db: Model = {
      annotations: new Map(store.listAnnotations().map((a) => [a.id, a])),
      categories: new Map(store.listCategories().map((c) => [c.id, c])),
    };
    store.close();
    const got = sorted(db);
    const candidates = [sorted(model)];
    if (pending) candidates.push(sorted(applyPending(model, pending, db)));
    const matches = candidates.some((c) => isDeepStrictEqual(c, got));
    if (!matches) expect(got, context).toEqual(candidates[candidates.length - 1]);
    expect(matches, context).toBe(true);
    expect(got.annotations.length + got.categories.length, context).toBeGreaterThan(0);
  });
});
