// The `difflabel` command line. Exit codes: 0 done, 1 error, 2 bad usage, 3 done but some inputs were
// skipped (unreadable images, COCO entries that could not be imported, masks an export left out) or masks wait
// for their files (missing images, masks set aside) — the report says which.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Backend } from '../api/backend';
import { knownApiError } from '../api/errors';
import { ProjectOpenError, ProjectStore, indexFolder, type IndexReport } from '../project';
import { hostName, isLoopback, isWildcard, networkAddresses } from '../server/origin';
import { startServer } from '../server/server';
import { writeCocoFile } from '../formats/coco/export';
import { importCocoFile } from '../formats/coco/import';
import { panopticFolder, writePanoptic } from '../formats/coco/panoptic-export';
import { DATASET_EXPORT_FORMATS, DATASET_IMPORT_FORMATS, detectDataset, exportDataset, importDataset, type DatasetExportFormat, type DatasetImportFormat } from '../formats/dataset';
import { progressPrinter } from './progress';
import { onStopSignal } from './signals';
import { registerGenerateCommand } from './generate';
import { registerModelsCommands } from './models';
import { addParamOptions, paramsFromOptions } from './params';
import { examplePrompt, exampleUsage, type ExampleOptions } from './example';
import { collect, vocabularyPipeline, vocabularyPrompt, withProjectStuff, type VocabularyOptions } from './vocabulary';
import { Prompt } from '../../shared/contract';
import { ModelNotFoundError } from '../pipelines/common/bundles';
import { disposeSharedInferenceHost } from '../pipelines/common/inference';
import { listPipelines } from '../pipelines/registry';
import { checkPrompt, PipelineInputError, PipelineService } from '../pipelines/run';
import type { Pipeline } from '../pipelines/types';

export const EXIT = { ok: 0, error: 1, usage: 2, partial: 3 } as const;

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

class CliFailure extends Error {}

/** Opens the project; commands that only read ('read') fall back to a read-only open on a read-only disk. */
function openStore(folder: string, access: 'write' | 'read' = 'write'): ProjectStore {
  const dir = resolve(folder);
  if (!existsSync(dir)) throw new CliFailure(`folder not found: ${dir}`);
  try {
    return ProjectStore.open(dir);
  } catch (e) {
    if (access === 'read' && e instanceof ProjectOpenError && e.code === 'read-only') return ProjectStore.open(dir, { readonly: true });
    throw e;
  }
}

/** `export --format coco-panoptic`: writes the JSON and its PNG folder, prints the report; the exit code. */
async function exportPanoptic(folder: string, outPath: string, say: (s: string) => void, err: NodeJS.WritableStream): Promise<number> {
  const store = openStore(folder, 'read');
  const out = resolve(outPath);
  const controller = new AbortController();
  const signals = onStopSignal(err, () => controller.abort());
  try {
    const progress = progressPrinter(err, 'exporting');
    const report = await writePanoptic(store, out, { signal: controller.signal, onProgress: progress.update });
    progress.done();
    say(`wrote ${out} and ${panopticFolder(out)}: ${report.images} images, ${report.segments} segments from ${report.annotations} masks, ${report.categories} categories`);
    if (report.changedHands.pixels)
      say(`  overlapping masks: ${report.changedHands.pixels} pixels went to the mask drawn on top, on ${report.changedHands.images.length} images`);
    for (const m of report.stuffMerged) say(`  ${m.path}: ${m.masks} masks of stuff category "${m.category}" written as its one segment`);
    for (const s of report.skipped) say(`  skipped annotation ${s.annotationId}: ${s.reason}`);
    for (const l of report.leftOut) say(`  left out: ${l.path} (${l.masks} mask${l.masks === 1 ? '' : 's'}): ${l.reason}`);
    return report.skipped.length || report.leftOut.length ? EXIT.partial : EXIT.ok;
  } finally {
    signals.release();
    store.close();
  }
}

