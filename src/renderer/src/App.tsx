import { useCallback, useEffect, useState } from 'react';
import type { ProjectInfo } from '../../shared/contract';
import { client } from './client';
import { ModelManagerHost } from './components/ModelsDialog';
import { OpenFolder } from './components/OpenFolder';
import { ProjectView } from './components/ProjectView';

export function App() {
  const [project, setProject] = useState<ProjectInfo | null | undefined>(undefined);
  const [shell, setShell] = useState<'electron' | 'web'>('web');
  const [error, setError] = useState<string | null>(null);

  const refresh = useCallback(() => {
    client
      .call('app.info', {})
      .then((info) => {
        setProject(info.project);
        setShell(info.shell);
      })
      .catch((e: Error) => setError(e.message));
  }, []);

  useEffect(() => {
    refresh();
    return client.on('project.changed', (e) => e.what === 'project' && refresh());
  }, [refresh]);

  if (error) return <div className="fatal">Cannot reach the DiffLabel back end: {error}</div>;
  if (project === undefined) return <div className="loading">Loading…</div>;
  return (
    <>
      {project === null ? <OpenFolder onOpened={setProject} web={shell === 'web'} /> : <ProjectView project={project} onOpenOther={() => setProject(null)} />}
      <ModelManagerHost />
    </>
  );
}
