// The model manager behind models.*: what each installed bundle is and can run, conversions and verifications as
// jobs, removal. A verification is remembered per bundle with a fingerprint of its files (paths, sizes, modification
// times), in the user models folder's .verified.json, never in the bundle: a bundle from elsewhere cannot bring its
// own "verified", and any file changed since makes it unverified again.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import type { methods, ModelInfo, ModelJobResult } from '../../shared/contract';
import { realPath, requireInside } from '../formats/files';
import type { JobContext, JobManager } from '../jobs/manager';
import { parseJson } from '../json';
import { BundleError, componentLicences, listBundles, readManifest, resourcesModelsDir, sourceName, userModelsDir, verifyBundle, type BundleListing } from '../ml/bundle';
import { expectedProviderStatus } from '../ml/runtime';
import { availability, FIXTURE } from '../pipelines/common/bundles';
import { listPipelines } from '../pipelines/registry';
import { convertInWorker } from './convertInWorker';
import { ApiError } from './errors';

type Folder = 'user' | 'resources';
type AddInput = z.output<(typeof methods)['models.add']['input']>;

const STAMPS_FILE = '.verified.json';
const Stamp = z.object({ fingerprint: z.string(), ok: z.boolean(), at: z.string(), problems: z.array(z.string()) });
type Stamp = z.infer<typeof Stamp>;
const StampsFile = z.object({ version: z.literal(1), bundles: z.record(z.string(), Stamp) });

export interface ModelManagerOptions {
  jobs: JobManager;
  /** Web mode: every path a conversion reads must lie inside the open project's folder. */
  web: boolean;
  projectFolder(): string | null;
  /** A bundle was added, removed or verified. */
  changed(): void;
}

/** Every regular file under `dir` (links are not followed), with what its fingerprint is made of. */
function filesOf(dir: string): { path: string; bytes: number; mtimeMs: number }[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => {
      const p = join(d.parentPath, d.name);
      const st = lstatSync(p);
      return { path: relative(dir, p).split(sep).join('/'), bytes: st.size, mtimeMs: st.mtimeMs };
    })
    .sort((a, b) => (a.path < b.path ? -1 : 1));
}

const fingerprint = (files: ReturnType<typeof filesOf>) => createHash('sha256').update(JSON.stringify(files)).digest('hex');

/**
 * requireInside for a path and, when it is a folder (a diffusers checkpoint, a tokenizer or configs folder, which the
 * converter reads whole), for every link under it, following linked folders: a link must not lead out of `folder`.
 */
async function requireInsideWhole(path: string, folder: string, seen = new Set<string>()): Promise<void> {
  await requireInside(path, folder);
  const real = await realPath(path);
  if (seen.has(real) || !statSync(real, { throwIfNoEntry: false })?.isDirectory()) return;
  seen.add(real);
  for (const d of readdirSync(real, { recursive: true, withFileTypes: true })) {
    if (d.isSymbolicLink()) await requireInsideWhole(join(d.parentPath, d.name), folder, seen);
  }
}