export async function main(argv: string[], io = { out: process.stdout, err: process.stderr }): Promise<number> {
  let code: number = EXIT.ok;
  const say = (s: string) => io.out.write(s + '\n');
  const program = new Command('difflabel')
    .description('DiffLabel: label image folders with diffusion-model segmenters; SQLite projects; COCO in and out')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) })
    .showHelpAfterError();

  program
    .command('index')
    .description('index a folder of images into <folder>/.difflabel/project.sqlite (incremental)')
    .argument('<folder>', 'the image folder')
    .option('--max-pixels <n>', 'refuse images with more pixels than this (decompression bombs)', parseNumber, 250e6)
    .option('--json', 'print the report as JSON')
    .action(async (folder: string, o: { maxPixels: number; json?: boolean }) => {
      const store = openStore(folder);
      try {
        const progress = progressPrinter(io.err, 'indexing');
        const report = await indexFolder(store, { maxPixels: o.maxPixels, onProgress: progress.update });
        progress.done();
        // Files that failed before and did not change are not re-read, but they are still not usable.
        const failedNow = new Set(report.failed.map((f) => f.path));
        const stillFailing = store
          .listImages({ status: 'error', missing: false })
          .filter((i) => !failedNow.has(i.path))
          .map((i) => ({ path: i.path, reason: i.error ?? 'unreadable' }));
        // Masks set aside in earlier runs wait too; this run's are in the report.
        const stillSetAside = store.stats().setAside;
        if (o.json) say(JSON.stringify({ ...report, stillFailing, stillSetAside }, null, 2));
        else {
          say(`indexed ${store.folder}: ${report.added} added, ${report.updated} updated, ${report.removed} removed, ${report.unchanged} unchanged, ${report.failed.length} failed (${(report.durationMs / 1000).toFixed(2)} s)`);
          for (const f of report.failed) say(`  failed: ${f.path}: ${f.reason}`);
          if (stillFailing.length) say(`  ${stillFailing.length} unchanged files still cannot be read:`);
          for (const f of stillFailing) say(`  still failing: ${f.path}: ${f.reason}`);
          for (const line of indexNotes(report, stillSetAside)) say(`  ${line}`);
        }
        const masksWait = report.missing.length > 0 || stillSetAside > 0;
        const unseen = report.danglingLinks.length > 0 || report.unreadableDirs.length > 0;
        if (report.failed.length || stillFailing.length || masksWait || unseen) code = EXIT.partial;
      } finally {
        store.close();
      }
    });

  program
    .command('stats')
    .description('show counts of images by status, annotations and categories')
    .argument('<folder>', 'a folder indexed before')
    .option('--json', 'print JSON')
    .action((folder: string, o: { json?: boolean }) => {
      const store = openStore(folder, 'read');
      try {
        const s = store.stats();
        if (o.json) say(JSON.stringify(s, null, 2));
        else {
          say(`${store.folder}`);
          say(`  images       ${s.images} (${Object.entries(s.byStatus).map(([k, v]) => `${k} ${v}`).join(', ')})`);
          say(`  annotations  ${s.annotations}`);
          say(`  categories   ${s.categories}`);
          say(`  bytes        ${s.bytes}`);
        }
      } finally {
        store.close();
      }
    });

  program
    .command('export')
    .description('export annotations: COCO instances, COCO panoptic (the JSON and a folder of PNGs of the same name beside it), or a dataset folder (YOLO segmentation or detection, Pascal VOC, labelme, mask PNGs)')
    .argument('<folder>', 'the project folder')
    .addOption(new Option('--format <format>', 'output format (coco-panoptic: a JSON and a folder of PNGs; the others: a dataset folder)').choices(['coco', 'coco-panoptic', ...DATASET_EXPORT_FORMATS]).default('coco'))
    .option('--polygons', 'write masks as polygons (masks with holes stay RLE unless --force-polygons)')
    .option('--rle', 'write masks as compressed RLE (default)')
    .option('--force-polygons', 'with --polygons: write masks with holes as polygons too (holes are filled)')
    .option('--tolerance <px>', 'polygon simplification tolerance in pixels (0 = exact)', parseNumber, 0)
    .requiredOption('--out <file>', 'output JSON file (a folder for the dataset formats)')
    .option('--copy-images', 'copy the images into the dataset folder (yolo-seg, yolo-det, masks: images/; voc: JPEGImages/)')
    .action(async (folder: string, o: { format: string; polygons?: boolean; rle?: boolean; forcePolygons?: boolean; tolerance: number; out: string; copyImages?: boolean }) => {
      if (o.copyImages && (o.format === 'coco' || o.format === 'coco-panoptic' || o.format === 'labelme'))
        throw new CommanderError(EXIT.usage, 'usage', '--copy-images is for --format yolo-seg, yolo-det, voc and masks (the others name the images by their path)');
      if (o.format === 'coco-panoptic') {
        // Panoptic masks are PNGs of segment ids: the instance options do not apply.
        if (o.polygons || o.rle || o.forcePolygons || o.tolerance !== 0)
          throw new CommanderError(EXIT.usage, 'usage', '--polygons, --rle, --force-polygons and --tolerance are for --format coco');
        code = await exportPanoptic(folder, o.out, say, io.err);
        return;
      }
      if (o.format !== 'coco') return exportFolder(folder, o.format as DatasetExportFormat, o.out, Boolean(o.copyImages));
      if (o.polygons && o.rle) throw new CommanderError(EXIT.usage, 'usage', 'choose one of --polygons and --rle');
      if (o.forcePolygons && !o.polygons) throw new CommanderError(EXIT.usage, 'usage', '--force-polygons needs --polygons');
      const store = openStore(folder, 'read');
      const out = resolve(o.out);
      const controller = new AbortController();
      const signals = onStopSignal(io.err, () => controller.abort());
      try {
        const opts = { format: o.polygons ? ('polygons' as const) : ('rle' as const), forcePolygons: Boolean(o.forcePolygons), tolerance: o.tolerance };
        const report = await writeCocoFile(store, out, opts, controller.signal);
        say(`wrote ${out}: ${report.images} images, ${report.annotations} annotations (${report.polygons} polygons, ${report.rle} RLE), ${report.categories} categories`);
        if (report.rleBecauseHoles) say(`  ${report.rleBecauseHoles} masks with holes were written as RLE (a polygon cannot hold a hole; --force-polygons fills them)`);
        if (report.simplification) {
          const { meanIoU, minIoU, under90 } = report.simplification;
          say(`  simplified polygons vs masks: mean IoU ${meanIoU.toFixed(3)}, worst ${minIoU.toFixed(3)}${under90 ? `; ${under90} under 0.9 (thin shapes lose most — lower --tolerance)` : ''}`);
        }
        if (report.holesFilled) say(`  ${report.holesFilled} masks with holes were forced into polygons: their holes were filled`);
        for (const s of report.skipped) say(`  skipped annotation ${s.annotationId}: ${s.reason}`);
        for (const l of report.leftOut) say(`  left out: ${l.path} (${l.masks} mask${l.masks === 1 ? '' : 's'}): ${l.reason}`);
        if (report.skipped.length || report.leftOut.length) code = EXIT.partial;
      } finally {
        signals.release();
        store.close();
      }
    });

  program
    .command('import')
    .description('import COCO instances (polygons, RLE), COCO panoptic (the JSON, its PNGs in the folder of its name beside it), or a YOLO, Pascal VOC, labelme or mask PNG dataset into the project; images are matched by file name')
    .argument('<folder>', 'the image folder (indexed first, incrementally)')
    .argument('<file>', 'COCO instances or panoptic JSON, or a dataset: a YOLO folder or data.yaml, a VOC folder, a folder of labelme JSON')
    .addOption(new Option('--format <format>', 'input format (default: voc for a folder with SegmentationObject/, masks for one with masks.json, masks/ or instances/, yolo for a .yaml file or a folder with labels/ or one, labelme for another folder, else coco)').choices(['coco', ...DATASET_IMPORT_FORMATS]))
    .option('--json', 'print the report as JSON')
    .action(async (folder: string, file: string, o: { format?: string; json?: boolean }) => {
      const format = o.format ?? detectDataset(file) ?? 'coco';
      if (format !== 'coco') return importFolder(folder, file, format as DatasetImportFormat, Boolean(o.json));
      const store = openStore(folder);
      try {
        // COCO entries name files: the folder's new and changed files must be indexed to be matched.
        const progress = progressPrinter(io.err, 'indexing');
        await indexFolder(store, { onProgress: progress.update });
        progress.done();
        const report = await importCocoFile(store, resolve(file));
        if (o.json) say(JSON.stringify(report, null, 2));
        else {
          say(`imported ${report.annotations} annotations on ${report.images} images; ${report.categoriesCreated} categories created; ${report.skipped.length} skipped`);
          for (const s of report.skipped.slice(0, 200)) say(`  skipped ${s.what} ${JSON.stringify(s.id)}: ${s.reason}`);
          if (report.skipped.length > 200) say(`  … and ${report.skipped.length - 200} more (use --json)`);
        }
        if (report.skipped.length) code = EXIT.partial;
      } finally {
        store.close();
      }
    });

  program
    .command('serve')
    .description('web mode: serve the UI and the API on 127.0.0.1 with a session token')
    .argument('[folder]', 'the image folder to open')
    .option('--port <n>', 'port (0 = any free port)', parseNumber, 5173)
    .option('--host <address>', 'address to bind; anything but loopback exposes your images to the network', '127.0.0.1')
    .option('--no-index', 'do not index the folder at start')
    .action(async (folder: string | undefined, o: { port: number; host: string; index: boolean }) => {
      const backend = new Backend({ shell: 'web', version: await packageVersion() });
      if (folder) {
        backend.openProject(resolve(folder));
        if (o.index) await backend.dispatch('project.index', {});
      }
      const staticDir = join(repoRoot, 'out', 'renderer');
      if (!existsSync(join(staticDir, 'index.html'))) io.err.write('note: the UI is not built (npm run build); serving the API only\n');
      const server = await startServer({ backend, host: o.host, port: o.port, staticDir }).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EADDRINUSE') throw e;
        io.err.write(`port ${o.port} is in use; taking a free one\n`);
        return startServer({ backend, host: o.host, port: 0, staticDir });
      });
      say(`DiffLabel web mode: open ${server.openUrl}`);
      if (!isLoopback(o.host)) {
        io.err.write(`warning: ${o.host} is not a loopback address: other machines can reach this server, and images and the session token cross the network unencrypted (plain HTTP); use it only on a network you trust\n`);
        const addresses = isWildcard(o.host) ? networkAddresses() : [o.host];
        if (!addresses.length) io.err.write('warning: this machine has no network address other than loopback\n');
        for (const a of addresses) say(`other machines open: http://${hostName(a)}:${server.port}/?token=${server.token}`);
      }
      say(`session token: ${server.token}`);
      const signals = onStopSignal(io.err);
      await signals.stopped;
      io.err.write('closing…\n');
      try {
        await server.close();
        await backend.close();
      } finally {
        signals.release();
      }
      io.err.write('closed\n');
    });

  const pipelines = listPipelines();
  const segment = program
    .command('segment')
    .description('segment images with a pipeline; results are stored as proposals (runs + annotations without a category)')
    .argument('<folder>', 'the image folder (indexed first, incrementally)')
    .addOption(new Option('--pipeline <name>', `segmentation pipeline: ${pipelines.map((p) => `${p.id} (${p.title})`).join(', ')}`).choices(pipelines.map((p) => p.id)).default(pipelines[0]!.id))
    .option('--model <dir|name|fixture>', 'model bundle folder or installed bundle name; "fixture" = the pipeline\'s test fixture (not a real segmenter)')
    .option('--images <pathsOrIds...>', 'only these images (paths relative to the folder, or ids)')
    .option('--prompt <text|json>', 'for pipelines that take a text, example or vocabulary: the prompt as JSON, e.g. {"kind":"text","text":"a cow"}; for a text, the text itself will do ("a cow")')
    .option('--example <image:id>', 'for pipelines that take an example (refldmseg): one of the project\'s masks, as <image path>:<annotation id>')
    .option('--example-image <image>', 'with --example-mask: the example\'s image, one of the project\'s (path in the folder)')
    .option('--example-mask <png>', 'with --example-image: a mask PNG of that image\'s size; its non-zero pixels are the example (stored on the image as a mask, and marked as an example)')
    .option('--vocab <categories>', 'for pipelines that take a vocabulary: categories, comma-separated, a category\'s synonyms joined by | ("person,car|automobile,road"); may be repeated', collect)
    .option('--stuff <categories>', "with --vocab: those of its categories that are stuff (regions, not instances), by their first synonym; default: those the project's categories of the same name say are stuff", collect)
    .option('--mode <odise|attention>', 'with --vocab: the vocabulary pipeline, ODISE (odise) or the attention mode (vocabulary)')
    .option('--json', 'print the report as JSON');
  addParamOptions(segment, pipelines);
  segment.action(async (folder: string, o: { pipeline: string; model?: string; images?: string[]; prompt?: string; json?: boolean } & ExampleOptions & VocabularyOptions) => {
    const chosen = vocabularyPipeline(o, o.pipeline, segment.getOptionValueSource('pipeline') === 'cli', new Set(pipelines.map((x) => x.id)));
    if ('error' in chosen) throw new CommanderError(EXIT.usage, 'usage', chosen.error);
    const p = pipelines.find((x) => x.id === chosen.pipeline)!;
    let params: unknown, prompt: Prompt | null;
    const exampleWrong = exampleUsage(o, o.prompt);
    const byExample = o.example !== undefined || o.exampleImage !== undefined;
    const vocab = vocabularyPrompt(o);
    try {
      if (exampleWrong) throw new PipelineInputError(exampleWrong);
      if (vocab && 'error' in vocab) throw new PipelineInputError(vocab.error);
      if (vocab && (o.prompt !== undefined || byExample)) throw new PipelineInputError('--vocab is a prompt: give it, --prompt or an example, not two');
      if (vocab && p.prompt !== 'vocabulary') throw new PipelineInputError(`${p.title} takes no vocabulary (${p.prompt === 'none' ? 'no prompt' : `a ${p.prompt} prompt`}): --pipeline vocabulary or --mode attention does`);
      if (byExample && p.prompt !== 'example') throw new PipelineInputError(`${p.title} takes no example (${p.prompt === 'none' ? 'no prompt' : `a ${p.prompt} prompt`})`);
      params = paramsFromOptions(segment, pipelines, p);
      prompt = byExample ? null : checkPrompt(p, vocab ?? (o.prompt === undefined ? null : parsePrompt(o.prompt, p)), 'run');
    } catch (e) {
      if (e instanceof PipelineInputError) throw new CommanderError(EXIT.usage, 'usage', e.message);
      throw e;
    }
    const store = openStore(folder);
    try {
      await indexFolder(store);
      // The example is looked up once the folder is indexed: its image may be new.
      if (byExample) prompt = await examplePrompt(store, o).catch((e: Error) => Promise.reject(new CliFailure(e.message)));
      if (prompt?.kind === 'vocabulary' && !o.stuff) prompt = withProjectStuff(store, prompt);
      let imageIds: number[] | undefined;
      if (o.images) {
        imageIds = o.images.map((ref) => {
          const img = store.getImageByPath(ref.replace(/\\/g, '/')) ?? (/^\d+$/.test(ref) ? store.getImage(Number(ref)) : undefined);
          if (!img) throw new CliFailure(`no image ${ref} in ${store.folder}`);
          return img.id;
        });
      }
      // Each image's tensor goes to the disk cache only: a batch does not come back to it.
      const service = new PipelineService(store, { memoryBytes: 0 });
      const controller = new AbortController();
      const signals = onStopSignal(io.err, () => controller.abort());
      try {
        await service.session(p, o.model).catch((e) => {
          throw e instanceof ModelNotFoundError ? new CliFailure(e.message) : e;
        });
        const progress = progressPrinter(io.err, 'segmenting');
        const report = await service.batch(p, params, { imageIds, prompt, model: o.model, signal: controller.signal, onProgress: progress.update });
        progress.done();
        if (o.json) say(JSON.stringify(report, null, 2));
        else {
          const model = report.model ? ` (${report.model})` : '';
          say(`segmented ${store.folder} with ${p.id}${model}: ${report.segmented} images, ${report.proposals} proposals; ${report.skipped} already done; ${report.failed.length} failed${report.cancelled ? '; cancelled' : ''}`);
          for (const f of report.failed) say(`  failed: ${f.path || f.imageId}: ${f.error}`);
        }
        // Unreadable files are skipped (not segmented), reported like `index` does.
        const unreadable = imageIds ? [] : store.listImages({ status: 'error' });
        if (!o.json) for (const u of unreadable) say(`  skipped (unreadable): ${u.path}: ${u.error ?? 'unreadable'}`);
        if (report.cancelled) code = EXIT.error;
        else if (report.failed.length || unreadable.length) code = EXIT.partial;
      } finally {
        signals.release();
        await service.dispose();
        await disposeSharedInferenceHost(); // the inference worker thread would keep the process alive
      }
    } finally {
      store.close();
    }
  });

  async function exportFolder(folder: string, format: DatasetExportFormat, outPath: string, copyImages: boolean) {
    const store = openStore(folder, 'read');
    const out = resolve(outPath);
    const controller = new AbortController();
    const signals = onStopSignal(io.err, () => controller.abort());
    try {
      const report = await exportDataset(store, format, out, controller.signal, { copyImages });
      say(`wrote ${out}: ${report.images} images, ${report.annotations} masks as ${report.lines} ${format === 'voc' ? 'objects' : format === 'labelme' ? 'polygons' : format === 'masks' ? 'mask PNGs' : 'lines'}, ${report.categories} classes`);
      if (report.holesFilled) say(`  ${report.holesFilled} masks with holes were written filled (a ${format === 'labelme' ? 'labelme' : 'YOLO'} polygon has one ring)`);
      if (report.overlapped) say(`  ${report.overlapped} masks lost pixels to later masks (a label image holds one object per pixel)`);
      for (const s of report.skipped) say(`  skipped annotation ${s.annotationId}: ${s.reason}`);
      for (const l of report.leftOut) say(`  left out: ${l.path} (${plural(l.masks, 'mask')}): ${l.reason}`);
      if (report.skipped.length || report.leftOut.length) code = EXIT.partial;
    } finally {
      signals.release();
      store.close();
    }
  }

  async function importFolder(folder: string, dataset: string, format: DatasetImportFormat, json: boolean) {
    const store = openStore(folder);
    try {
      // Label files are matched to images: the folder's new and changed files must be indexed first.
      const progress = progressPrinter(io.err, 'indexing');
      await indexFolder(store, { onProgress: progress.update });
      progress.done();
      const report = await importDataset(store, resolve(dataset), format);
      if (json) say(JSON.stringify(report, null, 2));
      else {
        say(`imported ${report.annotations} annotations from ${report.labelFiles} files on ${report.images} images; ${report.categoriesCreated} categories created; ${report.skipped.length} skipped`);
        for (const s of report.skipped.slice(0, 200)) say(`  skipped ${s.file}${s.line === null ? '' : `:${s.line}`}: ${s.reason}`);
        if (report.skipped.length > 200) say(`  … and ${report.skipped.length - 200} more (use --json)`);
      }
      if (report.skipped.length) code = EXIT.partial;
    } finally {
      store.close();
    }
  }

  registerModelsCommands(program, io, (c) => (code = c));
  registerGenerateCommand(program, io, (c) => (code = c), (m) => new CliFailure(m));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0) return EXIT.ok;
      if (e.code === 'usage') io.err.write(`error: ${e.message}\n`);
      return EXIT.usage;
    }
    const known = e instanceof CliFailure ? e : knownApiError(e);
    if (known) {
      io.err.write(`error: ${known.message}\n`);
      return EXIT.error;
    }
    // Unexpected: still one line for the user; the stack only on request.
    io.err.write(`error: ${(e as Error)?.message ?? String(e)}\n`);
    io.err.write(process.env['DIFFLABEL_DEBUG'] === '1' ? `${(e as Error)?.stack ?? ''}\n` : '(unexpected: run again with DIFFLABEL_DEBUG=1 to see the stack)\n');
    return EXIT.error;
  }
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
/** Up to `max` items, then how many more (the --json report has them all). */
const some = (items: string[], max: number) =>
  items.length > max ? [...items.slice(0, max), `… and ${items.length - max} more (use --json)`] : items;

