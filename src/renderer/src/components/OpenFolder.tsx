import { useState, type FormEvent } from 'react';
import type { ProjectInfo } from '../../../shared/contract';
import { client } from '../client';

/** `web`: the UI runs in a browser, which has no picker for the disk of the machine DiffLabel runs on. */
export function OpenFolder({ onOpened, web }: { onOpened: (p: ProjectInfo) => void; web: boolean }) {
  const [path, setPath] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);

  const open = async (folder: string) => {
    setBusy(true);
    setError(null);
    try {
      const info = await client.call('project.open', { folder });
      await client.call('project.index', {});
      onOpened(info);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const pick = async () => {
    let folder: string | null = null;
    if (!web) {
      try {
        folder = (await client.call('app.pickFolder', {})).folder;
      } catch (e) {
        return setError((e as Error).message);
      }
    }
    if (folder) return open(folder);
    // Cancelled, or no picker at all: the path box is the way in.
    if (web) setNote("A browser cannot show the folders of the machine DiffLabel runs on: type the folder's path below (~ is the home folder).");
    document.getElementById('folder-path')?.focus();
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (path.trim()) void open(path.trim());
  };

  return (
    <div className="open-folder">
      <h1>DiffLabel</h1>
      <p>Open a folder of images. Everything you label is kept in <code>.difflabel/project.sqlite</code> inside it.</p>
      <button className="primary" onClick={pick} disabled={busy}>
        Choose folder…
      </button>
      {note && (
        <p className="picker-note" data-testid="picker-note">
          {note}
        </p>
      )}
      <form onSubmit={submit}>
        <label htmlFor="folder-path">or type its path</label>
        <input id="folder-path" value={path} onChange={(e) => setPath(e.target.value)} placeholder="/home/me/images" disabled={busy} />
        <button type="submit" disabled={busy || !path.trim()}>
          Open
        </button>
      </form>
      {error && <p className="error" role="alert">{error}</p>}
    </div>
  );
}
