// `difflabel models convert|list|verify`: model bundles from the command line. Progress goes to stderr,
// results to stdout; exit code 0 = ok, 1 = error (the message lists every problem found).
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { BundleError, convertCheckpoint, convertOdise, convertRefLdmSeg, defaultModelDirs, listBundles, readConfigsFolder, verifyBundle, type BundleListing, type OdiseFiles } from '../ml/bundle';
import { GROUNDED_UNET } from '../pipelines/grounded/variant';
import { listPipelines, unetVariants } from '../pipelines/registry';
import { progressPrinter } from './progress';

type Out = NodeJS.WritableStream & { isTTY?: boolean };

const collect = (v: string, prev: string[] = []) => [...prev, v];
/** The bundle's licence, then each component's that differs ("unknown; image_encoder: Alpha-CLIP checkpoints: …"). */
const licences = (b: BundleListing) => [b.licence, ...Object.entries(b.componentLicences ?? {}).map(([k, l]) => `${k}: ${l}`)].join('; ');

interface ConvertFlags {
  out: string; fp16?: boolean; name?: string; licence?: string; tokenizer?: string; configs?: string; imageEncoder?: string; refldmseg?: string; vae?: string; groundingModule?: string; force?: boolean; json?: boolean;
  odise?: string; sd?: string; clip?: string; bpe?: string; trainingLabels?: string;
}

/** ODISE's three released files and open_clip's tokenizer; a flag of another kind of source is refused. */
function odiseRun(source: string | undefined, o: ConvertFlags): OdiseFiles {
  const other = [source !== undefined && `<source> (${source})`, o.refldmseg !== undefined && '--refldmseg', o.tokenizer !== undefined && '--tokenizer (give --bpe)',
    o.imageEncoder !== undefined && '--image-encoder (the CLIP tower comes from --clip)', o.vae !== undefined && '--vae', o.groundingModule !== undefined && '--grounding-module', o.configs !== undefined && '--configs', o.fp16 && '--fp16'].filter(Boolean);
  if (other.length) throw new BundleError(`--odise converts ODISE's released files: leave out ${other.join(', ')}`);
  const missing = [o.sd === undefined && '--sd (sd-v1-3.ckpt)', o.clip === undefined && '--clip (ViT-L-14-336px.pt)', o.bpe === undefined && "--bpe (open_clip's bpe_simple_vocab_16e6.txt.gz: none of ODISE's files holds a tokenizer)"].filter(Boolean);
  if (missing.length) throw new BundleError(`--odise needs ${missing.join(', ')}`);
  return { checkpoint: o.odise!, sd: o.sd!, clip: o.clip!, bpe: o.bpe!, ...(o.trainingLabels !== undefined ? { trainingLabels: o.trainingLabels } : {}) };
}

/** A source, or Ref LDM-Seg's three files; the combinations that make neither are refused with what is missing. */
function convertRun(source: string | undefined, o: ConvertFlags): { source: string; refLdmSeg?: undefined } | { refLdmSeg: { unet: string; imageEncoder: string; vae: string } } {
  if (o.sd !== undefined || o.clip !== undefined || o.bpe !== undefined || o.trainingLabels !== undefined) throw new BundleError('--sd, --clip, --bpe and --training-labels go with --odise');
  if (o.refldmseg === undefined) {
    if (source === undefined) throw new BundleError('nothing to convert: give a <source> folder or file, or --refldmseg with --image-encoder and --vae');
    if (o.vae !== undefined) throw new BundleError('--vae goes with --refldmseg (a diffusers folder or single file brings its own VAE)');
    return { source };
  }
  if (source !== undefined) throw new BundleError(`--refldmseg converts Ref LDM-Seg's files: leave out <source> (${source})`);
  if (o.tokenizer !== undefined) throw new BundleError('--refldmseg: Ref LDM-Seg has no text encoder, so no --tokenizer');
  const missing = [o.imageEncoder === undefined && '--image-encoder (Alpha-CLIP .pth)', o.vae === undefined && '--vae (SD 1.5 folder or single file)'].filter(Boolean);
  if (missing.length) throw new BundleError(`--refldmseg needs ${missing.join(' and ')}`);
  return { refLdmSeg: { unet: o.refldmseg, imageEncoder: o.imageEncoder!, vae: o.vae! } };
}

