// The last step of a dataset import, alike for every format that names its categories: one transaction.
import type { DatasetImportReport } from '../../../shared/contract';
import type { AnnotationInput, ProjectStore } from '../../project';

/** What an import read: annotations by category name (`categoryId`: the project's id, or null when to be created). */
export interface ImportRows {
  categoryId: Map<string, number | null>;
  rows: Array<{ name: string; input: Omit<AnnotationInput, 'categoryId'> }>;
  touched: Set<number>;
  /** Entries the files held, stored or skipped. */
  entries: number;
}

/**
 * Creates the categories the rows name that the project lacks, then adds the rows, in one transaction, and completes
 * the report. Files whose every entry was skipped change nothing, not even the categories.
 */
export function commitImport(store: ProjectStore, report: DatasetImportReport, r: ImportRows): DatasetImportReport {
  if (r.rows.length > 0 || r.entries === 0)
    store.transaction(() => {
      for (const [name, id] of r.categoryId) {
        if (id !== null) continue;
        r.categoryId.set(name, store.addCategory({ name }).id);
        report.categoriesCreated++;
      }
      if (r.rows.length) store.addAnnotations(r.rows.map((x) => ({ ...x.input, categoryId: r.categoryId.get(x.name)! })));
    });
  report.annotations = r.rows.length;
  report.images = r.touched.size;
  return report;
}
