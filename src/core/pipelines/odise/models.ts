// The graphs of an ODISE bundle (ml/bundle/odise.ts builds them) run through the process's inference host, loaded on
// first use and released by the pipeline when a stage no longer needs them (segment.ts), and its constants (text_proj,
// null_embed, SD's empty context) and tokenizer read once.
import { join, resolve } from 'node:path';
import { BundleError, loadTokenizer, ODISE_GRAPHS, type BundleManifest, type OdiseManifest } from '../../ml/bundle';
import type { ClipTokenizer } from '../../ml/tokenizer';
import type { InferenceHost, RunOptions } from '../../ml/runtime';
import { SafetensorsFile } from '../../ml/weights';
import type { FloatTensor } from './classify';
import type { OdiseFeatureComponent } from './features';
import type { CategoryHead } from './inference';

/** What ODISE reads from a bundle. */
export const ODISE_COMPONENTS = [...ODISE_GRAPHS, 'tokenizer'] as const;
type Key = (typeof ODISE_GRAPHS)[number];

/** Why a bundle cannot serve ODISE (its bundle.json has no `odise` block), or null. */
export function notOdise(manifest: BundleManifest): string | null {
  return manifest.odise
    ? null
    : `model bundle ${manifest.name} is not an ODISE bundle (its bundle.json has no odise block): convert the released files with \`npx difflabel models convert --odise <odise_label_coco_50e.pth> --sd <sd-v1-3.ckpt> --clip <ViT-L-14-336px.pt> --bpe <bpe_simple_vocab_16e6.txt.gz>\``;
}

export interface OdiseConstants {
  categoryHead: CategoryHead;
  /** SD's text encoding of "" [1, 77, width]. */
  emptyContext: FloatTensor;
}

/** Runs a graph of the bundle on named inputs; every output when `outputs` is not given. */
export type OdiseRunner = (key: Key, feeds: Record<string, FloatTensor | { data: BigInt64Array; dims: readonly number[] }>, outputs?: readonly string[], run?: RunOptions) => Promise<Record<string, FloatTensor>>;

export class OdiseModels {
  readonly name: string;
  readonly settings: OdiseManifest;
  readonly tokenizer: ClipTokenizer;
  readonly contextLength: number;
  readonly constants: OdiseConstants;
  private readonly keys: Record<Key, string>;
  private registered: Promise<void> | null = null;

  constructor(readonly dir: string, readonly manifest: BundleManifest, private readonly host: InferenceHost) {
    const refused = notOdise(manifest);
    if (refused || !manifest.odise) throw new BundleError(refused!);
    this.settings = manifest.odise;
    this.name = manifest.name;
    const t = manifest.tokenizer;
    if (!t) throw new BundleError(`model bundle ${dir} has no tokenizer, which ODISE's text tower needs`);
    const abs = (q: string | undefined) => join(dir, q!);
    this.tokenizer = loadTokenizer(t.format === 'vocab-merges' ? { format: 'vocab-merges', vocab: abs(t.vocab), merges: abs(t.merges) } : { format: 'bpe-gz', bpe: abs(t.bpe) });
    this.contextLength = t.contextLength;
    const file = SafetensorsFile.open(join(dir, manifest.odise.constants.path));
    try {
      const read = (k: string): FloatTensor => ({ data: file.readFloat32(k), dims: file.info(k).shape });
      this.constants = {
        categoryHead: { textProjWeight: read('text_proj.weight'), textProjBias: read('text_proj.bias'), nullEmbed: read('null_embed') },
        emptyContext: read('empty_context'),
      };
    } finally {
      file.close();
    }
    const base = `odise:${resolve(dir)}:${manifest.createdAt}`;
    this.keys = Object.fromEntries(ODISE_GRAPHS.map((k) => [k, `${base}:${k}`])) as Record<Key, string>;
  }

  private register(): Promise<void> {
    this.registered ??= Promise.all(ODISE_GRAPHS.map((k) => this.host.register(this.keys[k], join(this.dir, this.manifest.components[k]!.model)))).then(() => undefined);
    return this.registered;
  }

  /** Inputs are sent as copies: the worker host transfers (detaches) the buffers it is given. */
  readonly run: OdiseRunner = async (key, feeds, outputs, run) => {
    await this.register();
    const copied = Object.fromEntries(Object.entries(feeds).map(([n, v]) => [n, { data: v.data.slice(), dims: [...v.dims] }]));
    const out = await this.host.run(this.keys[key], copied, outputs, run);
    return Object.fromEntries(Object.entries(out).map(([n, v]) => [n, { data: v.data as Float32Array, dims: v.dims }]));
  };

  /** A window graph's runner for `windowRunner`. */
  featureRunner(run: RunOptions) {
    return (component: OdiseFeatureComponent, feeds: Record<string, FloatTensor>, outputs?: readonly string[]) => this.run(component, feeds, outputs, run);
  }

  /** open_clip's text tower: text_embeds [N, D] of each text (truncated to the context, padded with 0). */
  async textEmbeds(texts: readonly string[], run: RunOptions): Promise<FloatTensor> {
    const ids = this.tokenizer.tokenizeInt64(texts, { contextLength: this.contextLength, pad: 'zero', truncate: true });
    const out = await this.run('text_encoder', { input_ids: { data: ids, dims: [texts.length, this.contextLength] } }, ['text_embeds'], run);
    return out['text_embeds']!;
  }

  /** Releases the sessions of `graphs` (their weights and the memory their largest run took); a later run loads them again. */
  async release(graphs: readonly Key[]): Promise<void> {
    if (this.registered) await Promise.all(graphs.map((k) => this.host.release(this.keys[k])));
  }

  async dispose(): Promise<void> {
    if (this.registered) await Promise.all(Object.values(this.keys).map((k) => this.host.release(k).catch(() => undefined)));
  }
}