export function registerModelsCommands(program: Command, io: { out: Out; err: Out }, setExit: (code: number) => void): void {
  const say = (s: string) => io.out.write(s + '\n');
  /** Bundle errors are expected failures: print them plainly, exit 1. */
  const guard = <A extends unknown[]>(fn: (...a: A) => Promise<void>) => async (...a: A) => {
    try {
      await fn(...a);
    } catch (e) {
      if (!(e instanceof BundleError)) throw e;
      io.err.write(`error: ${e.message}\n`);
      setExit(1);
    }
  };

  const models = program.command('models').description('model bundles: convert checkpoints to ONNX, list and verify bundles');

  // The pipelines that need UNet variants: `--no-<pipeline>` leaves theirs out.
  const withVariants = listPipelines().filter((p) => p.variants?.length);
  const convert = models
    .command('convert')
    .description('convert a diffusers folder or an SD 1.x single file (.safetensors, .ckpt, .pt, .pth or .bin), or Ref LDM-Seg\'s released files (--refldmseg), into a model bundle; PyTorch files are read without running any code in them')
    .argument('[source]', 'diffusers pipeline folder (unet/, vae/, text_encoder/, tokenizer/; .safetensors or .bin weights) or a single-file checkpoint')
    .requiredOption('--out <dir>', 'bundle folder to create (must not exist unless --force)')
    .option('--fp16', 'store weights and compute in float16 (half the size; for GPUs)')
    .option('--name <name>', 'bundle name (default: the source name)')
    .option('--licence <licence>', 'the licence of the weights, kept in bundle.json and shown by the app (e.g. "CreativeML Open RAIL-M" for SD 1.5; default: unknown)')
    .option('--tokenizer <path>', 'CLIP tokenizer: folder with vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz (required for single files)')
    .option('--configs <dir>', 'single file: folder with unet/, vae/, text_encoder/ config.json to use instead of SD 1.5')
    .option('--image-encoder <path>', 'add a CLIP image tower: a transformers CLIP vision folder, OpenAI/open_clip visual weights, or Alpha-CLIP\'s .pth')
    .option('--refldmseg <file>', 'Ref LDM-Seg (-f or -n, read from its conv_in) from DeepSpeed\'s mp_rank_00_model_states.pt, instead of <source>; needs --image-encoder (Alpha-CLIP .pth) and --vae')
    .option('--vae <path>', 'with --refldmseg: SD 1.5\'s VAE, a diffusers folder (with vae/) or its single-file checkpoint')
    .option('--odise <label.pth>', 'ODISE from its label checkpoint (odise_label_coco_50e-*.pth), instead of <source>; needs --sd, --clip and --bpe')
    .option('--sd <sd-v1-3.ckpt>', 'with --odise: Stable Diffusion 1.3 (the Lightning .ckpt)')
    .option('--clip <ViT-L-14-336px.pt>', 'with --odise: OpenAI\'s CLIP ViT-L/14 at 336 px (the TorchScript archive)')
    .option('--bpe <bpe.txt.gz>', 'with --odise: open_clip\'s tokenizer, bpe_simple_vocab_16e6.txt.gz')
    .option('--training-labels <coco_panoptic_with_prompt_eng.txt>', 'with --odise: the classes the label model was trained on (ODISE\'s openseg_labels), which it weighs differently from new ones')
    .option('--grounding-module <file>', 'add grounded diffusion\'s grounding_module.pth (and the UNet with its taps) for `difflabel generate`; the checkpoint must be the SD 1.x it was trained with');
  for (const p of withVariants) convert.option(`--no-${p.id}`, `skip what only ${p.title} needs: ${p.variants!.map((v) => v.title).join(', ')}`);
  convert
    .option('--force', 'replace an existing bundle at --out')
    .option('--json', 'print bundle.json when done')
    .action(guard(async (source: string | undefined, o: ConvertFlags) => {
      const skipped = new Set(withVariants.filter((p) => convert.getOptionValue(p.id) === false).map((p) => p.id));
      const base = { fp16: o.fp16, name: o.name, licence: o.licence, configs: o.configs ? readConfigsFolder(o.configs) : undefined, overwrite: o.force };
      const odise = o.odise !== undefined ? odiseRun(source, o) : undefined;
      const run = odise ? undefined : convertRun(source, o);
      const progress = progressPrinter(io.err, 'converting');
      const { dir, manifest } = odise
        ? await convertOdise(odise, o.out, { name: o.name, licence: o.licence, overwrite: o.force, onProgress: progress.update })
        : run!.refLdmSeg
        ? await convertRefLdmSeg(run!.refLdmSeg, o.out, { ...base, onProgress: progress.update })
        : await convertCheckpoint(run!.source, o.out, { ...base, tokenizer: o.tokenizer, imageEncoder: o.imageEncoder, variants: [...unetVariants(skipped), ...(o.groundingModule ? [GROUNDED_UNET] : [])], groundingModule: o.groundingModule, onProgress: progress.update });
      progress.done();
      for (const w of manifest.warnings) io.err.write(`warning: ${w}\n`);
      if (o.json) say(JSON.stringify(manifest, null, 2));
      else say(`wrote bundle '${manifest.name}' (${manifest.dtype}) to ${dir}: ${Object.keys(manifest.components).join(', ')}${manifest.tokenizer ? ', tokenizer' : ''}`);
    }));

  models
    .command('list')
    .description(`list model bundles (default folders: ${defaultModelDirs().join(', ')})`)
    .option('--dir <dir>', 'folder holding bundles (repeatable; replaces the defaults)', collect)
    .option('--json', 'print JSON')
    .action(guard(async (o: { dir?: string[]; json?: boolean }) => {
      const roots = o.dir ?? defaultModelDirs();
      const found = listBundles(roots);
      if (o.json) say(JSON.stringify(found, null, 2));
      else if (!found.length) say(`no model bundles in ${roots.join(', ')}`);
      else for (const b of found)
        say(b.ok ? `${b.name}\t${b.dtype}\t${b.components!.join(',')}\t${licences(b)}\t${b.dir}` : `${b.name}\tUNREADABLE\t${b.dir}\t${b.error!.split('\n')[0]}`);
    }));

  models
    .command('verify')
    .description('check a bundle: files and sha256 checksums, ONNX models load with the declared inputs/outputs, tokenizer')
    .argument('<dir>', 'bundle folder')
    .option('--no-checksums', 'check file presence and sizes only (fast)')
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, o: { checksums: boolean; json?: boolean }) => {
      const progress = progressPrinter(io.err, 'verifying');
      try {
        const r = await verifyBundle(resolve(dir), { checksums: o.checksums, onProgress: progress.update });
        progress.done();
        const { manifest: _m, ...report } = r;
        if (o.json) say(JSON.stringify({ ok: true, ...report }, null, 2));
        else {
          say(`ok: bundle '${r.name}' (${r.dtype}) at ${r.dir}: ${r.components.length} models, ${r.files} files, ${r.bytes} bytes`);
          for (const w of r.warnings) say(`  warning: ${w}`);
        }
      } catch (e) {
        progress.done();
        if (!(e instanceof BundleError)) throw e;
        if (o.json) say(JSON.stringify({ ok: false, dir: resolve(dir), problems: e.problems }, null, 2));
        io.err.write(`error: ${e.message}\n`);
        setExit(1);
      }
    });
}
