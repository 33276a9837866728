// The model manager: the installed bundles (and the test fixture) with what each pipeline can do with them, size on
// disk, dtype, provider, licence and verification; adding a checkpoint (a job: its progress and Cancel in the job bar
// shown inside the dialog), verifying, and removing after a confirmation. One dialog for the whole app, opened by
// openModelManager() from the grid's toolbar, the model selector and the no-model note.
import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { Job } from '../../../shared/contract';
import { client } from '../client';
import { FIXTURE_LABEL, useModels, type ModelEntry } from '../canvas/pipelines';
import { JobBar } from './JobBar';

let shown = false;
const listeners = new Set<() => void>();
const setShown = (next: boolean) => {
  shown = next;
  for (const l of listeners) l();
};
const subscribe = (l: () => void) => {
  listeners.add(l);
  return () => void listeners.delete(l);
};

export const openModelManager = () => setShown(true);

/** Rendered once at the top of the app: the dialog, while it is open. */
export function ModelManagerHost() {
  const open = useSyncExternalStore(subscribe, () => shown);
  return open ? <ModelsDialog onClose={() => setShown(false)} /> : null;
}

/** Checkpoint files the converter reads (a diffusers checkpoint is a folder). */
const CHECKPOINT_EXTENSIONS = ['safetensors', 'ckpt', 'pt', 'pth', 'bin'];

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function ModelsDialog({ onClose }: { onClose(): void }) {
  const { models, error } = useModels();
  const [web, setWeb] = useState(true);
  const [adding, setAdding] = useState(false);
  /** The models.* jobs this dialog started, by id, and what the user is told when each ends. */
  const started = useRef(new Map<string, (job: Job) => void>());
  const [verifying, setVerifying] = useState<Set<string>>(new Set());
  const [notice, setNotice] = useState<{ text: string; error: boolean } | null>(null);

  useEffect(() => {
    client.call('app.info', {}).then((i) => setWeb(i.shell === 'web'), () => {});
    return client.on('job.finished', (job) => {
      started.current.get(job.id)?.(job);
      started.current.delete(job.id);
    });
  }, []);

  /** Calls `then` when the job ends; a job that ended before its id came back is asked for. */
  const follow = async (jobId: string, then: (job: Job) => void) => {
    started.current.set(jobId, then);
    const ended = (await client.call('jobs.list', {})).find((j) => j.id === jobId && j.state !== 'running');
    if (ended && started.current.delete(jobId)) then(ended);
  };

  const verify = async (m: ModelEntry) => {
    const dir = m.dir!;
    setNotice(null);
    setVerifying((s) => new Set(s).add(dir));
    const done = (job: Job) => {
      setVerifying((s) => new Set([...s].filter((d) => d !== dir)));
      if (job.state === 'failed') setNotice({ text: `${m.name} did not verify: ${job.error}`, error: true });
    };
    try {
      await follow((await client.call('models.verify', { dir })).jobId, done);
    } catch (e) {
      done({ state: 'failed', error: (e as Error).message } as Job);
    }
  };

  const bundles = models?.filter((m) => !m.fixture) ?? [];
  return (
    <div className="overlay" onClick={onClose}>
      <div className="dialog models-dialog" role="dialog" aria-label="Models" data-testid="models-dialog" onClick={(e) => e.stopPropagation()}>
        <h2>Models</h2>
        {error && <p className="error">{error}</p>}
        {models && !bundles.length && (
          <p className="muted" data-testid="models-none">
            No model is installed. Add a Stable Diffusion 1.x checkpoint below; the test fixture only demonstrates the tools on flat-coloured shapes.
          </p>
        )}
        <table className="models">
          <thead>
            <tr>
              <th>Model</th>
              <th>Runs</th>
              <th>Size</th>
              <th>Dtype</th>
              <th>Provider</th>
              <th>Licence</th>
              <th>Verified</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {models?.map((m) => (
              <ModelRow key={m.dir ?? m.name} m={m} verifying={m.dir !== null && verifying.has(m.dir)} onVerify={() => void verify(m)} onRemoved={setNotice} />
            ))}
          </tbody>
        </table>
        {notice && (
          <p className={notice.error ? 'error' : 'muted'} role={notice.error ? 'alert' : 'status'} data-testid="models-notice">
            {notice.text}
          </p>
        )}
        {adding ? <AddForm web={web} follow={follow} onCancel={() => setAdding(false)} /> : (
          <button className="models-add" onClick={() => setAdding(true)} data-testid="models-add">
            Add model…
          </button>
        )}
        {/* The conversion's progress and Cancel: the dialog covers the window's own job bar. */}
        <JobBar />
        <div className="dialog-buttons">
          <button onClick={onClose} data-testid="models-close">
            Close
          </button>
        </div>
      </div>
    </div>
  );
}

