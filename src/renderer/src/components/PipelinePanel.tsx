// The segmenters in the side panel, all from `pipelines.list`: the pipeline choice, its model, its settings (made
// from its parameters' schema), its prompt tool's state (the click tool: points, live mask, timing, errors) with
// accept / clear, its run on the open image (a job: progress and cancel in the JobBar) — for a pipeline that takes
// an example, its examples and where to find the chosen one (ExamplePanel) —, and "Delete proposals" for the
// proposals of every pipeline.
import { useEffect, useRef, useState } from 'react';
import { BatchReport, isProposal, type Annotation, type Category, type Job, type PipelineInfo, type Prompt } from '../../../shared/contract';
import type { ParamField } from '../../../shared/params';
import { client } from '../client';
import {
  fieldsOf,
  filteredImageIds,
  fits,
  FIXTURE_LABEL,
  lacks,
  modelValue,
  pipelineCalls,
  setModel,
  setPipeline,
  setSettings,
  useModel,
  useModels,
  useNoModel,
  usePipeline,
  usePipelines,
  useSettings,
  type ImageFilter,
} from '../canvas/pipelines';
import { promptToolOf } from '../canvas/prompts';
import { examplePrompt, useChosenExample } from '../canvas/prompts/example';
import { storedVocabularyPrompt } from '../canvas/prompts/vocabulary';
import type { ClickSegment } from '../canvas/prompts/points';
import type { Tool } from '../canvas/tools';
import { useSelectedForRun } from '../selection';
import { ExamplePanel } from './ExamplePanel';
import { TextPromptPanel } from './TextPromptPanel';
import { openModelManager } from './ModelsDialog';
import { VocabularyPanel } from './VocabularyPanel';

/** The model selector's last entry: it opens the model manager instead of choosing. */
const MANAGE = '\u0000manage';

