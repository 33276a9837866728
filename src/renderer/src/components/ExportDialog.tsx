import { useEffect, useState } from 'react';
import type { CocoExportReport, DatasetExportFormat, DatasetExportReport, PanopticExportReport } from '../../../shared/contract';
import { client } from '../client';
import { PathPicker, useAppShell } from './PathPicker';

type Kind = 'instances' | 'panoptic' | DatasetExportFormat;

/** Every format the app writes, with what a user should know before choosing it (docs/formats.md has the rest). */
const KINDS: ReadonlyArray<{ id: Kind; title: string; note: string }> = [
  { id: 'instances', title: 'COCO instances', note: 'One JSON, downloaded. RLE keeps every mask exactly; polygons are what most tools read.' },
  { id: 'panoptic', title: 'COCO panoptic', note: 'A JSON and a folder of PNGs of the same name beside it. Where masks overlap, the one drawn on top wins; masks of one stuff category on an image become one segment.' },
  { id: 'yolo-seg', title: 'YOLO segmentation', note: 'data.yaml and labels/<image>.txt, one polygon line per piece of a mask. A YOLO polygon has one ring: holes are filled.' },
  { id: 'yolo-det', title: 'YOLO detection', note: 'data.yaml and labels/<image>.txt, one box line per mask.' },
  { id: 'voc', title: 'Pascal VOC', note: 'Annotations/*.xml and SegmentationClass/, SegmentationObject/ label PNGs. A label image holds one object per pixel: where masks overlap, the later one wins.' },
  { id: 'labelme', title: 'labelme', note: 'One JSON of polygons per image (holes filled). Exported into the project folder itself, each JSON lands beside its image, as labelme expects.' },
  { id: 'masks', title: 'Mask PNGs', note: 'masks/<image>/<n>_<category>.png, one black-and-white PNG per mask; instances/<image>.png with 16-bit object numbers; masks.json naming each category.' },
];

/** Where each format goes unless the user says otherwise: dot-named, so indexing the folder again takes no PNG for an image. */
const defaultOut = (folder: string, kind: Kind) => (kind === 'panoptic' ? `${folder}/.panoptic.json` : `${folder}/.${kind}`);

/**
 * Export in every format. COCO instances: polygons or RLE, force polygons, tolerance; downloads the file. The
 * others are written at a path (a download cannot hold a folder), chosen with the native picker in the desktop
 * app. Shows the report, with the masks left out and why.
 */