/** What the index run did to images and their masks, in words: moves, missing files, set-aside and restored masks. */
function indexNotes(r: IndexReport, stillSetAside: number): string[] {
  const lines: string[] = [];
  if (r.moved.length) lines.push(`${plural(r.moved.length, 'image')} moved: ${some(r.moved.map((m) => `${m.from} → ${m.to}`), 20).join(', ')}`);
  if (r.returned.length) lines.push(`${plural(r.returned.length, 'image')} back: ${some(r.returned, 20).join(', ')}`);
  if (r.missing.length) {
    const masks = r.missing.reduce((n, m) => n + m.annotations, 0);
    lines.push(`${plural(r.missing.length, 'image')} missing, ${plural(masks, 'mask')} kept (excluded from export until the files return)`);
    const each = r.missing.map((m) => `missing: ${m.path} (${plural(m.annotations, 'mask')}, since ${new Date(m.since).toISOString()})`);
    lines.push(...some(each, 200));
  }
  const setAside = r.setAside.map((s) => `${plural(s.annotations, 'mask')} set aside: ${s.path} is now ${s.width}×${s.height}, was ${s.was.width}×${s.was.height}`);
  lines.push(...some(setAside, 200));
  lines.push(...some(r.restored.map((s) => `${plural(s.annotations, 'mask')} restored: ${s.path} is ${s.width}×${s.height} again`), 200));
  const earlier = stillSetAside - r.setAside.reduce((n, s) => n + s.annotations, 0);
  if (earlier > 0) lines.push(`${plural(earlier, 'mask')} set aside earlier still wait for their image's old size (not exported)`);
  for (const l of r.danglingLinks) {
    lines.push(`link leads nowhere: ${l.path} → ${l.target} (${plural(l.images, 'indexed image')} under it left as they were)`);
  }
  for (const d of r.unreadableDirs) {
    lines.push(`cannot list folder: ${d.path || '.'} (${d.reason}; ${plural(d.images, 'indexed image')} under it left as they were)`);
  }
  return lines;
}

/** A --prompt value: JSON of a prompt as the API takes it; for a pipeline that takes a text, also the text itself. */
function parsePrompt(text: string, p: Pipeline): Prompt {
  if (p.prompt === 'text' && !text.trimStart().startsWith('{')) text = JSON.stringify({ kind: 'text', text });
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new PipelineInputError(`--prompt is not JSON: ${text.slice(0, 80)}`);
  }
  const r = Prompt.safeParse(v);
  if (!r.success) throw new PipelineInputError(`--prompt: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

function parseNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`not a non-negative number: ${v}`);
  return n;
}

async function packageVersion(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')).version;
}
