import { useEffect, useState } from 'react';
import type { ImageStatus, ProjectInfo, Stats } from '../../../shared/contract';
import { client } from '../client';
import { AnnotateView } from './AnnotateView';
import { ExportDialog } from './ExportDialog';
import { ImportDialog } from './ImportDialog';
import { GeneratePanel } from './GeneratePanel';
import { ImageGrid } from './ImageGrid';
import { STATUSES, storedFilter, storeFilter } from './ImageStrip';
import { JobBar } from './JobBar';
import { openModelManager } from './ModelsDialog';
import { usePipeline } from '../canvas/pipelines';
import { clearSelection } from '../selection';
import { ModelSelect, PipelineSelect, SegmentBatchButton } from './PipelinePanel';

/** The open image lives in the URL hash (#/image/ID), so a reload comes back to it. */
function imageFromHash(): number | null {
  const m = /^#\/image\/(\d+)$/.exec(location.hash);
  return m ? Number(m[1]) : null;
}

export function ProjectView({ project, onOpenOther }: { project: ProjectInfo; onOpenOther: () => void }) {
  const [stats, setStats] = useState<Stats>(project.stats);
  const pipeline = usePipeline();
  const [stored] = useState(storedFilter);
  const [status, setStatus] = useState<ImageStatus | undefined>(stored.status);
  const [missing, setMissing] = useState<boolean | undefined>(stored.missing);
  const [proposals, setProposals] = useState<boolean | undefined>(stored.proposals);
  const [withProposals, setWithProposals] = useState(0);
  const [search, setSearch] = useState(stored.search);
  useEffect(() => storeFilter({ status, missing, proposals, search }), [status, missing, proposals, search]);
  const [version, setVersion] = useState(0);
  const [imageId, setImageId] = useState<number | null>(imageFromHash);
  const [exporting, setExporting] = useState(false);
  const [importing, setImporting] = useState(false);
  const [generating, setGenerating] = useState(false);

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let burstSince = 0;
    const countProposals = () => client.call('images.list', { proposals: true, limit: 1 }).then((r) => setWithProposals(r.total), () => {});
    const refresh = () => {
      clearTimeout(timer);
      burstSince = 0;
      setVersion((v) => v + 1);
      void countProposals();
    };
    const reload = (e?: { what: string }) => {
      client.call('project.stats', {}).then(setStats, () => {});
      // Mask edits change counts and statuses only: refresh the image lists once a burst of strokes settles, and
      // at least every 3 s while one goes on (a batch run finishes an image every few seconds).
      if (e?.what !== 'annotations') return refresh();
      burstSince ||= Date.now();
      clearTimeout(timer);
      timer = setTimeout(refresh, Math.min(1500, burstSince + 3000 - Date.now()));
    };
    void countProposals();
    const offs = [client.on('project.changed', reload), client.on('job.finished', () => reload())];
    const onHash = () => setImageId(imageFromHash());
    window.addEventListener('hashchange', onHash);
    return () => {
      clearTimeout(timer);
      offs.forEach((off) => off());
      window.removeEventListener('hashchange', onHash);
      clearSelection(); // the images of this project: another folder starts with none selected
    };
  }, []);

  const filterBy = (s: ImageStatus | undefined, only?: 'missing' | 'proposals') => {
    setStatus(s);
    setMissing(only === 'missing' || undefined);
    setProposals(only === 'proposals' || undefined);
  };

  const open = (id: number | null) => {
    const hash = id === null ? '' : `#/image/${id}`;
    if (location.hash !== hash) history.pushState(null, '', hash || location.pathname + location.search);
    setImageId(id);
  };

  if (imageId !== null) {
    return (
      <AnnotateView
        imageId={imageId}
        onOpenImage={open}
        onBack={() => open(null)}
        onOpenFolder={() => {
          open(null);
          onOpenOther();
        }}
        filter={{ status, missing, proposals, search }}
        onFilter={(f) => {
          setStatus(f.status);
          setMissing(f.missing);
          setProposals(f.proposals);
          setSearch(f.search);
        }}
        version={version}
      />
    );
  }

  return (
    <div className="project">
      <header className="toolbar">
        <strong className="brand">DiffLabel</strong>
        <span className="folder" title={project.folder}>
          <bdi dir="ltr">{project.folder}</bdi>
        </span>
        <PipelineSelect />
        {pipeline && <ModelSelect pipeline={pipeline} compact />}
        <button onClick={openModelManager} data-testid="open-models">
          Models
        </button>
        <SegmentBatchButton filter={{ status, missing, proposals, search }} />
        <button onClick={() => client.call('project.index', {})}>Re-index</button>
        <button onClick={() => setExporting(true)} data-testid="open-export">
          Export
        </button>
        <button onClick={() => setImporting(true)} data-testid="open-import">
          Import
        </button>
        <button onClick={() => setGenerating(true)} data-testid="open-generate">
          Generate…
        </button>
        <button onClick={onOpenOther}>Open folder…</button>
      </header>
      <nav className="filters">
        <button className={status === undefined && !missing && !proposals ? 'chip active' : 'chip'} onClick={() => filterBy(undefined)}>
          All <b>{stats.images}</b>
        </button>
        {STATUSES.map((s) => (
          <button key={s.key} className={`chip ${s.key} ${status === s.key ? 'active' : ''}`} onClick={() => filterBy(s.key)}>
            {s.label} <b data-testid={`count-${s.key}`}>{stats.byStatus[s.key] ?? 0}</b>
          </button>
        ))}
        {(stats.missing > 0 || missing) && (
          <button
            className={`chip missing ${missing ? 'active' : ''}`}
            onClick={() => filterBy(undefined, 'missing')}
            title="Images whose file is gone: their masks are kept (read-only, not exported) until indexing finds the file again"
          >
            Missing <b data-testid="count-missing">{stats.missing}</b>
          </button>
        )}
        {(withProposals > 0 || proposals) && (
          <button
            className={`chip proposals ${proposals ? 'active' : ''}`}
            onClick={() => filterBy(undefined, 'proposals')}
            title="Images holding proposals (grey, unassigned masks a pipeline made) that wait for a labeler: give them a category, merge or delete them"
          >
            Has proposals <b data-testid="count-proposals">{withProposals}</b>
          </button>
        )}
        <input className="search" type="search" placeholder="Search path…" value={search} onChange={(e) => setSearch(e.target.value)} />
        <span className="summary">
          {stats.annotations} annotations · {stats.categories} categories
          {stats.setAside > 0 && (
            <span title="Masks of images that changed size: they come back when the image has its old size again" data-testid="set-aside">
              {' '}
              · {stats.setAside} set aside
            </span>
          )}
        </span>
      </nav>
      <JobBar />
      <ImageGrid status={status} missing={missing} proposals={proposals} search={search} version={version} onOpen={(img) => open(img.id)} />
      {exporting && <ExportDialog onClose={() => setExporting(false)} />}
      {importing && <ImportDialog onClose={() => setImporting(false)} />}
      {generating && <GeneratePanel onClose={() => setGenerating(false)} />}
    </div>
  );
}
