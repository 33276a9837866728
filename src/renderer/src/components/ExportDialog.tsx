import { useEffect, useState } from 'react';
import type { CocoExportReport, PanopticExportReport } from '../../../shared/contract';
import { client } from '../client';

/**
 * COCO export. Instances: polygons or RLE, force polygons, tolerance; downloads the file. Panoptic: a JSON and a
 * folder of PNGs, written at a path (a download cannot hold a folder). Shows the report, with the masks left out.
 */
export function ExportDialog({ onClose }: { onClose(): void }) {
  const [kind, setKind] = useState<'instances' | 'panoptic'>('instances');
  // Dot-named, so indexing the folder again does not take the PNGs for images.
  const [out, setOut] = useState('');
  useEffect(() => {
    void client.call('app.info', {}).then((i) => setOut((o) => o || (i.project ? `${i.project.folder}/.panoptic.json` : '')));
  }, []);
  const [panoptic, setPanoptic] = useState<{ report: PanopticExportReport; path: string } | null>(null);
  const [format, setFormat] = useState<'polygons' | 'rle'>('rle');
  const [forcePolygons, setForcePolygons] = useState(false);
  const [tolerance, setTolerance] = useState(0);
  const [busy, setBusy] = useState(false);
  const [report, setReport] = useState<CocoExportReport | null>(null);
  const [error, setError] = useState<string | null>(null);

  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      if (kind === 'panoptic') {
        const r = await client.call('coco.export', { kind, out });
        setReport(null);
        setPanoptic({ report: r.report as PanopticExportReport, path: out });
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
      setReport(r.report as CocoExportReport);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const leftOut = report?.leftOut ?? panoptic?.report.leftOut ?? [];
  const leftOutMasks = leftOut.reduce((n, l) => n + l.masks, 0);

  return (
    <div className="overlay" onClick={onClose}>
      <div className="dialog" role="dialog" aria-label="Export COCO" data-testid="export-dialog" onClick={(e) => e.stopPropagation()}>
        <h2>Export COCO</h2>
        <fieldset>
          <label>
            <input type="radio" name="kind" checked={kind === 'instances'} onChange={() => setKind('instances')} /> Instances (one JSON)
          </label>
          <label>
            <input type="radio" name="kind" checked={kind === 'panoptic'} onChange={() => setKind('panoptic')} data-testid="kind-panoptic" /> Panoptic (JSON + PNG folder)
          </label>
        </fieldset>
        {kind === 'panoptic' ? (
          <>
            <label>
              JSON path{' '}
              <input type="text" value={out} onChange={(e) => setOut(e.target.value)} size={40} data-testid="panoptic-out" />
            </label>
            <p className="muted small">
              The PNGs go to the folder of the same name beside it. Where masks overlap, the one drawn on top wins; masks of one stuff category on an image
              become one segment.
            </p>
          </>
        ) : (
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
          <button className="primary" onClick={run} disabled={busy || (kind === 'panoptic' && !out.trim())} data-testid="export-run">
            {busy ? 'Exporting…' : 'Export'}
          </button>
        </div>
      </div>
    </div>
  );
}
