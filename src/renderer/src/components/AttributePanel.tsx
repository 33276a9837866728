import { useEffect, useState, type FormEvent } from 'react';
import type { Annotation, AttributeDef, AttributeValue, Category } from '../../../shared/contract';
import { client } from '../client';

/** Every category's attribute definitions, kept current (definitions change with the categories). */
export function useAttributeDefs(): AttributeDef[] {
  const [defs, setDefs] = useState<AttributeDef[]>([]);
  useEffect(() => {
    const load = () => void client.call('attributes.list', {}).then(setDefs, () => setDefs([]));
    load();
    return client.on('project.changed', (e) => {
      if (e.what === 'categories' || e.what === 'project') load();
    });
  }, []);
  return defs;
}

/**
 * The attributes a category defines: delete one, or add one (name, type, options of a select). Folded until opened:
 * definitions change rarely, and the mask list below needs the height.
 */
export function AttributeDefsEditor({ category, defs, onError }: { category: Category; defs: AttributeDef[]; onError(msg: string): void }) {
  const [name, setName] = useState('');
  const [type, setType] = useState<AttributeDef['type']>('boolean');
  const [options, setOptions] = useState('');
  const [deleting, setDeleting] = useState<AttributeDef | null>(null);
  const mine = defs.filter((d) => d.categoryId === category.id);
  const optionList = options.split(',').map((o) => o.trim()).filter(Boolean);
  const add = (e: FormEvent) => {
    e.preventDefault();
    const n = name.trim();
    if (!n) return;
    client
      .call('attributes.define', { categoryId: category.id, name: n, type, ...(type === 'select' ? { options: optionList } : {}) })
      .then(() => {
        setName('');
        setOptions('');
      }, (err: Error) => onError(err.message));
  };
  return (
    <details className="attr-defs" data-testid="attribute-defs">
      <summary className="muted small">
        Attributes of {category.name} ({mine.length})
      </summary>
      <ul>
        {mine.map((d) => (
          <li key={d.id} data-testid="attribute-def">
            <span>{d.name}</span>
            <span className="muted small">{d.type === 'select' ? d.options.join(' | ') : d.type === 'boolean' ? 'yes/no' : 'text'}</span>
            <button
              className="icon"
              title={`Delete attribute ${d.name} (its values on ${category.name} masks go too; cannot be undone)`}
              aria-label={`Delete attribute ${d.name}`}
              onClick={() => setDeleting(d)}
            >
              ×
            </button>
          </li>
        ))}
      </ul>
      {deleting && (
        <div className="cat-confirm" role="group" aria-label="Delete attribute" data-testid="attribute-delete">
          <p>Delete the attribute “{deleting.name}” of {category.name}? Its values on {category.name} masks go too. This cannot be undone.</p>
          <div className="dialog-buttons">
            <button onClick={() => setDeleting(null)}>Cancel</button>
            <button
              className="danger"
              onClick={() => {
                setDeleting(null);
                client.call('attributes.delete', { id: deleting.id }).catch((err: Error) => onError(err.message));
              }}
            >
              Delete
            </button>
          </div>
        </div>
      )}
      <form className="cat-add" onSubmit={add}>
        <input placeholder="New attribute" value={name} onChange={(e) => setName(e.target.value)} aria-label="Attribute name" />
        <select value={type} onChange={(e) => setType(e.target.value as AttributeDef['type'])} aria-label="Attribute type">
          <option value="boolean">yes/no</option>
          <option value="text">text</option>
          <option value="select">one of</option>
        </select>
        <button type="submit" disabled={!name.trim() || (type === 'select' && optionList.length === 0)}>
          Add
        </button>
      </form>
      {type === 'select' && (
        <input className="attr-options" placeholder="Options, comma separated" value={options} onChange={(e) => setOptions(e.target.value)} aria-label="Attribute options" />
      )}
    </details>
  );
}

/** The selected mask's attribute values: a checkbox, text box or select per attribute its category defines. */
export function AttributeEditor({
  annotation,
  defs,
  onSet,
  readOnly,
}: {
  annotation: Annotation;
  defs: AttributeDef[];
  onSet(id: number, values: Record<string, AttributeValue>): void;
  readOnly: boolean;
}) {
  const mine = defs.filter((d) => d.categoryId === annotation.categoryId);
  if (mine.length === 0) return null;
  const value = (d: AttributeDef) => annotation.attributes[d.name] ?? d.default;
  return (
    <section className="panel-section" data-testid="attributes">
      <h3>Attributes</h3>
      {mine.map((d) => (
        <label key={d.id} className="attr-row">
          <span>{d.name}</span>
          {d.type === 'boolean' ? (
            <input type="checkbox" checked={value(d) === true} disabled={readOnly} onChange={(e) => onSet(annotation.id, { [d.name]: e.target.checked })} />
          ) : d.type === 'select' ? (
            <select value={String(value(d))} disabled={readOnly} onChange={(e) => onSet(annotation.id, { [d.name]: e.target.value })}>
              {d.options.map((o) => (
                <option key={o}>{o}</option>
              ))}
            </select>
          ) : (
            // Stored when the labeler leaves the box (or presses Enter): one undo step per value, not per key.
            <input
              key={`${annotation.id} ${String(value(d))}`}
              type="text"
              defaultValue={String(value(d))}
              disabled={readOnly}
              onBlur={(e) => e.target.value !== value(d) && onSet(annotation.id, { [d.name]: e.target.value })}
              onKeyDown={(e) => e.key === 'Enter' && (e.target as HTMLInputElement).blur()}
            />
          )}
        </label>
      ))}
    </section>
  );
}
