// "Generate…": text → images with a mask per category (docs/grounded.md). The form starts a generate job (its
// progress and Cancel in the job bar shown here); the images it makes wait in a gallery, each with its masks drawn over
// it, until the labeler keeps them (they join the project with their masks) or discards them (their files are
// deleted). The gallery is the back end's list of held images, so images not reviewed before a restart are still here.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { Category, EventPayload, MethodOutput } from '../../../shared/contract';
import { decode, fromCompressedString } from '../../../shared/masks';
import { client } from '../client';
import { FIXTURE_LABEL, modelValue, useModels } from '../canvas/pipelines';
import { JobBar } from './JobBar';

type Held = MethodOutput<'generate.held'>[number];
type Sample = NonNullable<EventPayload<'job.progress'>['sample']>;
type Sampler = 'ddim' | 'pndm' | 'dpmpp';

const DEFAULT_STEPS: Record<Sampler, number> = { ddim: 50, pndm: 50, dpmpp: 25 };
/** Colours of categories the project does not have yet (they are created when an image is kept). */
const NEW_COLOURS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4'];

/** Outline width in image pixels. */
const EDGE = 4;

const hexRgb = (hex: string): [number, number, number] => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];

/** The image with its masks over it, half transparent, in their categories' colours. */
function HeldImage({ item, colourOf }: { item: Held; colourOf(category: string): string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = canvas.current;
    const ctx = c?.getContext('2d');
    if (!c || !ctx) return;
    const img = new Image();
    img.onload = () => {
      ctx.drawImage(img, 0, 0);
      const px = ctx.getImageData(0, 0, item.width, item.height);
      for (const m of item.masks) {
        const [r, g, b] = hexRgb(colourOf(m.category));
        const bits = decode(fromCompressedString(m.mask.counts, item.height, item.width));
        const w = item.width;
        for (let i = 0; i < bits.length; i++) {
          if (!bits[i]) continue;
          // A 4-pixel outline in full colour (the gallery shows the image at about half size), so a mask shows also
          // over a region of its own colour.
          const x = i % w;
          const edge = x < EDGE || x >= w - EDGE || !bits[i - EDGE] || !bits[i + EDGE] || !bits[i - EDGE * w] || !bits[i + EDGE * w];
          px.data[i * 4] = edge ? r : (px.data[i * 4]! + r) >> 1;
          px.data[i * 4 + 1] = edge ? g : (px.data[i * 4 + 1]! + g) >> 1;
          px.data[i * 4 + 2] = edge ? b : (px.data[i * 4 + 2]! + b) >> 1;
        }
      }
      ctx.putImageData(px, 0, 0);
    };
    img.src = item.image;
  }, [item, colourOf]);
  return <canvas ref={canvas} width={item.width} height={item.height} className="held-image" />;
}

