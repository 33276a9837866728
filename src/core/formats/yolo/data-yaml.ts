// The part of a YOLO `data.yaml` this project reads and writes: the class names. Ultralytics writes `names` as a
// list (block `- person` or flow `[person, car]`) or as a map from class index to name (`0: person`); both are
// read. Everything else in the file (path, train, val, nc, download scripts) is ignored on import.
import { DatasetFileError } from '../dataset/errors';

/** The class names by index; `name` (a path) starts every error message. */
export function readNames(text: string, name: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const at = lines.findIndex((l) => /^names\s*:/.test(l));
  if (at < 0) throw new DatasetFileError(`${name} has no "names" (the class names a YOLO dataset needs)`);
  const inline = stripComment(lines[at].slice(lines[at].indexOf(':') + 1)).trim();
  if (inline.startsWith('[')) {
    if (!inline.endsWith(']')) throw new DatasetFileError(`${name}: "names" is a list that does not close on its line`);
    const body = inline.slice(1, -1).trim();
    return body === '' ? [] : splitFlow(body).map((s) => scalar(s, name));
  }
  if (inline.startsWith('{')) {
    if (!inline.endsWith('}')) throw new DatasetFileError(`${name}: "names" is a map that does not close on its line`);
    const body = inline.slice(1, -1).trim();
    return fromMap(body === '' ? [] : splitFlow(body), name);
  }
  if (inline !== '') throw new DatasetFileError(`${name}: "names" must be a list or a map of class names`);
  // Block form: the indented lines that follow.
  const items: string[] = [];
  for (const raw of lines.slice(at + 1)) {
    const line = stripComment(raw);
    if (line.trim() === '') continue;
    if (!/^\s/.test(line) && !line.startsWith('-')) break;
    items.push(line.trim());
  }
  if (items.every((i) => i.startsWith('-'))) return items.map((i) => scalar(i.slice(1).trim(), name));
  return fromMap(items, name);
}

function fromMap(entries: string[], name: string): string[] {
  const names: string[] = [];
  for (const e of entries) {
    const m = /^(\d+)\s*:\s*(.*)$/.exec(e.trim());
    if (!m) throw new DatasetFileError(`${name}: "names" mixes list and map entries, or a key is not a class index`);
    const index = Number(m[1]);
    if (index > 100_000) throw new DatasetFileError(`${name}: class index ${index} is too large`);
    if (names[index] !== undefined) throw new DatasetFileError(`${name}: class ${index} is named twice`);
    names[index] = scalar(m[2], name);
  }
  for (let i = 0; i < names.length; i++) if (names[i] === undefined) throw new DatasetFileError(`${name}: class ${i} has no name (indices must run from 0 without gaps)`);
  return names;
}

/** A plain, single- or double-quoted scalar. */
function scalar(s: string, name: string): string {
  const t = s.trim();
  let v = t;
  if (t.startsWith('"')) {
    try {
      v = JSON.parse(t) as string;
    } catch {
      throw new DatasetFileError(`${name}: a class name in double quotes is not closed or has a bad escape`);
    }
  } else if (t.startsWith("'")) {
    if (t.length < 2 || !t.endsWith("'")) throw new DatasetFileError(`${name}: a class name in single quotes is not closed`);
    v = t.slice(1, -1).replace(/''/g, "'");
  }
  if (v.trim() === '') throw new DatasetFileError(`${name}: a class name is empty`);
  return v.trim();
}

function stripComment(line: string): string {
  // A # starts a comment at the line's start or after a space, outside quotes.
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return line.slice(0, i);
  }
  return line;
}

/** Splits a flow collection's body at the commas outside quotes. */
function splitFlow(body: string): string[] {
  const out: string[] = [];
  let quote = '';
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ',') {
      out.push(body.slice(start, i));
      start = i + 1;
    }
  }
  out.push(body.slice(start));
  return out;
}

/** data.yaml for Ultralytics: names as a list, in class-index order; strings JSON-quoted (valid YAML). */
export function writeDataYaml(root: string, train: string, names: readonly string[]): string {
  return [
    '# Written by DiffLabel',
    `path: ${JSON.stringify(root)}`,
    `train: ${JSON.stringify(train)}`,
    `val: ${JSON.stringify(train)}`,
    `nc: ${names.length}`,
    'names:',
    ...names.map((n) => `  - ${JSON.stringify(n)}`),
    '',
  ].join('\n');
}
