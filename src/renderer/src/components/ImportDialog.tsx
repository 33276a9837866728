// Import in every format the app reads: COCO instances from a JSON file, COCO panoptic from a JSON with its folder of
// PNGs beside it, YOLO, Pascal VOC, labelme and mask PNGs from a folder. The back end indexes the project folder first and changes nothing when the file or folder is
// refused; the report says what came in and what was skipped, with each reason.
import { useState } from 'react';
import type { CocoImportReport, DatasetImportFormat, DatasetImportReport } from '../../../shared/contract';
import { client } from '../client';
import { PathPicker, useAppShell } from './PathPicker';

type Kind = 'coco' | 'panoptic' | DatasetImportFormat;

const KINDS: ReadonlyArray<{ id: Kind; title: string; note: string }> = [
  { id: 'coco', title: 'COCO instances', note: 'A COCO JSON file (polygons or RLE, CVAT-style attributes). Images are matched by file name.' },
  { id: 'panoptic', title: 'COCO panoptic', note: 'A panoptic JSON file with its folder of PNGs of the same name beside it (as the export writes them). Each segment becomes a mask; images are matched by file name.' },
  { id: 'yolo', title: 'YOLO', note: 'A folder with data.yaml (or one other .yaml) and labels/; segmentation and detection lines alike.' },
  { id: 'voc', title: 'Pascal VOC', note: 'A folder with SegmentationObject/ (and Annotations/ or SegmentationClass/ for the classes).' },
  { id: 'labelme', title: 'labelme', note: 'A folder of labelme JSON files (polygons and rectangles).' },
  { id: 'masks', title: 'Mask PNGs', note: 'A folder with masks/<image>/<n>_<category>.png, or instances/ with masks.json.' },
];

/** One list for both report kinds: what a skipped entry was and why. */
function skippedLines(r: CocoImportReport | DatasetImportReport): string[] {
  return 'labelFiles' in r
    ? r.skipped.map((s) => `${s.file}${s.line === null ? '' : `:${s.line}`}: ${s.reason}`)
    : r.skipped.map((s) => `${s.what} ${s.id}: ${s.reason}`);
}

export function ImportDialog({ onClose }: { onClose(): void }) {
  const shell = useAppShell();
  const [kind, setKind] = useState<Kind>('coco');
  const [path, setPath] = useState('');
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<{ report: CocoImportReport | DatasetImportReport; title: string } | null>(null);
  const [error, setError] = useState<string | null>(null);

  const run = async () => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const report =
        kind === 'coco' || kind === 'panoptic'
          ? await client.call('coco.import', { file: path.trim(), kind: kind === 'coco' ? 'instances' : 'panoptic' })
          : await client.call('formats.import', { folder: path.trim(), format: kind });
      setDone({ report, title: KINDS.find((k) => k.id === kind)!.title });
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const skipped = done ? skippedLines(done.report) : [];
  const file = kind === 'coco' || kind === 'panoptic';
  return (
    <div className="overlay" onClick={onClose}>
      <div className="dialog export-dialog" role="dialog" aria-label="Import" data-testid="import-dialog" onClick={(e) => e.stopPropagation()}>
        <h2>Import</h2>
        <fieldset className="formats">
          {KINDS.map((k) => (
            <label key={k.id}>
              <input type="radio" name="import-kind" checked={kind === k.id} onChange={() => setKind(k.id)} data-testid={`import-kind-${k.id}`} /> {k.title}
            </label>
          ))}
        </fieldset>
        <p className="muted small">{KINDS.find((k) => k.id === kind)!.note}</p>
        <PathPicker
          label={file ? 'JSON file' : 'Folder'}
          value={path}
          onChange={setPath}
          pick={file ? 'file' : 'folder'}
          extensions={['json']}
          web={shell?.web ?? true}
          testid="import-path"
        />
        {shell?.web && <p className="muted small">In the browser, give a path inside the project folder {shell.project?.folder}.</p>}
        {done && (
          <dl className="report" data-testid="import-report">
            <dt>Read</dt>
            <dd>{done.title}</dd>
            <dt>Masks imported</dt>
            <dd data-testid="import-annotations">{done.report.annotations}</dd>
            <dt>Images</dt>
            <dd data-testid="import-images">{done.report.images}</dd>
            <dt>Categories created</dt>
            <dd data-testid="import-categories-created">{done.report.categoriesCreated}</dd>
            {!('labelFiles' in done.report) && (
              <>
                <dt>Images not matched</dt>
                <dd data-testid="import-images-unmatched">{done.report.skipped.filter((s) => s.what === 'image').length}</dd>
              </>
            )}
            <dt>Skipped</dt>
            <dd data-testid="import-skipped">
              {skipped.length}
              {skipped.slice(0, 20).map((line, i) => (
                <div key={i} className="muted small">
                  {line}
                </div>
              ))}
              {skipped.length > 20 && <div className="muted small">… and {skipped.length - 20} more</div>}
            </dd>
          </dl>
        )}
        {error && (
          <p className="error" role="alert" data-testid="import-error">
            {error} Nothing was imported.
          </p>
        )}
        <div className="dialog-buttons">
          <button onClick={onClose}>Close</button>
          <button className="primary" onClick={run} disabled={busy || !path.trim()} data-testid="import-run">
            {busy ? 'Importing…' : 'Import'}
          </button>
        </div>
      </div>
    </div>
  );
}