function ModelRow({ m, verifying, onVerify, onRemoved }: { m: ModelEntry; verifying: boolean; onVerify(): void; onRemoved(n: { text: string; error: boolean }): void }) {
  const [confirming, setConfirming] = useState(false);
  const remove = async () => {
    setConfirming(false);
    try {
      await client.call('models.remove', { dir: m.dir! });
      onRemoved({ text: `Removed ${m.name}.`, error: false });
    } catch (e) {
      onRemoved({ text: (e as Error).message, error: true });
    }
  };
  const v = m.verified;
  return (
    <>
      <tr data-testid="model-row" className={m.ok ? '' : 'broken'}>
        <td>
          <div data-testid="model-name">{m.fixture ? FIXTURE_LABEL : m.name}</div>
          <div className="muted small" title={m.dir ?? undefined}>
            {m.fixture ? 'built in, for tests and demos' : m.error ?? `${m.folder === 'resources' ? 'resources/models' : 'user models folder'} · from a ${m.source?.kind === 'diffusers' ? 'diffusers folder' : 'single file'}`}
          </div>
        </td>
        <td data-testid="model-runs">
          {m.runs.map((r) => (
            <div key={r.pipeline} className={r.available ? '' : 'muted'} title={r.reason}>
              {r.title} {r.available ? '✓' : '✗'}
            </div>
          ))}
        </td>
        <td data-testid="model-size">{m.bytes === null ? '—' : megabytes(m.bytes)}</td>
        <td data-testid="model-dtype">{m.dtype ?? '—'}</td>
        <td data-testid="model-provider">{m.provider}</td>
        <td data-testid="model-licence">
          {m.licence ?? '—'}
          {Object.entries(m.componentLicences).map(([c, l]) => (
            <div key={c} className="muted" data-testid="model-component-licence">{c}: {l}</div>
          ))}
        </td>
        <td data-testid="model-verified" title={v ? `${new Date(v.at).toLocaleString()}${v.problems.length ? `\n${v.problems.join('\n')}` : ''}` : undefined}>
          {m.fixture ? '—' : verifying ? 'Verifying…' : !v ? <span className="muted">Not since its files changed</span> : v.ok ? 'Verified' : <span className="error">Failed</span>}
        </td>
        <td className="model-actions">
          {!m.fixture && (
            <>
              <button onClick={onVerify} disabled={verifying || m.busy} data-testid="model-verify">
                Verify
              </button>
              <button onClick={() => setConfirming(true)} disabled={m.busy || verifying} title={m.busy ? 'In use by a running job' : undefined} data-testid="model-remove">
                Remove
              </button>
            </>
          )}
        </td>
      </tr>
      {confirming && (
        <tr>
          <td colSpan={8}>
            <div className="cat-confirm" data-testid="remove-confirm">
              <p>
                Remove {m.name}? This deletes <bdi dir="ltr">{m.dir}</bdi> and every file in it; the checkpoint it came from is not touched.
              </p>
              <div className="dialog-buttons">
                <button onClick={() => setConfirming(false)} data-testid="remove-keep">
                  Keep it
                </button>
                <button className="danger" onClick={() => void remove()} data-testid="remove-yes">
                  Remove
                </button>
              </div>
            </div>
          </td>
        </tr>
      )}
    </>
  );
}

/** A path box, with native pickers in the desktop app. */
function PathInput({ label, value, onChange, testid, web, pick, hint }: {
  label: string; value: string; onChange(v: string): void; testid: string; web: boolean; pick: ('file' | 'folder')[]; hint?: string;
}) {
  const choose = async (what: 'file' | 'folder') => {
    const picked = what === 'file' ? (await client.call('app.pickFile', { extensions: CHECKPOINT_EXTENSIONS })).file : (await client.call('app.pickFolder', {})).folder;
    if (picked) onChange(picked);
  };
  return (
    <label>
      <span className="add-label">{label}</span>
      <input type="text" value={value} onChange={(e) => onChange(e.target.value)} placeholder={hint} data-testid={testid} spellCheck={false} />
      {!web && pick.map((w) => <button key={w} type="button" onClick={() => void choose(w)}>{w === 'file' ? 'File…' : 'Folder…'}</button>)}
    </label>
  );
}

