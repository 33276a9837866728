// A pipeline's parameters as flat fields, read from the JSON Schema `pipelines.list` gives (zod's z.toJSONSchema of
// the pipeline's own schema): the CLI makes its options from them and the renderer its settings, so neither knows any
// pipeline.

export interface ParamField {
  /** The parameter's name in the params object. */
  name: string;
  /** 'json': a shape no simpler field fits, given as JSON text. */
  type: 'number' | 'integer' | 'boolean' | 'string' | 'enum' | 'json';
  /** A list of numbers is taken too (`1.1,0.9`): a number or an array of numbers. */
  list: boolean;
  /** What it is called (the schema's title, else its name) and what it does. */
  title: string;
  description: string;
  default?: unknown;
  min?: number;
  max?: number;
  /** The bound is exclusive (`> min`). */
  minExclusive?: boolean;
  choices?: string[];
}

type Schema = Record<string, unknown>;

const num = (v: unknown) => (typeof v === 'number' ? v : undefined);

/** The fields of an object schema's properties, in their order. */
export function paramFields(schema: Schema): ParamField[] {
  const props = (schema['properties'] ?? {}) as Record<string, Schema>;
  return Object.entries(props).map(([name, prop]) => {
    // A number or a list of numbers: the number branch describes the values.
    const branches = (prop['anyOf'] as Schema[] | undefined) ?? [prop];
    const scalar = branches.find((b) => b['type'] !== 'array') ?? branches[0]!;
    const list = branches.some((b) => b['type'] === 'array' && (b['items'] as Schema | undefined)?.['type'] === 'number');
    const t = scalar['type'];
    const type: ParamField['type'] = Array.isArray(scalar['enum'])
      ? 'enum'
      : t === 'number' || t === 'integer' || t === 'boolean' || t === 'string'
        ? t
        : 'json';
    const exclusive = num(scalar['exclusiveMinimum']);
    return {
      name,
      type: branches.length > 1 && !(list && branches.length === 2) ? 'json' : type,
      list,
      title: typeof prop['title'] === 'string' ? prop['title'] : name,
      description: typeof prop['description'] === 'string' ? prop['description'] : '',
      ...(prop['default'] !== undefined ? { default: prop['default'] } : {}),
      ...(exclusive !== undefined ? { min: exclusive, minExclusive: true } : num(scalar['minimum']) !== undefined ? { min: num(scalar['minimum']) } : {}),
      ...(num(scalar['maximum']) !== undefined ? { max: num(scalar['maximum']) } : {}),
      ...(type === 'enum' ? { choices: (scalar['enum'] as unknown[]).map(String) } : {}),
    };
  });
}

/**
 * A field's value from text (a command-line argument): numbers as numbers (a comma-separated list where a list is
 * taken), JSON for 'json' fields, text otherwise. Whatever it gives is checked by the pipeline's schema afterwards.
 */
export function parseFieldText(f: ParamField, text: string): unknown {
  if (f.type === 'json') {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  if (f.type !== 'number' && f.type !== 'integer') return text;
  const parts = text.split(',').map((x) => (x.trim() === '' ? Number.NaN : Number(x)));
  return f.list && parts.length > 1 ? parts : parts[0];
}
