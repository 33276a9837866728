import { useEffect, useState } from 'react';
import type { ImageStatus, ProjectInfo, Stats } from '../../../shared/contract';
import { client } from '../client';
import { ImageGrid } from './ImageGrid';
import { JobBar } from './JobBar';

const STATUSES: { key: ImageStatus; label: string }[] = [
  { key: 'unlabeled', label: 'Unlabeled' },
  { key: 'in_progress', label: 'In progress' },
  { key: 'done', label: 'Done' },
  { key: 'error', label: 'Error' },
];

export function ProjectView({ project, onOpenOther }: { project: ProjectInfo; onOpenOther: () => void }) {
  const [stats, setStats] = useState<Stats>(project.stats);
  const [status, setStatus] = useState<ImageStatus | undefined>(undefined);
  const [search, setSearch] = useState('');
  const [version, setVersion] = useState(0);

  useEffect(() => {
    const reload = () => {
      client.call('project.stats', {}).then(setStats, () => {});
      setVersion((v) => v + 1);
    };
    const offs = [client.on('project.changed', reload), client.on('job.finished', reload)];
    return () => offs.forEach((off) => off());
  }, []);

  return (
    <div className="project">
      <header className="toolbar">
        <strong className="brand">DiffLabel</strong>
        <span className="folder" title={project.folder}>
          <bdi dir="ltr">{project.folder}</bdi>
        </span>
        <button onClick={() => client.call('project.index', {})}>Re-index</button>
        <button onClick={onOpenOther}>Open folder…</button>
      </header>
      <nav className="filters">
        <button className={status === undefined ? 'chip active' : 'chip'} onClick={() => setStatus(undefined)}>
          All <b>{stats.images}</b>
        </button>
        {STATUSES.map((s) => (
          <button key={s.key} className={`chip ${s.key} ${status === s.key ? 'active' : ''}`} onClick={() => setStatus(s.key)}>
            {s.label} <b data-testid={`count-${s.key}`}>{stats.byStatus[s.key] ?? 0}</b>
          </button>
        ))}
        <input className="search" type="search" placeholder="Search path…" value={search} onChange={(e) => setSearch(e.target.value)} />
        <span className="summary">
          {stats.annotations} annotations · {stats.categories} categories
        </span>
      </nav>
      <JobBar />
      <ImageGrid status={status} search={search} version={version} />
    </div>
  );
}