/** A bundle's folder name from its name: ASCII letters, digits, '.', '_' and '-' (anything else becomes '-'), never hidden. */
function folderName(name: string): string {
  return name.replace(/[^\w.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 80) || 'model';
}

export class ModelManager {
  /** What running jobs use: a folder (its conversion, its verification) or a bundle name (a pipeline's run, which knows only that). */
  private readonly claims = new Map<string, { dir?: string; name?: string }>();
  private stamps: { path: string; bundles: Record<string, Stamp> } | null = null;

  constructor(private readonly o: ModelManagerOptions) {}

  private folders(): Record<Folder, string> {
    return { resources: resolve(resourcesModelsDir()), user: resolve(userModelsDir()) };
  }

  /** Marks what a job uses until it ends. */
  claim(jobId: string, use: { dir?: string; name?: string }): void {
    this.claims.set(jobId, use);
    void this.o.jobs.wait(jobId).finally(() => this.claims.delete(jobId));
  }

  private busy(b: { dir: string; name?: string }): boolean {
    return [...this.claims.values()].some((c) => c.dir === b.dir || (c.name !== undefined && c.name === b.name));
  }

  list(): ModelInfo[] {
    const provider = expectedProviderStatus().active;
    const pipelines = listPipelines();
    const stamps = this.loadStamps();
    const bundles = this.listed().map(({ listing: b, folder }): ModelInfo => {
      const manifest = b.ok ? readManifest(b.dir) : null;
      const files = lstatSync(b.dir).isDirectory() ? filesOf(b.dir) : null; // a linked bundle is not followed
      const stamp = stamps[b.dir];
      return {
        name: b.name, dir: b.dir, ok: b.ok, ...(b.error ? { error: b.error } : {}), components: b.components ?? [], fixture: false, folder,
        runs: pipelines.map((p) => {
          const a = b.ok ? availability(p, b.dir) : { available: !p.components.length, reason: b.error };
          return { pipeline: p.id, title: p.title, available: a.available, ...(a.available || !a.reason ? {} : { reason: a.reason }) };
        }),
        bytes: files ? files.reduce((n, f) => n + f.bytes, 0) : null,
        dtype: manifest?.dtype ?? null,
        provider,
        licence: manifest?.licence ?? null,
        componentLicences: manifest ? componentLicences(manifest) : {},
        source: manifest ? { path: manifest.source.path, kind: manifest.source.kind } : null,
        createdAt: manifest?.createdAt ?? null,
        warnings: manifest?.warnings ?? [],
        verified: stamp && files && stamp.fingerprint === fingerprint(files) ? { ok: stamp.ok, at: stamp.at, problems: stamp.problems } : null,
        busy: this.busy({ dir: b.dir, name: manifest?.name }),
      };
    });
    // The pipelines' test fixtures, chosen as 'fixture': the model components they hold together.
    const fixture: ModelInfo = {
      name: FIXTURE, dir: null, ok: true, fixture: true, folder: null,
      components: [...new Set(pipelines.filter((p) => p.models?.fixture).flatMap((p) => p.components))].filter((c) => c !== 'tokenizer'),
      runs: pipelines.map((p) => {
        const a = availability(p, FIXTURE);
        return { pipeline: p.id, title: p.title, available: a.available, ...(a.reason ? { reason: a.reason } : {}) };
      }),
      bytes: null, dtype: null, provider, licence: null, componentLicences: {}, source: null, createdAt: null, warnings: [], verified: null, busy: false,
    };
    return [...bundles, fixture];
  }

  /** The bundles of the models folders, with the folder each lies in. */
  private listed(): { listing: BundleListing; folder: Folder }[] {
    const folders = this.folders();
    const folderOf = (dir: string): Folder => (dir === folders.user || dirname(dir) === folders.user ? 'user' : 'resources');
    return listBundles([folders.resources, folders.user]).map((listing) => ({ listing, folder: folderOf(listing.dir) }));
  }

  /** A bundle models.list lists, or not_found. */
  private bundle(dir: string): BundleListing {
    const abs = resolve(dir);
    const hit = this.listed().find((b) => b.listing.dir === abs);
    if (!hit) {
      const { resources, user } = this.folders();
      throw new ApiError('not_found', `${abs} is not a model bundle in the models folders (${user}, ${resources})`);
    }
    return hit.listing;
  }

  async add(input: AddInput): Promise<{ jobId: string; dir: string }> {
    if (this.o.web) {
      // The converter reads every file it is given and says what is wrong with it (never quoting content, but a
      // header's first tensor names and whether a path exists): web mode reads only what the project holds.
      const project = this.o.projectFolder();
      if (!project) throw new ApiError('no_project', 'web mode reads model files only inside the project folder: open a project first');
      for (const p of [input.source, input.tokenizer, input.configs]) if (p !== undefined) await requireInsideWhole(p, project);
    }
    const name = input.name ?? sourceName(input.source);
    const dir = join(this.folders()[input.into], folderName(name));
    if (lstatSync(dir, { throwIfNoEntry: false })) throw new ApiError('conflict', `${dir} exists: choose another name, or remove that model first`);
    if (this.busy({ dir })) throw new ApiError('conflict', `${dir} is being added already`);
    const job = this.o.jobs.start('models.add', async (ctx): Promise<ModelJobResult> => {
      const converted = await convertInWorker(
        { source: resolve(input.source), out: dir, name, licence: input.licence, fp16: input.fp16, tokenizer: input.tokenizer, configs: input.configs },
        { signal: ctx.signal, onProgress: (done, total, step) => ctx.progress(done, total, `Converting: ${step}`) },
      );
      try {
        await this.verifyNow(dir, ctx);
      } catch (e) {
        // Cancelled, or (a converter bug) not a bundle that verifies: nothing of it stays.
        rmSync(dir, { recursive: true, force: true });
        this.forget(dir);
        throw e;
      } finally {
        this.o.changed();
      }
      return converted;
    });
    this.claim(job.id, { dir });
    return { jobId: job.id, dir };
  }

  verify(dir: string): { jobId: string } {
    const b = this.bundle(dir);
    if (this.busy({ dir: b.dir })) throw new ApiError('conflict', `${b.dir} is in use by a running job: wait for it to end`);
    const job = this.o.jobs.start('models.verify', async (ctx): Promise<ModelJobResult> => {
      try {
        const r = await this.verifyNow(b.dir, ctx);
        return { dir: b.dir, name: r.name, warnings: r.warnings };
      } finally {
        this.o.changed();
      }
    });
    this.claim(job.id, { dir: b.dir });
    return { jobId: job.id };
  }

  remove(dir: string): { dir: string } {
    const b = this.bundle(dir);
    if (Object.values(this.folders()).includes(b.dir))
      throw new ApiError('bad_request', `${b.dir} is a models folder itself, not a bundle inside one: remove it yourself if you mean to`);
    const name = b.ok ? b.name : undefined;
    if (this.busy({ dir: b.dir, name })) throw new ApiError('conflict', `${b.dir} is in use by a running job (a conversion, a verification, or a run on it): wait for it to end or cancel it`);
    // Moved aside first (hidden names are never listed), so a removal that fails half way leaves no half bundle listed.
    const aside = join(dirname(b.dir), `.${basename(b.dir)}.removing-${process.pid}-${Date.now().toString(36)}`);
    try {
      renameSync(b.dir, aside);
    } catch (e) {
      throw new ApiError('forbidden', `cannot remove ${b.dir}: ${(e as Error).message}`);
    }
    rmSync(aside, { recursive: true, force: true });
    this.forget(b.dir);
    this.o.changed();
    return { dir: b.dir };
  }

  /** verifyBundle with the job's progress and cancel; the outcome is remembered for the files as they were. */
  private async verifyNow(dir: string, ctx: JobContext) {
    const print = fingerprint(filesOf(dir));
    const at = new Date().toISOString();
    try {
      const r = await verifyBundle(dir, {
        onProgress: (done, total, step) => {
          ctx.signal.throwIfAborted();
          ctx.progress(done, total, `Verifying: ${step}`);
        },
      });
      this.remember(dir, { fingerprint: print, ok: true, at, problems: [] });
      return r;
    } catch (e) {
      if (e instanceof BundleError) this.remember(dir, { fingerprint: print, ok: false, at, problems: e.problems });
      throw e;
    }
  }

  private stampsPath(): string {
    return join(this.folders().user, STAMPS_FILE);
  }

  private loadStamps(): Record<string, Stamp> {
    const path = this.stampsPath();
    if (this.stamps?.path !== path) {
      let bundles: Record<string, Stamp> = {};
      try {
        if (existsSync(path)) bundles = StampsFile.parse(parseJson(readFileSync(path, 'utf8'))).bundles;
      } catch {
        // Unreadable or not ours: every bundle is unverified until verified again.
      }
      this.stamps = { path, bundles };
    }
    return this.stamps.bundles;
  }

  private remember(dir: string, stamp: Stamp): void {
    this.loadStamps()[dir] = stamp;
    this.saveStamps();
  }

  private forget(dir: string): void {
    if (!(dir in this.loadStamps())) return;
    delete this.loadStamps()[dir];
    this.saveStamps();
  }

  /** Best effort: a models folder that cannot be written keeps the stamps for this process only. */
  private saveStamps(): void {
    const { path, bundles } = this.stamps!;
    const temp = `${path}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(temp, JSON.stringify({ version: 1, bundles }, null, 1));
      renameSync(temp, path);
    } catch {
      rmSync(temp, { force: true });
    }
  }
}