function AddForm({ web, follow, onCancel }: { web: boolean; follow(jobId: string, then: (job: Job) => void): Promise<void>; onCancel(): void }) {
  const [source, setSource] = useState('');
  const [tokenizer, setTokenizer] = useState('');
  const [configs, setConfigs] = useState('');
  const [name, setName] = useState('');
  const [licence, setLicence] = useState('');
  const [fp16, setFp16] = useState(false);
  const [into, setInto] = useState<'user' | 'resources'>('user');
  const [running, setRunning] = useState(false);
  const [outcome, setOutcome] = useState<{ text: string; error: boolean } | null>(null);

  const add = async () => {
    setRunning(true);
    setOutcome(null);
    const ended = (job: Job) => {
      setRunning(false);
      if (job.state === 'done') setOutcome({ text: `Added ${(job.result as { name: string }).name}.`, error: false });
      else if (job.state === 'cancelled') setOutcome({ text: 'Cancelled: nothing was added.', error: false });
      else setOutcome({ text: job.error ?? 'the conversion failed', error: true });
    };
    const opt = (v: string) => (v.trim() ? v.trim() : undefined);
    try {
      const r = await client.call('models.add', {
        source: source.trim(), tokenizer: opt(tokenizer), configs: opt(configs), name: opt(name), licence: opt(licence), fp16, into,
      });
      await follow(r.jobId, ended);
    } catch (e) {
      ended({ state: 'failed', error: (e as Error).message } as Job);
    }
  };

  return (
    <div className="models-add-form" data-testid="add-form">
      <h3>Add a model</h3>
      <p className="muted small">
        A Stable Diffusion 1.x checkpoint: a diffusers folder, or a single .safetensors, .ckpt, .pt, .pth or .bin file with its CLIP tokenizer.
        PyTorch files are read without running anything in them. It is converted once, then verified.
        {web && ' In the browser, paths are on the machine DiffLabel runs on, inside the project folder.'}
      </p>
      <PathInput label="Checkpoint" value={source} onChange={setSource} testid="add-source" web={web} pick={['file', 'folder']} hint="file or diffusers folder" />
      <PathInput label="Tokenizer" value={tokenizer} onChange={setTokenizer} testid="add-tokenizer" web={web} pick={['file', 'folder']} hint="single files: bpe_simple_vocab_16e6.txt.gz or a tokenizer folder" />
      <PathInput label="Configs" value={configs} onChange={setConfigs} testid="add-configs" web={web} pick={['folder']} hint="single files other than SD 1.5: a folder of unet/, vae/, text_encoder/ config.json" />
      <label>
        <span className="add-label">Name</span>
        <input type="text" value={name} onChange={(e) => setName(e.target.value)} placeholder="default: the checkpoint's name" data-testid="add-name" />
      </label>
      <label>
        <span className="add-label">Licence</span>
        <input type="text" value={licence} onChange={(e) => setLicence(e.target.value)} placeholder="the weights' licence, e.g. CreativeML Open RAIL-M (default: unknown)" data-testid="add-licence" />
      </label>
      <div className="models-add-options">
        <label>
          <input type="checkbox" checked={fp16} onChange={(e) => setFp16(e.target.checked)} /> Half precision (float16: half the size)
        </label>
        <label>
          Into
          <select value={into} onChange={(e) => setInto(e.target.value as 'user' | 'resources')}>
            <option value="user">the user models folder</option>
            <option value="resources">resources/models</option>
          </select>
        </label>
      </div>
      {outcome && (
        <p className={outcome.error ? 'error' : 'muted'} role={outcome.error ? 'alert' : 'status'} data-testid={outcome.error ? 'add-error' : 'add-outcome'}>
          {outcome.text}
        </p>
      )}
      <div className="dialog-buttons">
        <button onClick={onCancel} disabled={running}>
          Close form
        </button>
        <button className="primary" onClick={() => void add()} disabled={running || !source.trim()} data-testid="add-run">
          {running ? 'Adding…' : 'Convert and add'}
        </button>
      </div>
    </div>
  );
}
