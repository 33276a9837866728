// The path of a file or folder to export to or import from: a text box, and in the desktop app a button that
// opens the native picker (web mode has none: app.pickFolder / app.pickFile answer null there, so the box is all).
import { useEffect, useState } from 'react';
import type { ProjectInfo } from '../../../shared/contract';
import { client } from '../client';

/** The open project and whether the app runs in a browser (no native pickers); null until app.info answers. */
export function useAppShell(): { web: boolean; project: ProjectInfo | null } | null {
  const [shell, setShell] = useState<{ web: boolean; project: ProjectInfo | null } | null>(null);
  useEffect(() => {
    client.call('app.info', {}).then((i) => setShell({ web: i.shell === 'web', project: i.project }), () => setShell({ web: true, project: null }));
  }, []);
  return shell;
}

export function PathPicker({ label, value, onChange, pick, extensions, web, testid }: {
  label: string;
  value: string;
  onChange(path: string): void;
  /** Which native picker the button opens; none: a path to be created (a picker chooses existing files only). */
  pick?: 'file' | 'folder';
  /** For `pick: 'file'`: the extensions the native picker offers. */
  extensions?: string[];
  web: boolean;
  testid: string;
}) {
  const choose = async () => {
    const picked = pick === 'file' ? (await client.call('app.pickFile', { extensions })).file : (await client.call('app.pickFolder', {})).folder;
    if (picked) onChange(picked);
  };
  return (
    <label className="path-picker">
      {label}
      <input type="text" value={value} onChange={(e) => onChange(e.target.value)} size={48} spellCheck={false} data-testid={testid} />
      {!web && pick && (
        <button type="button" onClick={() => void choose()} data-testid={`${testid}-choose`}>
          {pick === 'file' ? 'File…' : 'Folder…'}
        </button>
      )}
    </label>
  );
}