/** The pipeline every segmenting button and tool uses (remembered). */
export function PipelineSelect() {
  const all = usePipelines();
  const chosen = usePipeline();
  if (!all || all.length < 2) return null;
  return (
    <label className="model-select compact" title={chosen?.description}>
      <select value={chosen?.id} onChange={(e) => setPipeline(e.target.value)} data-testid="pipeline" aria-label="Segmentation pipeline">
        {all.map((p) => (
          <option key={p.id} value={p.id} title={p.description}>
            {p.title}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The model a pipeline runs on (remembered per pipeline); nothing for a pipeline that needs none. */
export function ModelSelect({ pipeline: p, compact = false }: { pipeline: PipelineInfo; compact?: boolean }) {
  const model = useModel(p.id);
  const { models, error } = useModels();
  if (!p.components.length) return null;
  const offered = models?.filter((m) => !m.fixture || p.fixture);
  const known = !model || !offered || offered.some((m) => modelValue(m) === model);
  return (
    <label className={`model-select ${compact ? 'compact' : ''}`} title={error ?? `The model ${p.title} runs on (remembered)`}>
      {!compact && <span className="muted small">Model</span>}
      <select
        value={model}
        onChange={(e) => (e.target.value === MANAGE ? openModelManager() : setModel(p.id, e.target.value))}
        data-testid={`${p.id}-model`}
        aria-label={`${p.title} model`}
      >
        <option value="">Automatic (first installed model)</option>
        {offered?.map((m) => {
          const missing = m.fixture ? [] : lacks(p, m);
          return (
            <option key={modelValue(m)} value={modelValue(m)} disabled={!m.ok || missing.length > 0} title={m.error ?? (missing.length ? `lacks ${missing.join(', ')}` : (m.dir ?? ''))}>
              {m.fixture ? FIXTURE_LABEL : `${m.name}${!m.ok ? ' — broken' : missing.length ? ` — cannot run ${p.title}` : ''}`}
            </option>
          );
        })}
        {!known && <option value={model}>{model} (not installed)</option>}
        <option value={MANAGE}>Manage models…</option>
      </select>
    </label>
  );
}

/** One setting's input, by the field's type. */
function FieldInput({ p, f, value, onChange }: { p: PipelineInfo; f: ParamField; value: unknown; onChange(v: unknown): void }) {
  const testid = `${p.id}-${f.name}`;
  const shown = value ?? f.default;
  if (f.type === 'boolean') return <input type="checkbox" checked={shown === true} data-testid={testid} onChange={(e) => onChange(e.target.checked)} />;
  if (f.type === 'enum')
    return (
      <select value={String(shown ?? '')} data-testid={testid} onChange={(e) => onChange(e.target.value)}>
        {f.choices!.map((c) => (
          <option key={c}>{c}</option>
        ))}
      </select>
    );
  const numeric = f.type === 'number' || f.type === 'integer';
  const text = shown === undefined ? '' : f.type === 'json' ? JSON.stringify(shown) : String(shown);
  return (
    <input
      key={text} // a reset (Defaults) shows the default again
      type={numeric ? 'number' : 'text'}
      step={f.type === 'integer' ? 1 : 'any'}
      min={f.min}
      max={f.max}
      defaultValue={text}
      placeholder={f.default === undefined ? 'auto' : undefined}
      data-testid={testid}
      onChange={(e) => {
        const raw = e.target.value;
        if (numeric) onChange(raw === '' ? undefined : e.target.valueAsNumber);
        else if (f.type === 'json') {
          try {
            onChange(JSON.parse(raw));
          } catch {
            // Not JSON yet: kept in the box, not sent.
          }
        } else onChange(raw);
      }}
    />
  );
}

/** A pipeline's settings for every call (remembered), made from its parameters; "Defaults" clears them. */
export function SettingsEditor({ pipeline: p }: { pipeline: PipelineInfo }) {
  const values = useSettings(p);
  const fields = fieldsOf(p);
  if (!fields.length) return null;
  const changed = Object.keys(values).length > 0;
  const set = (f: ParamField, v: unknown) => {
    const next = { ...values };
    if (v === undefined) delete next[f.name];
    else if (fits(f, v)) next[f.name] = v;
    else return; // not a value the pipeline takes (yet): the box keeps it, calls do not
    setSettings(p.id, next);
  };
  return (
    <details className="pipeline-settings" data-testid={`${p.id}-settings`}>
      <summary className="small">Settings{changed ? ' (changed)' : ''}</summary>
      {fields.map((f) => (
        <label key={f.name} className="small" title={f.description}>
          {f.type === 'boolean' ? (
            <>
              <FieldInput p={p} f={f} value={values[f.name]} onChange={(v) => set(f, v)} /> {f.title}
            </>
          ) : (
            <>
              {f.title} <FieldInput p={p} f={f} value={values[f.name]} onChange={(v) => set(f, v)} />
            </>
          )}
        </label>
      ))}
      {changed && (
        <button className="small" onClick={() => setSettings(p.id, {})}>
          Defaults
        </button>
      )}
    </details>
  );
}

/** What to do when the chosen model is not there: choose the test fixture (one button), or add a real model (the model manager, or the CLI). */
function NoModelNote({ pipeline: p, model }: { pipeline: PipelineInfo; model: string }) {
  return (
    <div className="segment-note" data-testid={`${p.id}-error`} role="alert">
      <p>
        <strong>{model ? `The model “${model}” is not installed or cannot run ${p.title}.` : `No model for ${p.title} is installed.`}</strong>
      </p>
      {p.fixture && (
        <>
          <p>To try {p.title} now, choose “{FIXTURE_LABEL}” under Model: a tiny demonstration model, for flat-coloured shapes only.</p>
          <button onClick={() => setModel(p.id, 'fixture')}>Use the test fixture</button>
        </>
      )}
      <p>For real images, add a checkpoint once in the model manager, then choose it here:</p>
      <button onClick={openModelManager} data-testid={`${p.id}-open-models`}>
        Models…
      </button>
      <p>or from the command line (README, “Models”):</p>
      <code>npx difflabel models convert &lt;checkpoint&gt; --out resources/models/&lt;name&gt;</code>
    </div>
  );
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export function PipelinePanel({
  imageId,
  tool,
  click,
  annotations,
  categories,
  onAccept,
  onPromptTool,
  onProposalsStored,
  onDeleteProposals,
  onMessage,
}: {
  imageId: number;
  tool: Tool;
  click: ClickSegment;
  annotations: Annotation[];
  categories: Category[];
  onAccept(): void;
  onPromptTool(id: Tool): void;
  onProposalsStored(): void;
  onDeleteProposals(ids: number[]): void;
  onMessage(msg: string): void;
}) {
  const p = usePipeline();
  const model = useModel(p?.id ?? '');
  const [job, setJob] = useState<{ id: string; imageId: number } | null>(null);
  const [jobError, setJobError] = useState<string | null>(null);
  useEffect(() => setJobError(null), [p, model]);
  const proposals = annotations.filter(isProposal).map((a) => a.id);

  // Jobs can finish before their start call answers (a small image, a warm cache): keep the recent endings.
  const finished = useRef(new Map<string, Job>());
  const jobRef = useRef(job);
  jobRef.current = job;
  // The JobBar's summary says how it went; a failure also stays here, next to the button.
  const settle = (j: Job) => {
    setJob(null);
    const r = BatchReport.safeParse(j.result);
    const failed = j.state === 'failed' ? (j.error ?? 'unknown error') : r.data?.failed[0]?.error;
    if (failed) {
      setJobError(failed);
      onMessage(`${p ? capital(p.runLabel) : 'The run'} failed: ${failed}`);
    }
    onProposalsStored();
  };
  const settleRef = useRef(settle);
  settleRef.current = settle;
  useEffect(
    () =>
      client.on('job.finished', (j) => {
        finished.current.set(j.id, j);
        if (jobRef.current?.id === j.id) settleRef.current(j);
      }),
    [],
  );
  if (!p) return null;

  /** The pipeline on these images (undefined: every image), with the prompt it takes over images, if any. */
  const run = (imageIds: number[] | undefined, prompt?: Prompt) => {
    setJobError(null);
    setJob({ id: '', imageId });
    pipelineCalls.run(p, imageIds, prompt).then(
      (r) => {
        const done = finished.current.get(r.jobId);
        if (done) settle(done);
        else setJob((jobRef.current = { id: r.jobId, imageId }));
      },
      (e: Error) => {
        setJob(null);
        setJobError(e.message);
        onMessage(e.message);
      },
    );
  };

  const promptTool = promptToolOf(p);
  const pos = click.points.filter((x) => x.positive).length;
  const neg = click.points.length - pos;
  const error = click.error ?? jobError;
  return (
    <section className="panel-section segment-panel" data-testid="segment-panel">
      <h3 title={p.description}>{p.title}</h3>
      <PipelineSelect />
      <ModelSelect pipeline={p} compact />
      <SettingsEditor pipeline={p} />
      {promptTool && (
        <div className="segment-row">
          {tool === promptTool.id ? (
            <span className="small" data-testid="click-info">
              {click.points.length === 0
                ? 'Click an object: + left click, − right click'
                : `${pos} + / ${neg} − · ${click.status === 'preparing' ? 'running the model on the image…' : click.status === 'working' ? 'segmenting…' : click.mask ? `${click.area} px${click.last ? ` · ${Math.round(click.last.ms)} ms${click.last.cached ? '' : ' (the model ran)'}` : ''}` : '—'}`}
            </span>
          ) : (
            <button onClick={() => onPromptTool(promptTool.id)} title={`${promptTool.label} tool (${promptTool.key})`}>
              {promptTool.label} ({promptTool.key})
            </button>
          )}
        </div>
      )}
      {promptTool && tool === promptTool.id && click.points.length > 0 && (
        <div className="segment-row">
          <button className="primary" onClick={onAccept} disabled={!click.mask || click.area === 0} data-testid="click-accept" title="Accept as a mask of the current category (Enter)">
            Accept ⏎
          </button>
          <button onClick={() => click.clear()} title="Clear the points (Esc)">
            Clear
          </button>
        </div>
      )}
      {p.prompt === 'example' && <ExamplePanel imageId={imageId} categories={categories} busy={job !== null} onFind={run} onMessage={onMessage} />}
      {p.prompt === 'vocabulary' && <VocabularyPanel imageId={imageId} busy={job !== null} onFind={run} onMessage={onMessage} />}
      {p.prompt === 'text' && <TextPromptPanel pipeline={p.id} imageId={imageId} categories={categories} job={job && job.id} onFind={run} />}
      <div className="segment-row">
        {p.prompt !== 'example' && p.prompt !== 'vocabulary' && p.prompt !== 'text' && (
          <button onClick={() => run([imageId])} disabled={job !== null} data-testid="segment-everything" title={`${p.title} on this image: unassigned proposals`}>
            {job ? 'Segmenting…' : capital(p.runLabel)}
          </button>
        )}
        <button onClick={() => onDeleteProposals(proposals)} disabled={!proposals.length} data-testid="delete-proposals" title="Delete the unassigned proposals of this image">
          Delete proposals{proposals.length ? ` (${proposals.length})` : ''}
        </button>
      </div>
      <PipelineError pipeline={p} error={error} />
    </section>
  );
}

/** An error of the pipeline's calls: the no-model note when the back end had no model for the choice. */
function PipelineError({ pipeline: p, error }: { pipeline: PipelineInfo; error: string | null }) {
  const model = useModel(p.id);
  const noModel = useNoModel(p);
  if (!error) return null;
  return noModel ? (
    <NoModelNote pipeline={p} model={model} />
  ) : (
    <p className="segment-error error small" data-testid={`${p.id}-error`}>
      {error}
    </p>
  );
}

/** The chosen pipeline on the images selected in the grid, else on every image or those the status filter / path search shows (a job). */
export function SegmentBatchButton({ filter, onMessage }: { filter: ImageFilter; onMessage?(msg: string): void }) {
  const p = usePipeline();
  const example = useChosenExample();
  const { selected, runIds } = useSelectedForRun();
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!p) return null;
  const filtered = !!filter.status || !!filter.missing || !!filter.proposals || !!filter.search;
  const start = async () => {
    setStarting(true);
    setError(null);
    try {
      // A pipeline that finds from an example finds the one chosen in its panel.
      if (p.prompt === 'example' && !example) throw new Error(`${p.title} finds from an example: select a mask on an image and press U first`);
      if (p.prompt === 'text') throw new Error(`${p.title} finds what a text names: open an image, type the text in the ${p.title} panel and choose "Selected images" or "All images" there`);
      if (selected && !runIds.length) throw new Error('None of the selected images can be segmented: their files are missing or unreadable');
      const ids = selected ? runIds : filtered ? await filteredImageIds(filter) : undefined;
      if (ids && !ids.length) throw new Error('No images match the filter');
      // A vocabulary pipeline labels what the project's stored vocabulary names.
      const prompt = p.prompt === 'example' ? examplePrompt(example!) : p.prompt === 'vocabulary' ? await storedVocabularyPrompt() : undefined;
      await pipelineCalls.run(p, ids, prompt);
    } catch (e) {
      const msg = (e as Error).message;
      setError(msg);
      onMessage?.(msg);
    } finally {
      setStarting(false);
    }
  };
  return (
    <>
      <button
        onClick={() => void start()}
        disabled={starting}
        data-testid="segment-batch"
        title={`${p.title} on ${selected ? 'the images selected in the grid' : filtered ? 'the images the filter shows' : 'every image'}: unassigned proposals${runIds.length < selected ? ` (${selected - runIds.length} missing or unreadable left out)` : ''}`}
      >
        {selected ? `Segment selected images (${runIds.length})` : filtered ? 'Segment filtered images' : 'Segment all images'}
      </button>
      {error && !onMessage && (
        <span className="error small" data-testid={`${p.id}-error`}>
          {error}
        </span>
      )}
    </>
  );
}