export function ExportDialog({ onClose }: { onClose(): void }) {
  const shell = useAppShell();
  const [kind, setKind] = useState<Kind>('instances');
  const [outs, setOuts] = useState<Partial<Record<Kind, string>>>({});
  const folder = shell?.project?.folder ?? null;
  const out = outs[kind] ?? (folder ? defaultOut(folder, kind) : '');
  const [panoptic, setPanoptic] = useState<{ report: PanopticExportReport; path: string } | null>(null);
  const [dataset, setDataset] = useState<{ report: DatasetExportReport; path: string; title: string } | null>(null);
  const [copyImages, setCopyImages] = useState(false);
  const [format, setFormat] = useState<'polygons' | 'rle'>('rle');
  const [forcePolygons, setForcePolygons] = useState(false);
  const [tolerance, setTolerance] = useState(0);
  const [busy, setBusy] = useState(false);
  const [report, setReport] = useState<CocoExportReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setError(null), [kind]);

  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      if (kind === 'panoptic') {
        const r = await client.call('coco.export', { kind, out });
        setReport(null);
        setDataset(null);
        setPanoptic({ report: r.report as PanopticExportReport, path: out });
        return;
      }
      if (kind !== 'instances') {
        const r = await client.call('formats.export', { format: kind, out, ...(copyImages && kind !== 'labelme' ? { copyImages } : {}) });
        setReport(null);
        setPanoptic(null);
        setDataset({ report: r.report, path: r.path, title: KINDS.find((k) => k.id === kind)!.title });
        return;
      }
      const r = await client.call('coco.export', { format, forcePolygons, tolerance });
      // A download works the same in the browser and in the desktop window.
      const url = URL.createObjectURL(new Blob([JSON.stringify(r.document)], { type: 'application/json' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `coco-${format}.json`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setPanoptic(null);
      setDataset(null);
      setReport(r.report as CocoExportReport);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const leftOut = report?.leftOut ?? panoptic?.report.leftOut ?? dataset?.report.leftOut ?? [];
  const leftOutMasks = leftOut.reduce((n, l) => n + l.masks, 0);

  return (
    <div className="overlay" onClick={onClose}>
      <div className="dialog export-dialog" role="dialog" aria-label="Export" data-testid="export-dialog" onClick={(e) => e.stopPropagation()}>
        <h2>Export</h2>
        <fieldset className="formats">
          {KINDS.map((k) => (
            <label key={k.id}>
              <input type="radio" name="kind" checked={kind === k.id} onChange={() => setKind(k.id)} data-testid={`kind-${k.id}`} /> {k.title}
            </label>
          ))}
        </fieldset>
        <p className="muted small" data-testid="export-note">
          {KINDS.find((k) => k.id === kind)!.note}
        </p>
        {kind === 'instances' ? (
          <>
            <fieldset>
              <label>
                <input type="radio" name="format" checked={format === 'rle'} onChange={() => setFormat('rle')} /> RLE (exact masks)
              </label>
              <label>
                <input type="radio" name="format" checked={format === 'polygons'} onChange={() => setFormat('polygons')} data-testid="format-polygons" /> Polygons
              </label>
            </fieldset>
            <label className={format !== 'polygons' ? 'muted' : ''}>
              <input type="checkbox" checked={forcePolygons} disabled={format !== 'polygons'} onChange={(e) => setForcePolygons(e.target.checked)} /> Force polygons (fills holes)
            </label>
            <label className={format !== 'polygons' ? 'muted' : ''}>
              Simplify tolerance (px){' '}
              <input type="number" min={0} max={10} step={0.5} value={tolerance} disabled={format !== 'polygons'} onChange={(e) => setTolerance(Math.min(10, Math.max(0, Number(e.target.value) || 0)))} />
            </label>
          </>
        ) : (
          <PathPicker
            label={kind === 'panoptic' ? 'JSON path' : 'Folder'}
            value={out}
            onChange={(v) => setOuts((o) => ({ ...o, [kind]: v }))}
            pick={kind === 'panoptic' ? undefined : 'folder'}
            web={shell?.web ?? true}
            testid={kind === 'panoptic' ? 'panoptic-out' : 'export-out'}
          />
        )}
        {kind !== 'instances' && kind !== 'panoptic' && (
          <>
            <label className={kind === 'labelme' ? 'muted' : ''} title={kind === 'labelme' ? 'labelme files name their images by a path relative to the JSON' : undefined}>
              <input type="checkbox" checked={copyImages && kind !== 'labelme'} disabled={kind === 'labelme'} onChange={(e) => setCopyImages(e.target.checked)} data-testid="export-copy-images" />{' '}
              Copy the images into the dataset ({kind === 'voc' ? 'JPEGImages/' : 'images/'})
            </label>
            <p className="muted small">
              The folder is created when its parent exists. Files of an earlier export there are replaced; any other file stops the export. Without a copy, the
              files name the images by their path in the project.
            </p>
          </>
        )}
        {panoptic && (
          <dl className="report" data-testid="export-report">
            <dt>Written</dt>
            <dd>{panoptic.path}</dd>
            <dt>Images</dt>
            <dd>{panoptic.report.images}</dd>
            <dt>Segments</dt>
            <dd data-testid="report-segments">
              {panoptic.report.segments} from {panoptic.report.annotations} masks
            </dd>
            <dt>Pixels that changed hands</dt>
            <dd data-testid="report-changed-hands">{panoptic.report.changedHands.pixels}</dd>
            <dt>Stuff masks merged</dt>
            <dd>{panoptic.report.stuffMerged.reduce((n, m) => n + m.masks, 0)}</dd>
            <dt>Skipped</dt>
            <dd>
              {panoptic.report.skipped.length}
              {panoptic.report.skipped.slice(0, 5).map((s) => (
                <div key={s.annotationId} className="muted small">
                  #{s.annotationId}: {s.reason}
                </div>
              ))}
            </dd>
          </dl>
        )}
        {dataset && (
          <dl className="report" data-testid="export-report">
            <dt>Written</dt>
            <dd data-testid="report-path">
              {dataset.title}: {dataset.path}
            </dd>
            <dt>Images</dt>
            <dd data-testid="report-images">{dataset.report.images}</dd>
            <dt>Masks</dt>
            <dd data-testid="report-annotations">{dataset.report.annotations}</dd>
            <dt>Categories</dt>
            <dd>{dataset.report.categories}</dd>
            {dataset.report.holesFilled > 0 && (
              <>
                <dt>Holes filled</dt>
                <dd data-testid="report-holes">{dataset.report.holesFilled}</dd>
              </>
            )}
            {dataset.report.overlapped > 0 && (
              <>
                <dt>Lost pixels to a later mask</dt>
                <dd data-testid="report-overlapped">{dataset.report.overlapped}</dd>
              </>
            )}
            <dt>Skipped</dt>
            <dd data-testid="report-skipped">
              {dataset.report.skipped.length}
              {dataset.report.skipped.slice(0, 5).map((s) => (
                <div key={s.annotationId} className="muted small">
                  #{s.annotationId}: {s.reason}
                </div>
              ))}
            </dd>
          </dl>
        )}
        {report && (
          <dl className="report" data-testid="export-report">
            <dt>Images</dt>
            <dd>{report.images}</dd>
            <dt>Annotations</dt>
            <dd data-testid="report-annotations">{report.annotations}</dd>
            <dt>Categories</dt>
            <dd>{report.categories}</dd>
            <dt>As polygons</dt>
            <dd>{report.polygons}</dd>
            <dt>As RLE</dt>
            <dd>{report.rle}</dd>
            <dt>RLE because of holes</dt>
            <dd data-testid="report-holes">{report.rleBecauseHoles}</dd>
            <dt>Holes filled</dt>
            <dd>{report.holesFilled}</dd>
            <dt>Skipped</dt>
            <dd>
              {report.skipped.length}
              {report.skipped.slice(0, 5).map((s) => (
                <div key={s.annotationId} className="muted small">
                  #{s.annotationId}: {s.reason}
                </div>
              ))}
            </dd>
          </dl>
        )}
        {leftOut.length > 0 && (
          <div className="error" role="alert" data-testid="export-left-out">
            <p>
              Left out: {leftOutMasks} {leftOutMasks === 1 ? 'mask' : 'masks'} on {leftOut.length} {leftOut.length === 1 ? 'image' : 'images'} whose file
              cannot be read now.
            </p>
            <ul className="small">
              {leftOut.map((l) => (
                <li key={l.path}>
                  <b>{l.path}</b> ({l.masks} {l.masks === 1 ? 'mask' : 'masks'}): {l.reason}
                </li>
              ))}
            </ul>
          </div>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-buttons">
          <button onClick={onClose}>Close</button>
          <button className="primary" onClick={run} disabled={busy || (kind !== 'instances' && !out.trim())} data-testid="export-run">
            {busy ? 'Exporting…' : 'Export'}
          </button>
        </div>
      </div>
    </div>
  );
}