export function GeneratePanel({ onClose }: { onClose(): void }) {
  const { models } = useModels();
  const generators = models?.filter((m) => m.fixture || m.components.includes('unet_grounded')) ?? [];
  const [categories, setCategories] = useState<Category[]>([]);
  const [prompt, setPrompt] = useState('');
  const [picked, setPicked] = useState<string[]>([]);
  const [typed, setTyped] = useState('');
  const [count, setCount] = useState(4);
  const [seed, setSeed] = useState('');
  const [sampler, setSampler] = useState<Sampler>('dpmpp');
  const [steps, setSteps] = useState(DEFAULT_STEPS.dpmpp);
  const [scale, setScale] = useState(7.5);
  const [model, setModel] = useState('');
  const [held, setHeld] = useState<Held[]>([]);
  const [notice, setNotice] = useState<{ text: string; error: boolean } | null>(null);
  const [sample, setSample] = useState<Sample | null>(null);

  useEffect(() => {
    const loadHeld = () => void client.call('generate.held', {}).then(setHeld, (e: Error) => setNotice({ text: e.message, error: true }));
    const loadCategories = () => void client.call('categories.list', {}).then(setCategories, () => {});
    loadHeld();
    loadCategories();
    const offs = [
      client.on('generate.changed', loadHeld),
      client.on('project.changed', (e) => e.what === 'categories' && loadCategories()),
      client.on('job.progress', (p) => p.kind === 'generate' && p.sample && setSample(p.sample)),
      client.on('job.finished', (job) => {
        if (job.kind !== 'generate') return;
        setSample(null);
        loadHeld();
        if (job.state === 'failed') return setNotice({ text: `Generating failed: ${job.error}`, error: true });
        // Images made before with the same settings are not made again: say so, or a run that adds nothing puzzles.
        const r = job.result as { held?: unknown[]; skipped?: number } | undefined;
        const made = r?.held?.length ?? 0;
        const skipped = r?.skipped ? `; ${r.skipped} made before with these settings (held or kept): change the seed for others` : '';
        setNotice({ text: `${made} image${made === 1 ? '' : 's'} made${job.state === 'cancelled' ? ', then cancelled' : ''}${skipped}`, error: false });
      }),
    ];
    return () => offs.forEach((off) => off());
  }, []);

  // The image being sampled until its gallery entry is there (a preview may arrive after the image was held: the
  // job's events are throttled, the gallery's are not).
  const sampling = sample && !held.some((h) => h.path === sample.path) ? sample : null;
  const names = [...new Set([...picked, ...typed.split(',').map((s) => s.trim()).filter(Boolean)])];
  const colourOf = useCallback(
    (name: string) => categories.find((c) => c.name === name)?.color ?? NEW_COLOURS[[...name].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) % 1009, 7) % NEW_COLOURS.length]!,
    [categories],
  );

  const start = async () => {
    setNotice(null);
    try {
      const r = await client.call('generate.start', {
        prompt, categories: names, count, sampler, steps, scale, ...(seed.trim() ? { seed: Number(seed) } : {}), ...(model ? { model } : {}),
      });
      if (!seed.trim()) setSeed(String(r.seed)); // shown, so the run can be made again
    } catch (e) {
      setNotice({ text: (e as Error).message, error: true });
    }
  };

  const review = async (method: 'generate.keep' | 'generate.discard', paths: string[]) => {
    setNotice(null);
    try {
      await client.call(method, { paths });
    } catch (e) {
      setNotice({ text: (e as Error).message, error: true });
    }
  };

  return (
    <div className="overlay" onClick={onClose}>
      <div className="dialog generate-dialog" role="dialog" aria-label="Generate images" data-testid="generate-dialog" onClick={(e) => e.stopPropagation()}>
        <h2>Generate images</h2>
        <p className="muted small">New images from a prompt, each with a mask per category. They wait below until you keep or discard them.</p>
        <label>
          Prompt <input type="text" value={prompt} onChange={(e) => setPrompt(e.target.value)} size={50} placeholder="a photo of a dog on a beach" data-testid="generate-prompt" />
        </label>
        <div className="generate-categories">
          Categories{' '}
          {categories.map((c) => (
            <label key={c.id} className="chip">
              <input type="checkbox" checked={picked.includes(c.name)} onChange={(e) => setPicked((p) => (e.target.checked ? [...p, c.name] : p.filter((n) => n !== c.name)))} />
              <span className="swatch" style={{ background: c.color }} /> {c.name}
            </label>
          ))}
          <input type="text" value={typed} onChange={(e) => setTyped(e.target.value)} placeholder="new ones, comma-separated" data-testid="generate-categories" />
        </div>
        <fieldset>
          <label>
            Count <input type="number" min={1} max={1000} value={count} onChange={(e) => setCount(Math.max(1, Math.round(Number(e.target.value)) || 1))} data-testid="generate-count" />
          </label>
          <label>
            Seed <input type="number" min={0} value={seed} onChange={(e) => setSeed(e.target.value)} placeholder="random" data-testid="generate-seed" />
          </label>
          <label>
            Sampler{' '}
            <select
              value={sampler}
              onChange={(e) => {
                const s = e.target.value as Sampler;
                setSampler(s);
                setSteps(DEFAULT_STEPS[s]);
              }}
              data-testid="generate-sampler"
            >
              <option value="dpmpp">DPM-Solver++ (fast)</option>
              <option value="ddim">DDIM (the reference)</option>
              <option value="pndm">PNDM</option>
            </select>
          </label>
          <label>
            Steps <input type="number" min={1} max={1000} value={steps} onChange={(e) => setSteps(Math.max(1, Math.round(Number(e.target.value)) || 1))} data-testid="generate-steps" />
          </label>
          <label>
            Guidance <input type="number" min={0} max={100} step={0.5} value={scale} onChange={(e) => setScale(Math.max(0, Number(e.target.value) || 0))} />
          </label>
        </fieldset>
        <label>
          Model{' '}
          <select value={model} onChange={(e) => setModel(e.target.value)} data-testid="generate-model">
            <option value="">Automatic</option>
            {generators.map((m) => (
              <option key={modelValue(m)} value={modelValue(m)}>
                {m.fixture ? FIXTURE_LABEL : m.name}
              </option>
            ))}
          </select>
        </label>
        <div className="dialog-buttons">
          <button onClick={start} disabled={!prompt.trim() || !names.length} data-testid="generate-start">
            Generate
          </button>
        </div>
        <JobBar />
        {notice && <p className={notice.error ? 'error' : 'muted'} data-testid="generate-notice">{notice.text}</p>}
        {(held.length > 0 || sampling) && (
          <section className="held" data-testid="held">
            <div className="held-head">
              <strong>{held.length ? `${held.length} to review` : 'Generating'}</strong>
              {held.length > 0 && (
                <button onClick={() => review('generate.keep', held.map((h) => h.path))} data-testid="keep-all">
                  Keep all
                </button>
              )}
            </div>
            <div className="held-grid">
              {sampling && (
                <figure className="sampling" data-testid="sampling" data-path={sampling.path}>
                  {/* At the latent's size (64² for 512²): the browser scales it up smoothly. */}
                  <img src={sampling.image} alt={`image ${sampling.index + 1} while it is generated`} width={sampling.width} height={sampling.height} className="held-image" data-testid="sampling-preview" />
                  <figcaption className="muted small">
                    Image {sampling.index + 1}, step {sampling.step} of {sampling.steps}: a rough preview
                  </figcaption>
                </figure>
              )}
              {held.map((h) => (
                <figure key={h.path} data-testid="held-item" data-path={h.path}>
                  <HeldImage item={h} colourOf={colourOf} />
                  <figcaption>
                    <span className="muted small">seed {h.seed}</span>
                    {h.masks.map((m) => (
                      <span key={m.category} className="chip">
                        <span className="swatch" style={{ background: colourOf(m.category) }} /> {m.category}
                      </span>
                    ))}
                    {!h.masks.length && <span className="muted small">no masks</span>}
                  </figcaption>
                  <div className="held-buttons">
                    <button onClick={() => review('generate.keep', [h.path])} data-testid="keep">
                      Keep
                    </button>
                    <button onClick={() => review('generate.discard', [h.path])} data-testid="discard">
                      Discard
                    </button>
                  </div>
                </figure>
              ))}
            </div>
          </section>
        )}
        <div className="dialog-buttons">
          <button onClick={onClose}>Close</button>
        </div>
      </div>
    </div>
  );
}
